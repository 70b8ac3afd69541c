"""Checks a pack's own tests call: does a registered model, loss or sampler honour fs's contract?

Plugin authors write (docs/plugins.md, "Testing a pack")::

    from fs_core.testing import check_loss_plugin, check_model_plugin

    def test_my_model():
        check_model_plugin("my_model", {"some_option": 64})

    def test_my_loss():
        check_loss_plugin("my_loss")

and, to learn which Keras backends a plugin breaks on (each in its own process)::

    from fs_core.testing import check_on_backends

    def test_my_loss_on_every_backend():
        check_on_backends("loss", "my_loss")

or use the fixtures (``fs_registry``, ``fs_check_model``, ``fs_check_loss``) by adding
``pytest_plugins = ["fs_core.testing"]`` to the top-level ``conftest.py`` (or
``from fs_core.testing import fs_registry, fs_check_model, fs_check_loss`` in any ``conftest.py``).

The checks go through the same registry as ``fs train`` (the pack must be installed, e.g.
``pip install -e .``, so its entry point is visible), build with the same code and run one real
optimizer step, so a pack that passes them trains. A failed check raises :class:`PluginCheckError`
(an ``AssertionError``, so pytest shows it as a test failure) whose message names the plugin, the
pack it came from and what is wrong.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from fs_core import plugin_manager
from fs_core.config import config_from_mapping
from fs_core.config.options import LOCKED
from fs_core.config.sections import AugmentationOptions
from fs_core.data.sampler import SamplerInputs
from fs_core.descriptors import LossDescriptor, ModelDescriptor, SamplerDescriptor
from fs_core.errors import FsUserError
from fs_core.plugin_manager import load_registry
from fs_core.testing_backends import BackendCheckError, BackendReport, check_on_backends

__all__ = [
    "BackendCheckError",
    "BackendReport",
    "ModelCheck",
    "PluginCheckError",
    "check_loss_plugin",
    "check_model_plugin",
    "check_on_backends",
    "check_sampler_plugin",
]

if TYPE_CHECKING:
    from fs_core.plugin_manager import Registry


class PluginCheckError(AssertionError):
    """A plugin breaks the contract of docs/plugins.md; the message says which plugin and how."""


@attrs.frozen
class ModelCheck:
    """What :func:`check_model_plugin` found, for tests that want to assert more."""

    name: str
    origin: str
    input_size: int
    output_sizes: tuple[int, ...]
    parts: tuple[str, ...]
    parameters: int


def _registry(registry: Registry | None) -> Registry:
    if registry is not None:
        return registry

    return plugin_manager.get_registry()


def _origin(registry: Registry, kind: str, name: str) -> str:
    provider = registry.provider(kind, name)
    return f"{provider.distribution} {provider.version}" if provider is not None else "unknown pack"


def _descriptor(registry: Registry, kind: str, name: str, expected: type) -> Any:
    items = registry.of_kind(kind)
    if name not in items:
        failed = "; ".join(f"{f.name} ({f.distribution}): {f.reason}" for f in registry.failures)
        raise PluginCheckError(
            f"no {kind} named '{name}' is registered "
            f"(installed: {', '.join(sorted(items)) or 'none'})"
            + (
                f"; plugins that failed to load: {failed}"
                if failed
                else "; is the pack installed (pip install -e .) "
                "and its entry point in group 'fs_core'?"
            )
        )
    item = items[name]
    if not isinstance(item, expected):
        raise PluginCheckError(
            f"{kind} '{name}' is a {type(item).__name__}, not a {expected.__name__}"
        )
    return item


# ------------------------------------------------------------------------------------------ models


def check_model_plugin(
    name: str,
    options: Mapping[str, Any] | None = None,
    *,
    registry: Registry | None = None,
    learn_mask: Iterable[bool] = (False, True),
    batch_size: int = 2,
    seed: int = 0,
) -> ModelCheck:
    """Build model ``name`` with ``options`` (its config keys; defaults for the rest) and check it.

    For each ``learn_mask`` setting: the build passes :func:`fs_core.model.build.check_model`
    (two inputs, outputs per side, named parts covering the freeze/load lists); outputs are float32;
    on random faces every output is finite and in [0, 1]. Then: a second build has the same weight
    keys and shapes (what weights.h5 and ``-l`` rely on), and one optimizer step on random data,
    with the first freeze part frozen, moves every trainable weight and leaves the frozen part
    alone. Returns a :class:`ModelCheck`; raises :class:`PluginCheckError` (or the ``FsUserError`` a
    user would see, e.g. for an option out of range).

    :param name: the model's registered name.
    :param options: ``[model.<name>]`` keys to set; the rest keep their defaults.
    :param registry: the plugins to look in; None loads the installed ones.
    :param learn_mask: the ``learn_mask`` settings to build and check.
    :param batch_size: faces per side in the output and training checks.
    :param seed: seed of the random faces and weights.
    """
    from fs_core.model.build import build_from_config  # noqa: PLC0415 (TensorFlow: testing loads without it)
    from fs_core.model.weights import parts_of  # noqa: PLC0415 (TensorFlow: testing loads without it)

    registry = _registry(registry)
    descriptor = _descriptor(registry, "model", name, ModelDescriptor)
    origin = _origin(registry, "model", name)
    who = f"model '{name}' ({origin})"
    _check_config_class(descriptor, who)
    if not descriptor.help:
        raise PluginCheckError(f"{who}: the descriptor has no help line ('fs plugins' shows it)")

    def build(mask: bool) -> Any:
        config = config_from_mapping(
            {
                "global": {"mask": {"learn_mask": mask, "mask_type": "extended"}},
                "model": {name: dict(options or {})},
            },
            {name: descriptor.config_class},
        )
        try:
            return build_from_config(registry, name, config)
        except FsUserError as error:
            raise PluginCheckError(f"{who}: {error.one_line()}") from None

    rng = np.random.default_rng(seed)
    built = None
    for mask in learn_mask:
        built = build(mask)
        _check_outputs(built, who, rng, batch_size)
    if built is None:
        raise PluginCheckError("learn_mask must name at least one setting to check")
    _check_same_weights(built.model, build(built.learn_mask).model, who)
    _check_training_step(built, who, rng, batch_size)
    return ModelCheck(
        name=name,
        origin=origin,
        input_size=built.input_size,
        output_sizes=built.output_sizes,
        parts=tuple(sorted(parts_of(built.model))),
        parameters=int(built.model.count_params()),
    )


def _check_config_class(descriptor: ModelDescriptor, who: str) -> None:
    if not attrs.has(descriptor.config_class):
        raise PluginCheckError(f"{who}: config_class must be an attrs class")
    for field in attrs.fields(descriptor.config_class):
        if not field.metadata.get("help") or LOCKED not in field.metadata:
            raise PluginCheckError(
                f"{who}: option '{field.name}' is not declared with "
                f"fs_core.config.option(default, help, ...)"
            )


def _random_faces(rng: np.random.Generator, batch_size: int, size: int) -> np.ndarray:
    return rng.random((batch_size, size, size, 3), dtype=np.float32)


def _check_outputs(built: Any, who: str, rng: np.random.Generator, batch_size: int) -> None:
    from keras import ops  # noqa: PLC0415 (TensorFlow: testing loads without it)

    model, mask = built.model, " (learn_mask on)" if built.learn_mask else ""
    expected = 2 * built.outputs_per_side
    if len(model.outputs) != expected:
        raise PluginCheckError(
            f"{who}{mask}: {len(model.outputs)} outputs, expected {expected} "
            f"({len(built.output_sizes)} faces{' + mask' if built.learn_mask else ''}"
            " per side)"
        )
    for index, output in enumerate(model.outputs):
        if output.dtype != "float32":
            raise PluginCheckError(
                f"{who}{mask}: output {index} is {output.dtype}; end each output "
                "in a float32 layer (Activation('sigmoid', dtype='float32'))"
            )
    sizes = [int(t.shape[1]) for t in model.inputs]
    if sizes[0] != sizes[1] or any(
        tuple(t.shape[1:]) != (sizes[0], sizes[0], 3) for t in model.inputs
    ):
        raise PluginCheckError(
            f"{who}: inputs must both be (size, size, 3), got "
            f"{[tuple(t.shape[1:]) for t in model.inputs]}"
        )
    faces = [_random_faces(rng, batch_size, sizes[0]) for _ in range(2)]
    for index, output_value in enumerate(model(faces, training=False)):
        value = ops.convert_to_numpy(output_value)  # a torch output records autograd
        if not np.all(np.isfinite(value)) or value.min() < 0.0 or value.max() > 1.0:
            raise PluginCheckError(
                f"{who}{mask}: output {index} is not finite and in [0, 1] "
                f"(range {value.min():.3g} to {value.max():.3g}); "
                "end it in a sigmoid"
            )


def _check_same_weights(first: Any, second: Any, who: str) -> None:
    from fs_core.model.weights import model_groups  # noqa: PLC0415 (TensorFlow: testing loads without it)

    def keys(model: Any) -> dict[str, list[tuple[str, tuple]]]:
        return {
            part: [(key, tuple(v.shape)) for key, v in items]
            for part, items in model_groups(model).items()
        }

    a, b = keys(first), keys(second)
    if a != b:
        differing = sorted(p for p in set(a) | set(b) if a.get(p) != b.get(p))
        raise PluginCheckError(
            f"{who}: two builds with the same options give different weights in "
            f"part(s) {', '.join(differing)}; weights.h5 could not be reloaded"
        )
    for part, items in a.items():
        names = [key for key, _ in items]
        if len(names) != len(set(names)):
            raise PluginCheckError(f"{who}: part '{part}' has two weights with the same key")


def _check_training_step(built: Any, who: str, rng: np.random.Generator, batch_size: int) -> None:
    """One Adam step on an MSE to random targets, with the first freeze part (if any) frozen."""
    import keras  # noqa: PLC0415 (TensorFlow: testing loads without it)
    from keras import ops  # noqa: PLC0415 (TensorFlow: testing loads without it)

    from fs_core import backend  # noqa: PLC0415 (TensorFlow: testing loads without it)
    from fs_core.model.weights import find_part_model, parts_of  # noqa: PLC0415 (TensorFlow: testing loads without it)

    model = built.model
    freeze = built.descriptor.parts_to_freeze(built.options)
    frozen_name = freeze[0] if freeze else None  # a model may offer nothing to freeze
    frozen = find_part_model(model, frozen_name) if frozen_name else keras.Model()
    if frozen is None:
        raise PluginCheckError(f"{who}: freeze part '{frozen_name}' is not a part of the model")
    frozen.trainable = False
    try:
        variables = list(model.trainable_variables)
        if not variables:
            raise PluginCheckError(f"{who}: nothing is trainable with '{frozen_name}' frozen")
        frozen_before = [v.numpy().copy() for v in frozen.weights]
        before = [v.numpy().copy() for v in variables]
        size = built.input_size
        inputs = [_random_faces(rng, batch_size, size) for _ in range(2)]
        targets = [
            ops.convert_to_tensor(rng.random((batch_size, *t.shape[1:]), dtype=np.float32))
            for t in model.outputs
        ]
        optimizer = keras.optimizers.Adam(1e-3)

        def loss() -> Any:
            outputs = model(inputs, training=True)
            errors = [
                ops.mean(ops.square(t - ops.cast(o, "float32"))) for t, o in zip(targets, outputs)
            ]
            return functools.reduce(operator.add, errors)

        _, gradients = backend.get().gradients(loss, variables)
        missing = [v.path for v, g in zip(variables, gradients) if g is None]
        if missing:
            raise PluginCheckError(
                f"{who}: no gradient reaches {len(missing)} weight(s), e.g. "
                f"{', '.join(missing[:3])}; are they connected to an output?"
            )
        optimizer.apply_gradients(zip(gradients, variables))
        still = [v.path for v, old in zip(variables, before) if np.array_equal(old, v.numpy())]
        if still:
            raise PluginCheckError(
                f"{who}: one training step left {len(still)} trainable weight(s) "
                f"unchanged, e.g. {', '.join(still[:3])}"
            )
        moved = [
            v.path
            for v, old in zip(frozen.weights, frozen_before)
            if not np.array_equal(old, v.numpy())
        ]
        if moved:
            raise PluginCheckError(
                f"{who}: freezing part '{frozen_name}' did not stop "
                f"{', '.join(moved[:3])} from changing"
            )
        trained_parts = {p for p, part in parts_of(model).items() if part.trainable_weights}
        if not trained_parts:
            raise PluginCheckError(f"{who}: no named part has trainable weights")
    finally:
        frozen.trainable = True


# ------------------------------------------------------------------------------------------ losses


def check_loss_plugin(
    name: str,
    *,
    registry: Registry | None = None,
    size: int = 64,
    batch_size: int = 2,
    seed: int = 0,
    zero_tolerance: float = 1e-3,
) -> LossDescriptor:
    """Check loss ``name`` on random NHWC float32 faces in [0, 1] (``size`` px, 3 channels).

    The result has the declared shape (``(N, H, W, C or 1)`` when ``per_pixel``, else ``(N,)``),
    is finite and not negative, is zero (within ``zero_tolerance``, for float round-off in colour
    conversions and filters) on identical images and positive on different ones, gives the same
    values traced as the backend's training step traces it as eagerly, and has finite gradients with
    respect to the prediction, also where prediction and target are equal. Returns the descriptor.

    :param name: the loss's registered name.
    :param registry: the plugins to look in; None loads the installed ones.
    :param size: height and width of the random faces.
    :param batch_size: faces per batch.
    :param seed: seed of the random faces.
    :param zero_tolerance: the largest value accepted as zero on identical images.
    """
    from keras import ops  # noqa: PLC0415 (TensorFlow: testing loads without it)

    from fs_core import backend  # noqa: PLC0415 (TensorFlow: testing loads without it)

    implementation = backend.get()
    registry = _registry(registry)
    loss = _descriptor(registry, "loss", name, LossDescriptor)
    who = f"loss '{name}' ({_origin(registry, 'loss', name)})"
    rng = np.random.default_rng(seed)
    true = ops.convert_to_tensor(_random_faces(rng, batch_size, size))
    pred = ops.convert_to_tensor(_random_faces(rng, batch_size, size))

    value = ops.convert_to_numpy(loss(true, pred))
    if loss.per_pixel:
        if (
            value.ndim != 4
            or value.shape[:3] != (batch_size, size, size)
            or value.shape[3] not in (1, 3)
        ):
            raise PluginCheckError(
                f"{who}: per_pixel is true, so it must return (N, H, W, C or 1) = "
                f"({batch_size}, {size}, {size}, 3 or 1); got {value.shape}"
            )
    elif value.shape != (batch_size,):
        raise PluginCheckError(
            f"{who}: per_pixel is false, so it must return one value per item, "
            f"shape ({batch_size},); got {value.shape}"
        )
    if not np.all(np.isfinite(value)) or value.min() < -1e-6:
        raise PluginCheckError(
            f"{who}: values must be finite and not negative "
            f"(got {value.min():.3g} to {value.max():.3g})"
        )
    if not value.mean() > 0:
        raise PluginCheckError(f"{who}: is zero on two different images")
    same = ops.convert_to_numpy(loss(true, true))
    if np.abs(same).max() > zero_tolerance:
        raise PluginCheckError(
            f"{who}: must be 0 on identical images, got up to {np.abs(same).max():.3g}"
        )
    try:  # traced as training traces it: without AutoGraph (fs_core.training.step)
        traced = ops.convert_to_numpy(implementation.compile_function(loss.function)(true, pred))
    except TypeError as error:  # OperatorNotAllowedInGraphError: a Python branch on a tensor
        raise PluginCheckError(
            f"{who}: cannot be traced as the training step traces it ({error}); use "
            "keras.ops only, no NumPy or Python branching on tensor values"
        ) from error
    if traced.shape != value.shape or not _same_when_traced(traced, value):
        raise PluginCheckError(
            f"{who}: gives other values when traced as the training step traces it; use "
            "keras.ops only, no NumPy or Python branching on tensor values"
        )
    for label, target in (("different", true), ("identical", pred)):

        def mean_loss(variable: Any, target: Any = target) -> Any:
            return ops.mean(loss(target, variable))

        gradient = implementation.input_gradient(mean_loss, pred)
        if gradient is None or not np.all(np.isfinite(gradient)):
            raise PluginCheckError(
                f"{who}: gradient on {label} images is "
                f"{'missing' if gradient is None else 'not finite'}; training "
                "would stop with NaN"
            )
    return loss


def _same_when_traced(traced: np.ndarray, eager: np.ndarray) -> bool:
    """Whether the traced values are the eager ones: each item's mean (what training sums) to
    float32 rounding, and each pixel of a map to 1e-2. XLA (JAX's step) fuses operations and
    rounds differently, and a map with fractional powers of values near zero (ms_ssim's scales
    on unrelated images) turns that rounding into a few 1e-3 differences; a Python branch that
    tracing fixed differs by far more."""
    items = (len(eager), -1)
    means_agree = np.allclose(
        traced.reshape(items).mean(axis=1), eager.reshape(items).mean(axis=1), rtol=1e-4, atol=1e-5
    )
    return bool(means_agree and np.allclose(traced, eager, rtol=1e-4, atol=1e-2))


# -------------------------------------------------------------------------------------- samplers


def _demo_landmarks(rng: np.random.Generator, count: int, size: int) -> np.ndarray:
    """Plausible 68-point landmarks (count, 68, 2) in a ``size`` crop: faceswap's mean face with a
    jaw line, each face squeezed on one side (a turn) and jittered."""
    from fs_core.faces import alignment  # noqa: PLC0415 (OpenCV: testing loads without it)

    base = np.zeros((68, 2))
    base[17:] = alignment.MEAN_FACE_2D
    along = np.linspace(0.0, 1.0, 17)
    base[:17] = np.stack([along, 0.3 + 0.7 * np.sin(np.pi * along)], axis=1)
    faces = np.repeat(base[None], count, axis=0)
    squeeze = rng.uniform(0.5, 1.0, count)[:, None]
    right = faces[..., 0] > 0.5
    faces[..., 0] = np.where(right, 0.5 + (faces[..., 0] - 0.5) * squeeze, faces[..., 0])
    faces = faces * (0.8 * size) + 0.1 * size + rng.normal(0.0, 0.005 * size, faces.shape)
    return faces.astype(np.float32)


def check_sampler_plugin(
    name: str,
    *,
    registry: Registry | None = None,
    options: Any = None,
    count: int = 37,
    batch_size: int = 8,
    batches: int = 20,
    seed: int = 0,
) -> Any:
    """Check sampler ``name`` on ``count`` faces (with made-up landmarks when it
    ``needs_landmarks``) under ``options`` (an ``AugmentationOptions``; defaults when None).

    ``take(n)`` returns n int64 indices in range; ``upcoming()`` lists every index once; two
    samplers made from the same seed give the same stream, also when one of them was asked
    ``upcoming()`` in between (faces are prepared in that order while draws go on, and a resumed
    seeded run replays the draws); ``epoch`` is a whole number that never decreases. Returns the
    descriptor.

    :param name: the sampler's registered name.
    :param registry: the plugins to look in; None loads the installed ones.
    :param options: the ``[augmentation]`` options the sampler is made with.
    :param count: faces in the made-up face set.
    :param batch_size: indices per ``take``.
    :param batches: how many ``take`` calls are compared.
    :param seed: seed of the samplers' generator and of the landmarks.
    """
    registry = _registry(registry)
    sampler = _descriptor(registry, "sampler", name, SamplerDescriptor)
    who = f"sampler '{name}' ({_origin(registry, 'sampler', name)})"
    options = AugmentationOptions() if options is None else options
    landmarks = None
    if sampler.needs_landmarks:
        landmarks = _demo_landmarks(np.random.default_rng(seed), count, 256)

    def make() -> Any:
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, 1)))
        return sampler.make(
            SamplerInputs(side="b", count=count, rng=rng, options=options, landmarks=landmarks)
        )

    first, second = make(), make()
    order = np.asarray(second.upcoming())
    if order.shape != (count,) or sorted(order.tolist()) != list(range(count)):
        raise PluginCheckError(f"{who}: upcoming() must list every index 0..{count - 1} once")
    last_epoch = 0
    for number in range(batches):
        drawn, again = np.asarray(first.take(batch_size)), np.asarray(second.take(batch_size))
        if drawn.dtype != np.int64 or drawn.shape != (batch_size,):
            raise PluginCheckError(
                f"{who}: take({batch_size}) must return {batch_size} int64 indices, got "
                f"{drawn.dtype} {drawn.shape}"
            )
        if drawn.min() < 0 or drawn.max() >= count:
            raise PluginCheckError(f"{who}: take() gave an index outside 0..{count - 1}")
        if not np.array_equal(drawn, again):
            raise PluginCheckError(
                f"{who}: batch {number} differs between two samplers made from one seed (the "
                "second was asked upcoming() first); draw from inputs.rng only, and keep "
                "upcoming() from changing later draws"
            )
        epoch = first.epoch
        if not isinstance(epoch, (int, np.integer)) or epoch < last_epoch:
            raise PluginCheckError(f"{who}: epoch must be a whole number that never decreases")
        last_epoch = int(epoch)
    return sampler


# -------------------------------------------------------------------------------------- fixtures

try:
    import pytest
except ImportError:  # pragma: no cover - the functions above work without pytest
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture(scope="session")
    def fs_registry() -> Any:
        """The installed plugins, loaded freshly (FS_DISABLE_PLUGINS honoured) once per test run."""
        return load_registry()

    @pytest.fixture
    def fs_check_model(fs_registry: Any) -> Any:
        """:func:`check_model_plugin` bound to :func:`fs_registry`."""

        def check(name: str, options: Mapping[str, Any] | None = None, **kwargs: Any) -> ModelCheck:
            return check_model_plugin(name, options, registry=fs_registry, **kwargs)

        return check

    @pytest.fixture
    def fs_check_loss(fs_registry: Any) -> Any:
        """:func:`check_loss_plugin` bound to :func:`fs_registry`."""

        def check(name: str, **kwargs: Any) -> LossDescriptor:
            return check_loss_plugin(name, registry=fs_registry, **kwargs)

        return check
