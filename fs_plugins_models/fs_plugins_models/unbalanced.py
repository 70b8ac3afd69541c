"""unbalanced: a wide residual B decoder and a lighter dropout A decoder, as faceswap's Unbalanced.

Encoder: five k5 s2 convs (ce, 2ce with instance norm; 4ce, 6ce, 8ce) → Dense(nodes) →
Dense((in/16)²·512) → (in/16)×(in/16)×512. Decoder A: four kernel-5 upscales (c, c, c/2, c/4)
with spatial dropout after the first two. Decoder B: two [Upscale → LReLU 0.2 → Residual] stages
at c, one at c/2, an upscale at c/4, every upscale with a 5×5 kernel. ``lowmem`` fixes ce 128,
nodes 512, code 384 channels, c_A 320 (dropout 0.15), and makes B four plain 5×5 upscales
(c 384, c/2, c/4, c/8).

Initializers, as faceswap's plugins/train/model/unbalanced.py: the encoder convs and Dense
layers, and every convolution of the face paths (residual blocks included) use
RandomNormal(0, 0.02); the face outputs and the whole mask branch (3×3 upscales mirroring the
face path's filters → 1-channel 5×5 output) keep the default He-uniform.
"""

from __future__ import annotations

import attrs
import keras

from fs_core.config.options import option
from fs_core.descriptors import ModelDescriptor
from fs_core.model.context import BuildContext
from fs_plugins_models.blocks import Conv2DBlock, Conv2DOutput, UpscaleBlock
from fs_plugins_models.common import (
    conv_init,
    decoder,
    dense_to_grid,
    mask_head,
    part,
    part_input,
    shared_encoder_model,
    stepped_option,
    upscale_chain,
    upscale_residual,
)

NAME = "unbalanced"
HELP = "A heavier B decoder than A decoder, 64-512 px; good for swapping one way."


@attrs.define
class UnbalancedConfig:
    input_size: int = stepped_option(
        128, "Input and output resolution in pixels.", min=64, max=512, step=64
    )
    lowmem: bool = option(
        False, "Lower memory use: narrower encoder, bottleneck and decoders.", locked=True
    )
    nodes: int = stepped_option(
        1024, "Width of the encoder's bottleneck Dense layer.", min=512, max=4096, step=64
    )
    complexity_encoder: int = stepped_option(
        128,
        "Filters of the first encoder conv (later convs are multiples).",
        min=64,
        max=1024,
        step=16,
    )
    complexity_decoder_a: int = stepped_option(
        384, "Filters of decoder A's first upscale.", min=64, max=1024, step=16
    )
    complexity_decoder_b: int = stepped_option(
        512, "Filters of decoder B's first upscale.", min=64, max=1024, step=16
    )


def _encoder(context: BuildContext, config: UnbalancedConfig) -> keras.Model:
    size = config.input_size
    ce = 128 if config.lowmem else config.complexity_encoder
    inputs = part_input((size, size, 3), "encoder")
    x = inputs
    for index, (mult, norm) in enumerate(
        ((1, "instance"), (2, "instance"), (4, None), (6, None), (8, None))
    ):
        x = Conv2DBlock(
            context,
            ce * mult,
            normalization=norm,
            kernel_initializer=conv_init(),
            name=f"conv{index}",
        )(x)
    x = dense_to_grid(
        x,
        bottleneck=512 if config.lowmem else config.nodes,
        side=size // 16,
        channels=384 if config.lowmem else 512,
        kernel_initializer=conv_init(),
    )
    return part("encoder", inputs, x)


def _decoder_a(
    context: BuildContext, config: UnbalancedConfig, code: tuple[int, ...]
) -> keras.Model:
    c = 320 if config.lowmem else config.complexity_decoder_a
    filters = (c, c, c // 2, c // 4)

    def faces(x: keras.KerasTensor) -> keras.KerasTensor:
        for index, count in enumerate(filters):
            x = UpscaleBlock(
                context,
                count,
                kernel_size=5,
                kernel_initializer=conv_init(),
                name=f"upscale{index}",
            )(x)
            if index < 2:
                rate = 0.15 if (config.lowmem and index == 1) else 0.25
                x = keras.layers.SpatialDropout2D(rate, name=f"dropout{index}")(x)
        return Conv2DOutput(context, 3, 5, name="face_out")(x)

    return decoder(context, "decoder_a", code, faces, lambda x: mask_head(context, x, filters))


def _decoder_b(
    context: BuildContext, config: UnbalancedConfig, code: tuple[int, ...]
) -> keras.Model:
    c = 384 if config.lowmem else config.complexity_decoder_b
    filters = (c, c // 2, c // 4, c // 8) if config.lowmem else (c, c, c // 2, c // 4)

    def faces(x: keras.KerasTensor) -> keras.KerasTensor:
        if config.lowmem:
            x = upscale_chain(
                context, x, filters, "upscale", kernel_size=5, kernel_initializer=conv_init()
            )
        else:
            for index, count in enumerate(filters[:3]):
                x = upscale_residual(
                    context,
                    x,
                    count,
                    f"stage{index}",
                    kernel_size=5,
                    kernel_initializer=conv_init(),
                )
            x = UpscaleBlock(
                context, filters[3], kernel_size=5, kernel_initializer=conv_init(), name="upscale"
            )(x)
        return Conv2DOutput(context, 3, 5, name="face_out")(x)

    return decoder(context, "decoder_b", code, faces, lambda x: mask_head(context, x, filters))


def build(config: UnbalancedConfig, context: BuildContext) -> keras.Model:
    enc = _encoder(context, config)
    code = tuple(enc.output.shape[1:])
    return shared_encoder_model(
        NAME,
        config.input_size,
        enc,
        _decoder_a(context, config, code),
        _decoder_b(context, config, code),
    )


DESCRIPTOR = ModelDescriptor(name=NAME, help=HELP, config_class=UnbalancedConfig, build=build)
