"""realface: Andenixa's model, small input to larger output, as faceswap's RealFace.

Encoder: three [k5 s2 conv → LReLU 0.2 → 2 Residual] stages (ce, 2ce, 4ce) → conv 8ce (LReLU 0.1)
at in/16. Each decoder owns its Dense layers: flatten → Dense(nodes) → Dense(w²·df) → w×w×df,
then upscales to the output size. The dense grid width w and the number n of upscales come from
the output size (see :func:`dense_geometry`). Both decoders open with the same stage:
[Upscale df (no activation) → LReLU 0.2 → Residual(df, no bias)]. Decoder B then has n − 2
stages [Upscale cd/2^i → LReLU 0.2 → Residual(no bias) → Residual], then a plain upscale and the
face. Decoder A is the light version: nodes, df and cd divided by 1.5, and plain upscales after
the first stage. The mask branch shares the first upscale with the face path: its output →
LReLU 0.1 → n − 1 plain upscales (384, 192, 96 …) → 1-channel output.

Initializers: faceswap's plugins/train/model/realface.py defines RandomNormal(0, 0.02) but hands
it to no layer, so every convolution here is He-uniform (the residual blocks' second convolutions
keep their VarianceScaling(0.2)) and the Dense layers keep glorot-uniform.
"""

from __future__ import annotations

import attrs
import keras

from fs_core.descriptors import ModelDescriptor
from fs_core.model.context import BuildContext
from fs_plugins_models.blocks import Conv2DBlock, Conv2DOutput, ResidualBlock, UpscaleBlock
from fs_plugins_models.common import (
    dense_to_grid,
    mask_head,
    part,
    part_input,
    shared_encoder_model,
    stepped_option,
    upscale_chain,
    upscale_residual,
)

NAME = "realface"
HELP = "Small input to larger output (64 to 128 px by default), heavier B decoder."


@attrs.define
class RealfaceConfig:
    input_size: int = stepped_option(64, "Input resolution in pixels.", min=64, max=128, step=16)
    output_size: int = stepped_option(128, "Output resolution in pixels.", min=64, max=256, step=32)
    dense_nodes: int = stepped_option(
        1536, "Width of decoder B's Dense bottleneck (A uses 2/3).", min=768, max=2048, step=64
    )
    complexity_encoder: int = stepped_option(
        128, "Filters of the first encoder conv.", min=96, max=160, step=4
    )
    complexity_decoder: int = stepped_option(
        512, "Filters of decoder B's first residual stage.", min=512, max=544, step=4
    )


def dense_geometry(input_size: int, output_size: int) -> tuple[int, int, int]:
    """(grid width w, number of upscales, dense filters df) for these sizes.

    Of the widths ``output/2**n`` (n = 4 or 5) below 10, the one whose ``w·16`` is closest to the
    input size wins (ties: the larger w); df shrinks by 64 for each step of w above 4.
    """
    candidates = [(output_size // 2**n, n) for n in (4, 5) if output_size / 2**n < 10]
    width, upscales = min(candidates, key=lambda c: abs(c[0] * 16 - input_size))
    dense_filters = (1024 - (width - 4) * 64) // 16 * 16
    return width, upscales, dense_filters


def _encoder(context: BuildContext, config: RealfaceConfig) -> keras.Model:
    size, ce = config.input_size, config.complexity_encoder
    inputs = part_input((size, size, 3), "encoder")
    x = inputs
    for index in range(3):
        x = Conv2DBlock(context, ce * 2**index, activation=None, name=f"conv{index}")(x)
        x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"conv{index}_leakyrelu")(x)
        for res in range(2):
            x = ResidualBlock(
                context,
                ce * 2**index,
                conv_options={"use_bias": True},
                name=f"conv{index}_residual{res}",
            )(x)
    x = Conv2DBlock(context, ce * 8, name="conv3")(x)
    return part("encoder", inputs, x)


def _decoder(
    context: BuildContext, config: RealfaceConfig, name: str, code: tuple[int, ...], light: bool
) -> keras.Model:
    width, upscales, dense_filters = dense_geometry(config.input_size, config.output_size)
    scale = 1.5 if light else 1.0
    nodes, df, cd = (
        int(v / scale) for v in (config.dense_nodes, dense_filters, config.complexity_decoder)
    )
    inputs = part_input(code, name)
    grid = dense_to_grid(inputs, bottleneck=nodes, side=width, channels=df)
    # the first upscale is shared by the face path and the mask branch
    shared = UpscaleBlock(context, df, activation=None, name="stage_in_upscale")(grid)

    def faces(x: keras.KerasTensor) -> keras.KerasTensor:
        x = keras.layers.LeakyReLU(negative_slope=0.2, name="stage_in_leakyrelu")(x)
        x = ResidualBlock(context, df, conv_options={"use_bias": False}, name="stage_in_residual0")(
            x
        )
        stages = [cd // 2**i for i in range(upscales - 2)]
        last = cd // 2 ** (upscales - 2)
        if light:
            x = upscale_chain(context, x, [*stages, last], "upscale")
        else:
            for index, count in enumerate(stages):
                x = upscale_residual(
                    context,
                    x,
                    count,
                    f"stage{index}",
                    residual_kwargs=[
                        {"conv_options": {"use_bias": False}},
                        {"conv_options": {"use_bias": True}},
                    ],
                )
            x = UpscaleBlock(context, last, name="upscale")(x)
        return Conv2DOutput(context, 3, 5, name="face_out")(x)

    def mask(x: keras.KerasTensor) -> keras.KerasTensor:
        x = keras.layers.LeakyReLU(negative_slope=0.1, name="mask_leakyrelu")(x)
        return mask_head(context, x, [384 // 2**i for i in range(upscales - 1)])

    outputs = [faces(shared)]
    if context.learn_mask:
        outputs.append(mask(shared))
    return part(name, inputs, outputs)


def build(config: RealfaceConfig, context: BuildContext) -> keras.Model:
    enc = _encoder(context, config)
    code = tuple(enc.output.shape[1:])
    return shared_encoder_model(
        NAME,
        config.input_size,
        enc,
        _decoder(context, config, "decoder_a", code, light=True),
        _decoder(context, config, "decoder_b", code, light=False),
    )


DESCRIPTOR = ModelDescriptor(name=NAME, help=HELP, config_class=RealfaceConfig, build=build)
