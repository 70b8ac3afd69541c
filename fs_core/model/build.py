"""Building a model from its plugin: options validated, build context assembled, result checked.

The core knows no architecture; it asks the model's descriptor to build, then checks that what came
back honours the contract (two inputs, outputs split evenly between the sides, named parts that
the freeze/load lists refer to), so a broken pack fails with a message naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import keras

from fs_core import backend, plugin_manager
from fs_core.config import Config, config_from_mapping
from fs_core.descriptors import ModelDescriptor
from fs_core.errors import FsUserError
from fs_core.model.context import BuildContext
from fs_core.model.weights import find_part, parts_of

if TYPE_CHECKING:
    from fs_core.plugin_manager import Registry


@attrs.frozen
class BuiltModel:
    """A built model and what the trainer needs to know about it."""

    model: keras.Model
    name: str
    descriptor: ModelDescriptor
    options: Any
    input_size: int
    output_sizes: tuple[int, ...]
    learn_mask: bool

    @property
    def outputs_per_side(self) -> int:
        return len(self.output_sizes) + (1 if self.learn_mask else 0)


def get_descriptor(registry: Registry, name: str) -> ModelDescriptor:
    if name not in registry.models:
        available = ", ".join(sorted(registry.models)) or "none installed"
        raise FsUserError(f"unknown model '{name}' (available: {available})")
    return registry.models[name]


def build_from_config(registry: Registry, name: str, config: Config) -> BuiltModel:
    """Build model ``name`` with the options in ``config``."""
    descriptor = get_descriptor(registry, name)
    _check_backend(registry, name)
    options = config.model(name, descriptor.config_class)
    context = BuildContext(
        learn_mask=config.mask.learn_mask,
        icnr_init=config.global_.icnr_init,
        conv_aware_init=config.global_.conv_aware_init,
        reflect_padding=config.global_.reflect_padding,
        initializers=registry.initializers,
    )
    origin = model_origin(registry, name)
    try:
        model = descriptor.build(options, context)
    except FsUserError:
        raise
    except Exception as error:
        raise RuntimeError(
            f"model plugin '{name}'{origin} failed to build: {type(error).__name__}: {error}"
        ) from error
    return check_model(model, name, descriptor, options, config.mask.learn_mask, origin=origin)


def _check_backend(registry: Registry, name: str) -> None:
    """A model that declares other Keras backends than this process's is refused before it is
    built (``fs convert``, ``fs swap``, ``fs summary``; ``fs train`` refuses it earlier, naming
    ``--backend``), instead of failing inside a framework call."""
    supported = registry.backends_of("model", name)
    running = backend.active_name()
    if supported is not None and running not in supported:
        raise FsUserError(
            f"model '{name}'{model_origin(registry, name)} runs on {', '.join(supported)} only, "
            f"and this process runs Keras on {running}: start fs with KERAS_BACKEND={supported[0]}"
        )


def model_origin(registry: Registry, name: str) -> str:
    """`` (from <distribution> <version>)`` for messages about model ``name``, so an author or user
    knows which pack to fix or report; empty when the registry does not say."""
    provider = registry.provider("model", name)
    return f" (from {provider.distribution} {provider.version})" if provider is not None else ""


def check_model(
    model: Any, name: str, descriptor: Any, options: Any, learn_mask: bool, origin: str = ""
) -> BuiltModel:
    """The output contract a built model must honour (docs/plugins.md §3.3); ``origin`` (see
    :func:`model_origin`) is added after the model's name in every message."""
    who = f"model plugin '{name}'{origin}"
    if not isinstance(model, keras.Model):
        raise FsUserError(f"{who} returned {type(model).__name__}, not a keras.Model")
    if len(model.inputs) != 2:
        raise FsUserError(
            f"{who} must take two inputs (face_in_a, face_in_b), it takes {len(model.inputs)}"
        )
    outputs = list(model.outputs)
    if not outputs or len(outputs) % 2:
        raise FsUserError(
            f"{who} must give the same outputs for both sides, it gives {len(outputs)}"
        )
    side = outputs[: len(outputs) // 2]
    faces = side[:-1] if learn_mask else side
    if learn_mask and (side[-1].shape[-1] != 1):
        raise FsUserError(f"{who} has learn_mask on but its last output is not a mask")
    sizes = tuple(int(o.shape[1]) for o in faces)
    if list(sizes) != sorted(sizes) or any(o.shape[-1] != 3 for o in faces):
        raise FsUserError(f"{who} face outputs must be 3-channel, smallest first")
    parts = parts_of(model)
    if not parts:
        raise FsUserError(f"{who} has no named parts (nested Keras models)")
    for listed in set(descriptor.parts_to_freeze(options)) | set(descriptor.parts_to_load(options)):
        if find_part(model, listed) is None:
            raise FsUserError(
                f"{who} lists part '{listed}' to freeze/load but has "
                f"parts {', '.join(sorted(parts))}"
            )
    return BuiltModel(
        model=model,
        name=name,
        descriptor=descriptor,
        options=options,
        input_size=int(model.inputs[0].shape[1]),
        output_sizes=sizes,
        learn_mask=learn_mask,
    )


def build_model(
    name: str,
    options: Mapping[str, Any] | None = None,
    *,
    learn_mask: bool = False,
    registry: Registry | None = None,
) -> keras.Model:
    """The public API: build model ``name`` with ``options`` (its config keys)."""
    if registry is None:
        registry = plugin_manager.get_registry()
    descriptor = get_descriptor(registry, name)
    config = config_from_mapping(
        {
            "global": {"mask": {"learn_mask": learn_mask, "mask_type": "extended"}},
            "model": {name: dict(options or {})},
        },
        {name: descriptor.config_class},
    )
    return build_from_config(registry, name, config).model


def summary_text(built: BuiltModel) -> str:
    """Each part's layers and the total and trainable parameter counts."""
    lines: list[str] = []
    for part_name, part in parts_of(built.model).items():
        lines.append(f"== {part_name} ==")
        part.summary(print_fn=lambda text, **_: lines.append(text), line_length=100)
    total = built.model.count_params()
    trainable = sum(int(keras.ops.size(v)) for v in built.model.trainable_weights)
    lines.append(
        f"Model '{built.name}': input {built.input_size} px, outputs "
        f"{', '.join(str(s) for s in built.output_sizes)} px per side"
        f"{' + mask' if built.learn_mask else ''}"
    )
    lines.append(f"Total parameters: {total:,}   Trainable: {trainable:,}")
    return "\n".join(lines)
