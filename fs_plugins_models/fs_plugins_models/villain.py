"""villain: a deep residual encoder for 128 px faces, as faceswap's Villain.

Encoder: a k5 s2 conv (f0 filters, to 64²) feeding 16 residual blocks (8 when ``lowmem``) with a
skip; two conv → pixel-shuffle round-trips at 32²↔64²; a conv to 32²×128; separable conv 256 →
conv 512 → separable conv 1024 (dropped when ``lowmem``) down to 4²; Dense(1024, or 512 when
lowmem) → Dense(8·8·1024) → upscale to 16×16×512. Decoders: three [Upscale → LReLU 0.2 →
Residual] stages (512, 256, 128) → face; the mask branch is three plain upscales (512, 256, 128)
from the decoder input → 1-channel output.

Initializers, as faceswap's plugins/train/model/villain.py: every encoder layer (convolutions,
both separable kernels, the two Dense layers) and the decoders' face-path stages use
RandomNormal(0, 0.02); the face output and the whole mask branch keep the default He-uniform.
"""

from __future__ import annotations

import attrs
import keras

from fs_core.config.options import option
from fs_core.descriptors import ModelDescriptor
from fs_core.model.context import BuildContext
from fs_plugins_models.blocks import (
    Conv2DBlock,
    Conv2DOutput,
    PixelShuffler,
    ResidualBlock,
    SeparableConv2DBlock,
    UpscaleBlock,
)
from fs_plugins_models.common import (
    conv_init,
    decoder,
    dense_to_grid,
    mask_head,
    part,
    part_input,
    shared_encoder_model,
    upscale_residual,
)

NAME = "villain"
HELP = "A deep residual encoder for detail, 128 px; needs a lot of memory."
INPUT_SIZE = 128


@attrs.define
class VillainConfig:
    lowmem: bool = option(
        False,
        "Lower memory use: 8 residual blocks, no last separable conv, half-width bottleneck.",
        locked=True,
    )


def _encoder(context: BuildContext, lowmem: bool) -> keras.Model:
    size = INPUT_SIZE
    first = 128 + max(size - 128, 0) // 4
    inputs = part_input((size, size, 3), "encoder")
    skip = Conv2DBlock(
        context, first, activation=None, kernel_initializer=conv_init(), name="conv_in"
    )(inputs)
    x = keras.layers.LeakyReLU(negative_slope=0.2, name="conv_in_leakyrelu")(skip)
    for i in range(8 if lowmem else 16):
        x = ResidualBlock(context, first, kernel_initializer=conv_init(), name=f"residual{i}")(x)
    skip = keras.layers.LeakyReLU(negative_slope=0.1, name="skip_leakyrelu")(skip)
    x = keras.layers.Add(name="skip_add")([x, skip])
    for i in range(2):
        x = Conv2DBlock(context, 128, kernel_initializer=conv_init(), name=f"shuffle{i}_conv")(x)
        x = PixelShuffler(2, name=f"shuffle{i}")(x)
    x = Conv2DBlock(context, 128, kernel_initializer=conv_init(), name="conv_mid")(x)
    x = SeparableConv2DBlock(context, 256, kernel_initializer=conv_init(), name="sepconv0")(x)
    x = Conv2DBlock(context, 512, kernel_initializer=conv_init(), name="conv_out")(x)
    if not lowmem:
        x = SeparableConv2DBlock(context, 1024, kernel_initializer=conv_init(), name="sepconv1")(x)
    x = dense_to_grid(
        x,
        bottleneck=512 if lowmem else 1024,
        side=8,
        channels=1024,
        kernel_initializer=conv_init(),
    )
    x = UpscaleBlock(context, 512, kernel_initializer=conv_init(), name="upscale")(x)
    return part("encoder", inputs, x)


def _decoder(context: BuildContext, name: str, code: tuple[int, ...]) -> keras.Model:
    filters = (512, 256, 128)

    def faces(x: keras.KerasTensor) -> keras.KerasTensor:
        for index, count in enumerate(filters):
            x = upscale_residual(context, x, count, f"stage{index}", kernel_initializer=conv_init())
        return Conv2DOutput(context, 3, 5, name="face_out")(x)

    return decoder(context, name, code, faces, lambda x: mask_head(context, x, filters))


def build(config: VillainConfig, context: BuildContext) -> keras.Model:
    enc = _encoder(context, config.lowmem)
    code = tuple(enc.output.shape[1:])
    return shared_encoder_model(
        NAME,
        INPUT_SIZE,
        enc,
        _decoder(context, "decoder_a", code),
        _decoder(context, "decoder_b", code),
    )


DESCRIPTOR = ModelDescriptor(name=NAME, help=HELP, config_class=VillainConfig, build=build)
