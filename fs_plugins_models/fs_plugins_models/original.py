"""original: the first deepfakes autoencoder, as faceswap's plugins/train/model/original.py.

64 px in and out. Encoder: four k5 s2 convs (128, 256, 512, 1024) → Dense(1024) → Dense(4·4·1024)
→ reshape → one sub-pixel upscale to 8×8×512. Each side's decoder: upscales 256, 128, 64 → face.
``lowmem`` drops the 1024 conv and halves the bottleneck Dense.
"""

from __future__ import annotations

from typing import Any

import attrs
import keras

from fs_core.config.options import option
from fs_plugins_models.blocks import Conv2DBlock, Conv2DOutput, UpscaleBlock, dense
from fs_plugins_models.common import (
    decoder,
    mask_head,
    part,
    part_input,
    shared_encoder_model,
    upscale_chain,
)

NAME = "original"
INPUT_SIZE = 64


@attrs.define
class OriginalConfig:
    lowmem: bool = option(
        False, "Lower memory use: drop the last encoder conv and halve the bottleneck.", locked=True
    )


def conv_stack(
    context: Any, x: Any, filters: tuple[int, ...], name: str = "conv", **kwargs: Any
) -> Any:
    """Strided k5 Conv2DBlocks in series, named ``<name>0`` …"""
    for index, count in enumerate(filters):
        x = Conv2DBlock(context, count, name=f"{name}{index}", **kwargs)(x)
    return x


def dense_to_grid(
    x: Any,
    bottleneck: int,
    side: int,
    channels: int,
    name: str = "dense",
    kernel_initializer: keras.initializers.Initializer | None = None,
) -> Any:
    """Flatten → Dense(bottleneck) → Dense(side²·channels) → Reshape(side, side, channels).

    The Dense kernels keep Keras' glorot-uniform default unless ``kernel_initializer`` is given
    (Unbalanced and Villain ask for RandomNormal). Each Dense then gets its own copy of it, so the
    two do not share one fixed seed.
    """

    def kernel() -> dict:
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
    context: Any,
    size: int,
    conv_filters: tuple[int, ...],
    bottleneck: int,
    grid_channels: int,
    upscale_filters: int,
    name: str = "encoder",
) -> keras.Model:
    """The original-style encoder: convs → dense bottleneck → 4×4 grid → one upscale (to 8×8)."""
    inputs = part_input((size, size, 3), name)
    x = conv_stack(context, inputs, conv_filters)
    x = dense_to_grid(x, bottleneck, 4, grid_channels)
    x = UpscaleBlock(context, upscale_filters, name="upscale")(x)
    return part(name, inputs, x)


def plain_decoder(
    context: Any, name: str, input_shape: tuple[int, ...], filters: tuple[int, ...]
) -> keras.Model:
    """Upscales ``filters`` → 3-channel face; the mask branch mirrors the upscales."""

    def faces(x: Any) -> Any:
        x = upscale_chain(context, x, filters, "upscale")
        return Conv2DOutput(context, 3, 5, name="face_out")(x)

    return decoder(context, name, input_shape, faces, lambda x: mask_head(context, x, filters))


def original_encoder(context: Any, size: int, lowmem: bool) -> keras.Model:
    """Original's encoder at input ``size`` (dfaker reuses it at 64 and 128)."""
    convs = (128, 256, 512) if lowmem else (128, 256, 512, 1024)
    return encoder(context, size, convs, 512 if lowmem else 1024, 1024, 512)


def build(config: OriginalConfig, context: Any) -> keras.Model:
    enc = original_encoder(context, INPUT_SIZE, config.lowmem)
    code = tuple(enc.output.shape[1:])
    return shared_encoder_model(
        NAME,
        INPUT_SIZE,
        enc,
        plain_decoder(context, "decoder_a", code, (256, 128, 64)),
        plain_decoder(context, "decoder_b", code, (256, 128, 64)),
    )
