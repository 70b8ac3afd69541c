"""What every architecture module needs besides the blocks: options with a step, the two face
inputs, faceswap's RandomNormal initializer, the classic builders (strided conv stack, dense
bottleneck to a grid, the original-style encoder and plain decoder), decoder parts with an optional
learned-mask head, and the final two-sided model.

Keeping these here means each architecture module reads as a list of its layers (like its
faceswap counterpart in ``plugins/train/model/``), calling the shared builders with keywords, and
no wiring is copied between models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import keras

from fs_core.config.options import option
from fs_core.model.context import BuildContext
from fs_plugins_models.blocks import (
    Conv2DBlock,
    Conv2DOutput,
    ResidualBlock,
    UpscaleBlock,
    dense,
)


def stepped_option(default: int, help: str, *, min: int, max: int, step: int) -> Any:
    """A locked whole-number option in ``[min, max]`` that must also sit on a ``step`` grid from
    ``min``."""
    field = option(default, f"{help} ({min} to {max}, step {step})", min=min, max=max, locked=True)

    @field.validator
    def _on_grid(instance: Any, attribute: Any, value: Any) -> None:
        if isinstance(value, int) and not isinstance(value, bool) and (value - min) % step:
            raise ValueError(f"must be {min} plus a multiple of {step}, got {value!r}")

    return field


def conv_init() -> keras.initializers.Initializer:
    """RandomNormal(0, 0.02), the kernel initializer faceswap's Unbalanced and Villain give their
    layers and dfaker its residual blocks (``plugins/train/model/*.py``).

    A new instance per call: a Keras 3 initializer instance draws the same values every time, so
    layers must not share one (the blocks and :func:`dense_to_grid` copy it again anyway).
    """
    return keras.initializers.RandomNormal(0.0, 0.02)


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def face_inputs(size: int) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """The model inputs ``face_in_a`` and ``face_in_b``: square BGR faces in [0, 1]."""
    return (
        keras.Input((size, size, 3), name="face_in_a"),
        keras.Input((size, size, 3), name="face_in_b"),
    )


def part(name: str, inputs: Any, outputs: Any) -> keras.Model:
    """A named sub-model (a *part*): the unit that is saved, frozen and loaded by name.

    ``inputs`` and ``outputs`` are a tensor or a list of them.
    """
    return keras.Model(inputs, outputs, name=name)


def part_input(shape: Sequence[int], name: str) -> keras.KerasTensor:
    """The input of part ``name``, named ``<name>_in``."""
    return keras.Input(tuple(shape), name=f"{name}_in")


def conv_stack(
    context: BuildContext,
    x: keras.KerasTensor,
    filters: Iterable[int],
    name: str = "conv",
    **kwargs: Any,
) -> keras.KerasTensor:
    """Strided k5 Conv2DBlocks in series, named ``<name>0`` …; ``kwargs`` go to every block."""
    for index, count in enumerate(filters):
        x = Conv2DBlock(context, count, name=f"{name}{index}", **kwargs)(x)
    return x


def dense_to_grid(
    x: keras.KerasTensor,
    *,
    bottleneck: int,
    side: int,
    channels: int,
    name: str = "dense",
    kernel_initializer: keras.initializers.Initializer | None = None,
) -> keras.KerasTensor:
    """Flatten → Dense(bottleneck) → Dense(side²·channels) → Reshape(side, side, channels).

    The Dense kernels keep Keras' glorot-uniform default unless ``kernel_initializer`` is given
    (Unbalanced and Villain ask for :func:`conv_init`). Each Dense then gets its own copy of it, so
    the two do not share one fixed seed.
    """

    def kernel() -> dict[str, keras.initializers.Initializer]:
        if kernel_initializer is None:
            return {}
        return {
            "kernel_initializer": type(kernel_initializer).from_config(
                kernel_initializer.get_config()
            )
        }

    x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    x = dense(bottleneck, name=f"{name}0", **kernel())(x)
    x = dense(side * side * channels, name=f"{name}1", **kernel())(x)
    return keras.layers.Reshape((side, side, channels), name=f"{name}_reshape")(x)


def encoder(
    context: BuildContext,
    *,
    size: int,
    conv_filters: Sequence[int],
    bottleneck: int,
    grid_channels: int,
    upscale_filters: int,
    grid_side: int = 4,
    name: str = "encoder",
) -> keras.Model:
    """The original-style encoder part: strided convs → Dense(bottleneck) → a
    ``grid_side``²×``grid_channels`` grid → one sub-pixel upscale to ``upscale_filters`` channels.

    Original, Lightweight and dfaker use a 4×4 grid whatever the input size; DFL-H128 and
    DFL-SAE (df) use in/16.
    """
    inputs = part_input((size, size, 3), name)
    x = conv_stack(context, inputs, conv_filters)
    x = dense_to_grid(x, bottleneck=bottleneck, side=grid_side, channels=grid_channels)
    x = UpscaleBlock(context, upscale_filters, name="upscale")(x)
    return part(name, inputs, x)


def plain_decoder(
    context: BuildContext, name: str, input_shape: Sequence[int], *, filters: Sequence[int]
) -> keras.Model:
    """A decoder part of plain upscales (``filters``) → 3-channel face; the mask branch mirrors
    the upscales."""

    def faces(x: keras.KerasTensor) -> keras.KerasTensor:
        x = upscale_chain(context, x, filters, "upscale")
        return Conv2DOutput(context, 3, 5, name="face_out")(x)

    return decoder(context, name, input_shape, faces, lambda x: mask_head(context, x, filters))


def upscale_chain(
    context: BuildContext, x: keras.KerasTensor, filters: Iterable[int], name: str, **kwargs: Any
) -> keras.KerasTensor:
    """Plain sub-pixel upscales in series, named ``<name>0``, ``<name>1`` …"""
    for index, count in enumerate(filters):
        x = UpscaleBlock(context, count, name=f"{name}{index}", **kwargs)(x)
    return x


def upscale_residual(
    context: BuildContext,
    x: keras.KerasTensor,
    filters: int,
    name: str,
    residuals: int = 1,
    kernel_initializer: keras.initializers.Initializer | None = None,
    residual_kwargs: Sequence[dict[str, Any]] | None = None,
    **kwargs: Any,
) -> keras.KerasTensor:
    """The dfaker-style stage: UpscaleBlock(no activation) → LReLU(0.2) → ``residuals``
    ResidualBlocks.

    ``residual_kwargs`` gives per-block extras (e.g. ``[{"conv_options": {"use_bias": False}},
    {}]``, or a residual-only ``kernel_initializer``); ``kwargs`` go to the upscale
    (``kernel_size`` ...).
    ``kernel_initializer`` is used by both unless a residual's extras override it.
    """
    x = UpscaleBlock(
        context,
        filters,
        activation=None,
        kernel_initializer=kernel_initializer,
        name=f"{name}_upscale",
        **kwargs,
    )(x)
    x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"{name}_leakyrelu")(x)
    extras = list(residual_kwargs) if residual_kwargs is not None else [{}] * residuals
    for index, extra in enumerate(extras):
        x = ResidualBlock(
            context,
            filters,
            name=f"{name}_residual{index}",
            **{"kernel_initializer": kernel_initializer, **extra},
        )(x)
    return x


def mask_head(
    context: BuildContext,
    x: keras.KerasTensor,
    filters: Iterable[int],
    name: str = "mask",
    **kwargs: Any,
) -> keras.KerasTensor:
    """The learn-mask branch: plain upscales then a 1-channel float32 sigmoid ``mask_out``.

    ``kwargs`` go to the upscale blocks (``kernel_initializer``, ...).
    """
    x = upscale_chain(context, x, filters, f"{name}_upscale", **kwargs)
    return Conv2DOutput(
        context, 1, 5, kernel_initializer=kwargs.get("kernel_initializer"), name="mask_out"
    )(x)


def decoder(
    context: BuildContext,
    name: str,
    input_shape: Sequence[int],
    faces: Callable[[keras.KerasTensor], Any],
    mask: Callable[[keras.KerasTensor], keras.KerasTensor],
) -> keras.Model:
    """A decoder part: ``faces(x)`` gives the face output(s), smallest first; ``mask(x)`` the mask,
    added as the last output only when ``context.learn_mask``. Both branches start at the input."""
    inputs = part_input(input_shape, name)
    outputs = as_list(faces(inputs))
    if context.learn_mask:
        outputs.append(mask(inputs))
    return part(name, inputs, outputs)


def swap_model(
    name: str, inputs: Sequence[keras.KerasTensor], outputs_a: Any, outputs_b: Any
) -> keras.Model:
    """The trainable model: inputs ``[face_in_a, face_in_b]``, outputs side A's then side B's."""
    return keras.Model(list(inputs), as_list(outputs_a) + as_list(outputs_b), name=name)


def shared_encoder_model(
    name: str, size: int, encoder: keras.Model, decoder_a: keras.Model, decoder_b: keras.Model
) -> keras.Model:
    """The classic layout: one encoder, one decoder per side.

    Both sides go through the shared encoder as one batch (A then B, split again after it): the
    result is the same per face, but the encoder's matrix products see twice the rows, which on a
    CPU at batch 16 trains Original about 10% faster than two separate calls.
    """
    face_a, face_b = face_inputs(size)
    both = keras.layers.Concatenate(axis=0, name="both_sides")([face_a, face_b])
    code_a, code_b = keras.ops.split(encoder(both), 2, axis=0)
    return swap_model(name, [face_a, face_b], decoder_a(code_a), decoder_b(code_b))
