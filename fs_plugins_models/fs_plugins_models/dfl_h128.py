"""dfl_h128: DeepFaceLab's H128, as faceswap's plugins/train/model/dfl_h128.py. 128 px in and out.

Encoder: convs 128…1024 (→ 8×8×1024) → Dense(e) → Dense(8·8·e) → upscale to 16×16×e, with
e = 512 (256 when ``lowmem``). Decoders: upscales e, e/2, e/4 → face.
"""

from __future__ import annotations

from typing import Any

import attrs
import keras

from fs_core.config.options import option
from fs_plugins_models.blocks import UpscaleBlock
from fs_plugins_models.common import part, part_input, shared_encoder_model
from fs_plugins_models.original import conv_stack, dense_to_grid, plain_decoder

NAME = "dfl_h128"
INPUT_SIZE = 128


@attrs.define
class DflH128Config:
    lowmem: bool = option(
        False, "Lower memory use: halve the encoder's bottleneck width (512 to 256).", locked=True
    )


def build(config: DflH128Config, context: Any) -> keras.Model:
    width = 256 if config.lowmem else 512
    inputs = part_input((INPUT_SIZE, INPUT_SIZE, 3), "encoder")
    x = conv_stack(context, inputs, (128, 256, 512, 1024))
    x = dense_to_grid(x, width, INPUT_SIZE // 16, width)
    enc = part("encoder", inputs, UpscaleBlock(context, width, name="upscale")(x))
    code = tuple(enc.output.shape[1:])
    filters = (width, width // 2, width // 4)
    return shared_encoder_model(
        NAME,
        INPUT_SIZE,
        enc,
        plain_decoder(context, "decoder_a", code, filters),
        plain_decoder(context, "decoder_b", code, filters),
    )
