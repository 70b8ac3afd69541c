"""The extensions' networks: a U-Net patch discriminator for faces and a code discriminator.

Both give float32 logits whatever the compute precision (their last layers are float32), so the
losses stay float32 as every fs loss does. Their optimizer is Adam at the session's learning rate
with beta_1 = 0.5, the usual choice for discriminators; under mixed_float16 it scales its loss as
the model's optimizer does.
"""

from __future__ import annotations

from typing import Any

import keras

from fs_core.extensions.api import ExtensionContext

#: DeepFaceLab caps a discriminator's width at 512 channels
MAX_CHANNELS = 512
MAX_DOWNSCALES = 6


def patch_layers(size: int, patch_size: int) -> tuple[int, int]:
    """(kernel, number of stride-2 layers) whose receptive field is nearest ``patch_size``.

    The receptive field of ``n`` stride-2 layers of kernel ``k`` is ``1 + (k - 1)(2^n - 1)``
    pixels; ``size`` must divide by ``2^n`` so the U-Net's skips line up. Ties go to fewer
    layers."""
    best: tuple[int, int, int] | None = None
    for count in range(1, MAX_DOWNSCALES + 1):
        if size % (2**count) or size // (2**count) < 1:
            break
        for kernel in (3, 4, 5):
            field = 1 + (kernel - 1) * (2**count - 1)
            candidate = (abs(field - patch_size), count, kernel)
            if best is None or candidate < best:
                best = candidate
    if best is None:
        raise ValueError(f"an output size of {size} px cannot be halved for a discriminator")
    return best[2], best[1]


def _leaky(x: Any) -> Any:
    return keras.layers.LeakyReLU(0.2)(x)


def unet_patch_discriminator(name: str, size: int, patch_size: int, dims: int) -> keras.Model:
    """Judges each patch of a face (``size`` px) as real or made, at two scales: one logit map at
    the narrowest level (its receptive field about ``patch_size``) and one at full size after the
    U-Net's way back up. Outputs ``[center (N, s, s, 1), full (N, size, size, 1)]`` logits."""
    kernel, count = patch_layers(size, patch_size)
    channels = [min(dims * 2**level, MAX_CHANNELS) for level in range(count + 1)]
    face = keras.Input((size, size, 3), name=f"{name}_in")
    x = _leaky(keras.layers.Conv2D(channels[0], 1, name=f"{name}_in_conv")(face))
    skips = []
    for level in range(count):
        skips.append(x)
        x = _leaky(
            keras.layers.Conv2D(
                channels[level + 1], kernel, strides=2, padding="same", name=f"{name}_down_{level}"
            )(x)
        )
    center = keras.layers.Conv2D(1, 1, dtype="float32", name=f"{name}_center_out")(x)
    x = _leaky(keras.layers.Conv2D(channels[-1], 1, name=f"{name}_center")(x))
    for level in reversed(range(count)):
        x = _leaky(
            keras.layers.Conv2DTranspose(
                channels[level], kernel, strides=2, padding="same", name=f"{name}_up_{level}"
            )(x)
        )
        x = keras.layers.Concatenate(name=f"{name}_skip_{level}")([skips[level], x])
    full = keras.layers.Conv2D(1, 1, dtype="float32", name=f"{name}_out")(x)
    return keras.Model(face, [center, full], name=name)


def code_discriminator(name: str, code_shape: tuple[int, ...], width: int = 256) -> keras.Model:
    """Tells which side an encoder code came from. A grid code (H, W, C) goes through
    ``1 + H // 8`` stride-2 convolutions (kernel 4, ``width`` channels doubling up to 8x), as
    DeepFaceLab's; a flat code through two dense layers. Output: logits (N, ..., 1), float32."""
    code = keras.Input(tuple(code_shape), name=f"{name}_in")
    x = code
    if len(code_shape) == 3:
        for level in range(1 + int(code_shape[0]) // 8):
            x = _leaky(
                keras.layers.Conv2D(
                    width * min(2**level, 8), 4, strides=2, padding="same", name=f"{name}_{level}"
                )(x)
            )
        out = keras.layers.Conv2D(1, 1, dtype="float32", name=f"{name}_out")(x)
    else:
        x = keras.layers.Flatten(name=f"{name}_flat")(x)
        for level in range(2):
            x = _leaky(keras.layers.Dense(width, name=f"{name}_{level}")(x))
        out = keras.layers.Dense(1, dtype="float32", name=f"{name}_out")(x)
    return keras.Model(code, out, name=name)


def part_optimizer(context: ExtensionContext) -> keras.optimizers.Optimizer:
    """The optimizer of one discriminator (see the module docstring)."""
    optimizer: keras.optimizers.Optimizer = keras.optimizers.Adam(
        learning_rate=context.learning_rate, beta_1=0.5, beta_2=0.999, epsilon=1e-7
    )
    if context.precision_policy == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def bce(label: float, logits: Any) -> Any:
    """Mean sigmoid cross-entropy of ``logits`` against a constant ``label`` (float32 scalar)."""
    logits = keras.ops.cast(logits, "float32")
    labels = keras.ops.full_like(logits, label)
    return keras.ops.mean(keras.ops.binary_crossentropy(labels, logits, from_logits=True))
