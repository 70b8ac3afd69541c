"""Typed descriptors that plugins return from the registration hooks.

A descriptor says what a plugin provides and how to make it; the core never imports a pack, it only
sees these objects. They are frozen attrs classes so a registry entry cannot be changed after load.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs


def _name(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if not value or not isinstance(value, str) or value.strip() != value:
        raise ValueError(f"{attribute.name} must be a non-empty name, got {value!r}")


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


#: the Keras backends a plugin may declare it works on (``fs_core.backend.SUPPORTED``, which a
#: test keeps equal; this layer sits below the backend package and cannot import it)
KERAS_BACKENDS: tuple[str, ...] = ("tensorflow", "torch", "jax")


def backend_names(value: Iterable[str] | None) -> tuple[str, ...] | None:
    """Converts a ``backends`` declaration to a tuple (None: not declared, every backend)."""
    if value is None:
        return None
    if isinstance(value, str):  # ("tensorflow") without its comma is a string, not a tuple
        return (value,)
    return tuple(value)


def check_backend_names(value: tuple[str, ...] | None, who: str) -> None:
    """A ``backends`` declaration names at least one Keras backend fs trains on, each once."""
    if value is None:
        return
    unknown = [name for name in value if name not in KERAS_BACKENDS]
    if not value or unknown or len(set(value)) != len(value):
        raise ValueError(
            f"{who} must name one or more of {', '.join(KERAS_BACKENDS)}, each once; got {value!r}"
        )


@attrs.frozen
class PluginItem:
    """What every descriptor has: ``backends``, the Keras backends the item works on.

    None (the default) means all of :data:`KERAS_BACKENDS`: a plugin written with Keras layers
    and ``keras.ops`` only runs on each. A plugin that calls a framework itself (``tf.image``,
    ``torch.nn.functional``) declares the ones it supports, ``backends=("tensorflow",)``, and
    ``fs train`` on another backend stops before building anything, naming it (docs/plugins.md).
    A pack can declare the same for all its items with the ``fs_backends`` hook; an item's own
    declaration narrows the pack's.
    """

    backends: tuple[str, ...] | None = attrs.field(
        default=None, kw_only=True, converter=backend_names
    )

    @backends.validator
    def _check_backends(self, attribute: attrs.Attribute, value: tuple[str, ...] | None) -> None:
        check_backend_names(value, "backends")


@attrs.frozen
class ModelDescriptor(PluginItem):
    """A model architecture.

    ``build(config, context)`` returns a ``keras.Model`` with inputs ``[face_in_a, face_in_b]`` and
    a flat list of outputs: side A's faces at each output size (smallest first), then A's mask when
    ``context.learn_mask``; then the same for side B. Its parts are named Keras sub-models
    (``encoder``, ``decoder_a``, ``decoder_b`` or a shared ``decoder``, ``inter_*``, ``fc_*``).
    ``config_class`` is an attrs class built with :func:`fs_core.config.option` fields; it is the
    ``[model.<name>]`` section of the config file.
    ``freeze_parts``/``load_parts`` name the parts ``-f`` freezes and ``-l`` copies; either may be a
    callable taking the config instance, for models whose lists depend on options.
    ``presets`` maps preset names to TOML files that ``fs config --preset`` loads.
    ``legacy_part_names`` maps part names an earlier version of the model saved under to today's
    names (``{"decoder": "decoder_both"}``), so a model saved before a part was renamed still
    resumes: loading ``weights.h5`` reads an old group as the renamed part when the file has no
    group of the new name (see :func:`fs_core.model.weights.load_weights`).
    """

    name: str = attrs.field(validator=_name)
    help: str
    config_class: type
    build: Callable[..., Any]
    freeze_parts: tuple[str, ...] | Callable[[Any], tuple[str, ...]] = ("encoder",)
    load_parts: tuple[str, ...] | Callable[[Any], tuple[str, ...]] = ("encoder",)
    color_order: str = "bgr"
    presets: dict[str, str] = attrs.field(factory=dict)  # preset name -> TOML file path
    legacy_part_names: Mapping[str, str] = attrs.field(factory=dict)  # old part name -> current

    @legacy_part_names.validator
    def _check_legacy(self, attribute: attrs.Attribute, value: Mapping[str, str]) -> None:
        for old, new in value.items():
            names_ok = all(isinstance(n, str) and n and n.strip() == n for n in (old, new))
            if not names_ok or old == new:
                raise ValueError(
                    f"legacy_part_names must map an old part name to a different "
                    f"current one, got {old!r}: {new!r}"
                )

    def parts_to_freeze(self, config: Any) -> tuple[str, ...]:
        return tuple(
            self.freeze_parts(config) if callable(self.freeze_parts) else self.freeze_parts
        )

    def parts_to_load(self, config: Any) -> tuple[str, ...]:
        return tuple(self.load_parts(config) if callable(self.load_parts) else self.load_parts)


@attrs.frozen
class LossDescriptor(PluginItem):
    """A loss function on NHWC float32 images in [0, 1].

    ``function(y_true, y_pred)`` returns a per-pixel map ``(N, H, W, C or 1)`` when ``per_pixel`` is
    true, else a per-item value ``(N,)``. It is written with ``keras.ops`` (it runs in the compiled
    step of whichever backend trains; declare ``backends`` if it calls a framework itself).
    ``primary_allowed`` is false for losses faceswap refuses as the primary loss (flip; its
    ``plugins/train/train_config.py``).
    """

    name: str = attrs.field(validator=_name)
    function: Callable[[Any, Any], Any]
    per_pixel: bool
    help: str = ""
    primary_allowed: bool = True

    def __call__(self, y_true: Any, y_pred: Any) -> Any:
        return self.function(y_true, y_pred)


@attrs.frozen
class InitializerDescriptor(PluginItem):
    """A Keras initializer. ``make(**kwargs)`` returns a ``keras.initializers.Initializer``.

    ``wraps`` is true for initializers that wrap another one (ICNR wraps the base initializer and
    is applied to upscale convolutions only).
    """

    name: str = attrs.field(validator=_name)
    make: Callable[..., Any]
    help: str = ""
    wraps: bool = False


@attrs.frozen
class AugmenterDescriptor(PluginItem):
    """A batch augmentation.

    ``apply(batch, rng, options)`` changes an :class:`fs_core.data.batch.AugmentBatch` in place
    (uint8 images, their masks and landmarks at process size). ``stage`` orders augmenters
    (colour 10, affine 20, flip 30, warp 50); ``input_only`` augmenters run on the model's input
    copy after the targets are taken (warps). ``enabled(options)`` says whether it runs under the
    current ``[augmentation]`` options and CLI switches.

    ``sides``: the sides whose batches it runs on (DeepFaceLab's colour transfer and HSV jitter
    touch only the face put in, side B). ``needs_other_side``: the loader hands each batch of those
    sides as many faces of the *other* side, drawn in shuffled passes, in
    :attr:`AugmentBatch.others <fs_core.data.batch.AugmentBatch.others>` (colour transfer moves
    each face's colours toward one of them); off, nothing extra is drawn or read.
    ``needs_masks``: it needs the face mask (the "face" channel); faces trained without a mask are
    refused before the first batch.
    """

    name: str = attrs.field(validator=_name)
    apply: Callable[..., None]
    stage: int
    help: str = ""
    input_only: bool = False
    needs_landmarks: bool = False
    needs_masks: bool = False
    enabled: Callable[[Any], bool] = lambda options: True
    sides: tuple[str, ...] = attrs.field(default=("a", "b"), converter=_str_tuple)
    needs_other_side: bool = False

    @sides.validator
    def _check_sides(self, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
        if not value or any(side not in ("a", "b") for side in value):
            raise ValueError(f"sides must name 'a' and/or 'b', got {value!r}")


@attrs.frozen
class SamplerDescriptor(PluginItem):
    """Which faces each batch takes, as a stream of face indices per side.

    ``make(inputs)`` takes a :class:`fs_core.data.sampler.SamplerInputs` (the side's face count,
    its seeded generator, the ``[augmentation]`` options, and the faces' landmarks when
    ``needs_landmarks``) and returns a :class:`fs_core.data.sampler.Sampler`: ``take(n)`` gives the
    next ``n`` indices, ``upcoming()`` every index once in the order draws will first ask for them
    (faces are made ready in that order), ``epoch`` counts completed passes. Draws must depend on
    the generator alone, so a seeded run resumes exactly (the loader replays the draws).
    ``enabled(options)`` says whether the options ask for it; the loader uses the one sampler
    enabled (two is an error), else the built-in ``epoch``. ``[augmentation] sampler = "<name>"``
    selects any installed sampler by name.
    """

    name: str = attrs.field(validator=_name)
    make: Callable[..., Any]
    help: str = ""
    needs_landmarks: bool = False
    enabled: Callable[[Any], bool] = lambda options: False


@attrs.frozen
class OptimizerDescriptor(PluginItem):
    """An optimizer. ``make(options)`` returns a Keras optimizer from the ``[global]`` options."""

    name: str = attrs.field(validator=_name)
    make: Callable[..., Any]
    help: str = ""


def _nothing_done(*args: Any) -> set[str]:
    return set()


@attrs.frozen
class ColorAdjustmentDescriptor(PluginItem):
    """A colour adjustment of ``fs convert`` (``-c``): makes the swapped face match the frame.

    ``apply(new_face, old_face, mask, options)`` takes the model's face ``new_face`` and the face
    cut from the frame ``old_face`` (float32 (S, S, 3) BGR in 0-1), the raw mask (float32
    (S, S, 1) in 0-1) and the :class:`fs_core.convert.options.ConvertOptions` in force, and returns
    the adjusted face, float32 (S, S, 3); the caller clips it to 0-1.
    """

    name: str = attrs.field(validator=_name)
    help: str
    apply: Callable[..., Any]


@attrs.frozen
class MaskBlendDescriptor(PluginItem):
    """A mask blend of ``fs convert`` (``mask_blend_type``): softens the mask's edge.

    ``apply(mask, options)`` takes a float32 (S, S, 1) mask in 0-1 and the ConvertOptions, and
    returns the blended mask, float32 (S, S, 1).
    """

    name: str = attrs.field(validator=_name)
    help: str
    apply: Callable[..., Any]


@attrs.frozen
class ScalerDescriptor(PluginItem):
    """A scaler of ``fs convert`` (``sharpen``): applied to the frame after the faces are in.

    ``apply(image, options)`` takes a float32 (H, W, 3) image in 0-1 and the ConvertOptions, and
    returns a float32 image of the same shape; the caller clips it to 0-1.
    """

    name: str = attrs.field(validator=_name)
    help: str
    apply: Callable[..., Any]


@attrs.frozen
class WriterDescriptor(PluginItem):
    """An output of ``fs convert`` (``-w``): image frames, a video, a GIF, patches.

    ``open(output, source, options)`` takes the output folder (a ``Path``), the
    :class:`fs_core.convert.types.SourceInfo` of the input and the ConvertOptions, and returns a
    :class:`fs_core.convert.types.FrameWriter`. ``extensions`` are the file extensions it writes
    (with the dot). ``done_keys(output, source, options)`` returns the frame keys whose output is
    already complete, so a stopped run resumes without redoing them; a stream writer (one file for
    the whole run) returns an empty set, so a stopped video is redone, never half kept.
    """

    name: str = attrs.field(validator=_name)
    help: str
    extensions: tuple[str, ...]
    open: Callable[..., Any]
    done_keys: Callable[..., set[str]] = _nothing_done


def _string_set(values: Iterable[str]) -> frozenset[str]:
    return frozenset(values)


def _listed_in_config(name: str) -> Callable[[Any], bool]:
    """The default of :attr:`TrainingExtensionDescriptor.enabled`: on when ``[training_step]
    extensions`` names it (how a pack's extension is turned on)."""

    def enabled(config: Any) -> bool:
        return name in tuple(getattr(config.training_step, "extensions", ()))

    return enabled


@attrs.frozen
class TrainingExtensionDescriptor(PluginItem):
    """Something that adds to the compiled training step: its own models (discriminators), loss
    terms for the generator, its own optimizer update, or a change to the applied update.

    ``enabled(config)`` says whether it takes part under the options in force (the whole
    :class:`fs_core.config.Config`); by default it is on when ``[training_step] extensions`` lists
    its name, which is how a pack's extension is turned on. ``make(context)`` takes an
    :class:`fs_core.extensions.api.ExtensionContext` and returns an
    :class:`fs_core.extensions.api.TrainingExtension`. ``needs`` names what the step must compute
    for it beyond the model's outputs: ``"code"`` (the shared encoder's output of each side, only
    for models with one) and ``"swap"`` (side A's faces through side B's decoder). ``order``
    sorts extensions (loss terms first, update filters such as LR dropout last).
    """

    name: str = attrs.field(validator=_name)
    help: str
    make: Callable[..., Any]
    enabled: Callable[[Any], bool] | None = None
    needs: frozenset[str] = attrs.field(default=frozenset(), converter=_string_set)
    order: int = 50

    @needs.validator
    def _check_needs(self, attribute: attrs.Attribute, value: frozenset[str]) -> None:
        unknown = set(value) - {"code", "swap"}
        if unknown:
            raise ValueError(f"needs may hold 'code' and 'swap', got {sorted(unknown)}")

    def is_enabled(self, config: Any) -> bool:
        check = self.enabled if self.enabled is not None else _listed_in_config(self.name)
        return bool(check(config))
