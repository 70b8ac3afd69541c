"""dfaker: original's encoder, a residual decoder at twice the input size (faceswap's dfaker.py).

``output_size`` 128 (input 64) or 256 (input 128). The decoder (8×8×512 in) climbs with
[Upscale(no act) → LReLU 0.2 → Residual] stages (1024 first at 256 px; then 512, 256, 128), then
one plain upscale to 64 channels and the face. Only the residual blocks use RandomNormal(0, 0.02).
"""

from __future__ import annotations

import attrs
import keras

from fs_core.config.options import option
from fs_core.descriptors import ModelDescriptor
from fs_core.model.context import BuildContext
from fs_plugins_models.blocks import Conv2DOutput, UpscaleBlock
from fs_plugins_models.common import (
    conv_init,
    decoder,
    mask_head,
    shared_encoder_model,
    upscale_residual,
)
from fs_plugins_models.original import original_encoder

NAME = "dfaker"
HELP = "Original's encoder with a residual decoder at twice the input size (128 or 256 px out)."


@attrs.define
class DfakerConfig:
    output_size: int = option(
        128,
        "Output resolution in pixels; the input is half of it.",
        choices=(128, 256),
        locked=True,
    )


def _stage_filters(output_size: int) -> tuple[int, ...]:
    return (1024, 512, 256, 128) if output_size == 256 else (512, 256, 128)


def _decoder(
    context: BuildContext, name: str, input_shape: tuple[int, ...], output_size: int
) -> keras.Model:
    stages = _stage_filters(output_size)

    def faces(x: keras.KerasTensor) -> keras.KerasTensor:
        for index, filters in enumerate(stages):
            x = upscale_residual(
                context,
                x,
                filters,
                f"stage{index}",
                residual_kwargs=[{"kernel_initializer": conv_init()}],
            )
        x = UpscaleBlock(context, 64, name="upscale")(x)
        return Conv2DOutput(context, 3, 5, name="face_out")(x)

    return decoder(
        context, name, input_shape, faces, lambda x: mask_head(context, x, stages + (64,))
    )


def build(config: DfakerConfig, context: BuildContext) -> keras.Model:
    # (quirk) faceswap's dfaker inherits original's encoder, which reads original's ``lowmem``;
    # dfaker has no lowmem of its own here.
    size = config.output_size // 2
    enc = original_encoder(context, size, lowmem=False)
    code = tuple(enc.output.shape[1:])
    return shared_encoder_model(
        NAME,
        size,
        enc,
        _decoder(context, "decoder_a", code, config.output_size),
        _decoder(context, "decoder_b", code, config.output_size),
    )


DESCRIPTOR = ModelDescriptor(name=NAME, help=HELP, config_class=DfakerConfig, build=build)
