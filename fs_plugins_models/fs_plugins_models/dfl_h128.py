"""dfl_h128: DeepFaceLab's H128, as faceswap's plugins/train/model/dfl_h128.py. 128 px in and out.

Encoder: convs 128…1024 (→ 8×8×1024) → Dense(e) → Dense(8·8·e) → upscale to 16×16×e, with
e = 512 (256 when ``lowmem``). Decoders: upscales e, e/2, e/4 → face.
"""

from __future__ import annotations

import attrs
import keras

from fs_core.config.options import option
from fs_core.descriptors import ModelDescriptor
from fs_core.model.context import BuildContext
from fs_plugins_models.common import encoder, plain_decoder, shared_encoder_model

NAME = "dfl_h128"
HELP = "DeepFaceLab's H128, 128 px in and out."
INPUT_SIZE = 128


@attrs.define
class DflH128Config:
    lowmem: bool = option(
        False, "Lower memory use: halve the encoder's bottleneck width (512 to 256).", locked=True
    )


def build(config: DflH128Config, context: BuildContext) -> keras.Model:
    width = 256 if config.lowmem else 512
    enc = encoder(
        context,
        size=INPUT_SIZE,
        conv_filters=(128, 256, 512, 1024),
        bottleneck=width,
        grid_side=INPUT_SIZE // 16,
        grid_channels=width,
        upscale_filters=width,
    )
    code = tuple(enc.output.shape[1:])
    filters = (width, width // 2, width // 4)
    return shared_encoder_model(
        NAME,
        INPUT_SIZE,
        enc,
        plain_decoder(context, "decoder_a", code, filters=filters),
        plain_decoder(context, "decoder_b", code, filters=filters),
    )


DESCRIPTOR = ModelDescriptor(name=NAME, help=HELP, config_class=DflH128Config, build=build)
