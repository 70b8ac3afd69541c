"""The decoder side of Phaze-A: upscalers, the upscale chain, and the ``decoder_*`` parts.

The chain of decoder upscales can be split: its first ``dec_upscales_in_fc`` upscales run at the end
of the fc parts, the rest in the decoder. Both halves are made by :func:`run_upscales` from one
filter list (:func:`geometry.decoder_filters`), so the split never changes the network's shape.
With learn-mask on, a mask branch repeats the upscales (no noise, no residuals) and ends in its own
1-channel output.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from fs_core.model.context import BuildContext
from fs_plugins_models.blocks import (
    Conv2DBlock,
    Conv2DOutput,
    GroupNormalization,
    InstanceNormalization,
    ResidualBlock,
    RMSNormalization,
    Upscale2xBlock,
    UpscaleBlock,
    UpscaleDNYBlock,
    UpscaleResizeImagesBlock,
)
from fs_plugins_models.phaze_a import geometry as geo
from fs_plugins_models.phaze_a.config import PhazeAConfig


def upscaler(
    context: BuildContext,
    method: str,
    filters: int,
    name: str,
    activation: str | None = "leakyrelu",
) -> Callable[[keras.KerasTensor], keras.KerasTensor]:
    """One x2 upscale block of the named ``method`` (subpixel, resize_images, upscale_*)."""
    if method == "subpixel":
        return UpscaleBlock(context, filters, activation=activation, name=name)
    if method == "upscale_fast":
        return Upscale2xBlock(context, filters, activation=activation, fast=True, name=name)
    if method == "upscale_hybrid":
        return Upscale2xBlock(context, filters, activation=activation, fast=False, name=name)
    if method == "upscale_dny":
        return UpscaleDNYBlock(context, filters, activation=activation, name=name)
    if method == "resize_images":
        return UpscaleResizeImagesBlock(context, filters, activation=activation, name=name)
    raise ValueError(f"unknown upscale method {method!r}")


def normalization(x: keras.KerasTensor, kind: str, name: str) -> keras.KerasTensor:
    """The ``dec_norm`` layer (or nothing for ``none``)."""
    if kind == "none":
        return x
    layers = {
        "batch": lambda: keras.layers.BatchNormalization(name=f"{name}_batchnorm"),
        "group": lambda: GroupNormalization(name=f"{name}_groupnorm"),
        "instance": lambda: InstanceNormalization(name=f"{name}_instancenorm"),
        "layer": lambda: keras.layers.LayerNormalization(name=f"{name}_layernorm"),
        "rms": lambda: RMSNormalization(name=f"{name}_rmsnorm"),
    }
    return layers[kind]()(x)


def reshape_for_output(x: keras.KerasTensor, output_size: int, name: str) -> keras.KerasTensor:
    """Reshape to the side from which doubling reaches ``output_size`` (filters were pre-scaled)."""
    old = x.shape[1]
    new = geo.scale_dim(output_size, old)
    if new == old:
        return x
    channels = int(np.prod(x.shape[1:])) // new**2
    return keras.layers.Reshape((new, new, channels), name=name)(x)


def dny_entry(
    context: BuildContext, x: keras.KerasTensor, filters: int, name: str
) -> keras.KerasTensor:
    """Two stride-1 Conv2DBlocks (k4 then k3, LReLU 0.2) before the first DNY upscale."""
    x = Conv2DBlock(context, filters, 4, strides=1, relu_alpha=0.2, name=f"{name}_0")(x)
    return Conv2DBlock(context, filters, 3, strides=1, relu_alpha=0.2, name=f"{name}_1")(x)


def upscale_block(
    context: BuildContext,
    config: PhazeAConfig,
    x: keras.KerasTensor,
    filters: int,
    name: str,
    skip_residual: bool = False,
    is_mask: bool = False,
) -> keras.KerasTensor:
    """upscaler -> [noise] -> [norm] -> LReLU 0.2 -> residual blocks, or [norm] -> LReLU 0.1."""
    x = upscaler(context, config.dec_upscale_method, filters, name)(x)
    if not is_mask and config.dec_gaussian:
        x = keras.layers.GaussianNoise(1.0, name=f"{name}_noise")(x)
    if not is_mask and config.dec_res_blocks and not skip_residual:
        x = normalization(x, config.dec_norm, f"{name}_post")
        x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"{name}_post_leakyrelu")(x)
        for index in range(config.dec_res_blocks):
            x = ResidualBlock(context, filters, name=f"{name}_residual_{index}")(x)
        return x
    x = normalization(x, config.dec_norm, f"{name}_post")
    if config.dec_upscale_method != "upscale_dny":
        x = keras.layers.LeakyReLU(negative_slope=0.1, name=f"{name}_post_leakyrelu")(x)
    return x


def run_upscales(
    context: BuildContext,
    config: PhazeAConfig,
    face: keras.KerasTensor,
    mask: keras.KerasTensor | None,
    start: int,
    end: int | None,
) -> tuple[keras.KerasTensor, keras.KerasTensor | None]:
    """Decoder upscales ``start:end`` on the face (and mask) tensors.

    From ``start == 0`` the tensors are first reshaped for the output size and, for DNY, go through
    the entry convolutions. ``dec_skip_last_residual`` applies to the last upscale of this slice,
    as in faceswap's ``phaze_a.py``.
    """
    if start == 0:
        face = reshape_for_output(face, config.output_size, "reshape_for_output")
        if config.dec_upscale_method == "upscale_dny":
            face = dny_entry(context, face, config.dec_max_filters, "dny_entry")
        if mask is not None:
            mask = reshape_for_output(mask, config.output_size, "mask_reshape_for_output")
            if config.dec_upscale_method == "upscale_dny":
                mask = dny_entry(context, mask, config.dec_max_filters, "mask_dny_entry")
    filters = geo.decoder_filters(config)[start:end]
    for offset, count in enumerate(filters):
        index = start + offset
        skip = offset == len(filters) - 1 and config.dec_skip_last_residual
        face = upscale_block(context, config, face, count, f"upscale_{index}", skip_residual=skip)
        if mask is not None:
            mask = upscale_block(
                context, config, mask, count, f"mask_upscale_{index}", is_mask=True
            )
    return face, mask


def build_decoder(
    context: BuildContext,
    config: PhazeAConfig,
    side: str,
    input_shape: tuple[int, ...],
    mask_shape: tuple[int, ...] | None = None,
) -> keras.Model:
    """The ``decoder_<side>`` part: remaining upscales -> ``face_out`` (+ ``mask_out``).

    ``mask_shape`` is given when the mask branch was started in the fc parts (learn-mask with
    ``dec_upscales_in_fc``); the part then takes ``[face, mask]`` features.
    """
    name = f"decoder_{side}"
    face_in = keras.Input(tuple(input_shape), name=f"{name}_in")
    inputs: list[keras.KerasTensor] = [face_in]
    mask = None
    if mask_shape is not None:
        mask = keras.Input(tuple(mask_shape), name=f"{name}_mask_in")
        inputs.append(mask)
    elif context.learn_mask:
        mask = face_in
    face, mask = run_upscales(context, config, face_in, mask, config.dec_upscales_in_fc, None)
    outputs = [Conv2DOutput(context, 3, config.dec_output_kernel, name="face_out")(face)]
    if mask is not None:
        outputs.append(Conv2DOutput(context, 1, config.dec_output_kernel, name="mask_out")(mask))
    return keras.Model(inputs if len(inputs) > 1 else face_in, outputs, name=name)
