"""original: the first deepfakes autoencoder, as faceswap's plugins/train/model/original.py.

64 px in and out. Encoder: four k5 s2 convs (128, 256, 512, 1024) → Dense(1024) → Dense(4·4·1024)
→ reshape → one sub-pixel upscale to 8×8×512. Each side's decoder: upscales 256, 128, 64 → face.
``lowmem`` drops the 1024 conv and halves the bottleneck Dense.
"""

from __future__ import annotations

import attrs
import keras

from fs_core.config.options import option
from fs_core.descriptors import ModelDescriptor
from fs_core.model.context import BuildContext
from fs_plugins_models.common import encoder, plain_decoder, shared_encoder_model

NAME = "original"
HELP = "The original deepfakes autoencoder, 64 px in and out."
INPUT_SIZE = 64


@attrs.define
class OriginalConfig:
    lowmem: bool = option(
        False, "Lower memory use: drop the last encoder conv and halve the bottleneck.", locked=True
    )


def original_encoder(context: BuildContext, size: int, lowmem: bool) -> keras.Model:
    """Original's encoder at input ``size`` (dfaker reuses it at 64 and 128)."""
    return encoder(
        context,
        size=size,
        conv_filters=(128, 256, 512) if lowmem else (128, 256, 512, 1024),
        bottleneck=512 if lowmem else 1024,
        grid_channels=1024,
        upscale_filters=512,
    )


def build(config: OriginalConfig, context: BuildContext) -> keras.Model:
    enc = original_encoder(context, INPUT_SIZE, config.lowmem)
    code = tuple(enc.output.shape[1:])
    return shared_encoder_model(
        NAME,
        INPUT_SIZE,
        enc,
        plain_decoder(context, "decoder_a", code, filters=(256, 128, 64)),
        plain_decoder(context, "decoder_b", code, filters=(256, 128, 64)),
    )


DESCRIPTOR = ModelDescriptor(name=NAME, help=HELP, config_class=OriginalConfig, build=build)
