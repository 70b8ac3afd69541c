"""lightweight: original cut down for small GPUs (faceswap's lightweight.py). No options.

Encoder: convs 128, 256, 512 → Dense(512) → Dense(4·4·512) → upscale to 8×8×256.
Decoders: upscales 512, 256, 128 → face (wider than original's, narrower encoder).
"""

from __future__ import annotations

import attrs
import keras

from fs_core.descriptors import ModelDescriptor
from fs_core.model.context import BuildContext
from fs_plugins_models.common import encoder, plain_decoder, shared_encoder_model

NAME = "lightweight"
HELP = "A smaller original for GPUs with little memory, 64 px."
INPUT_SIZE = 64


@attrs.define
class LightweightConfig:
    """lightweight has no options of its own."""


def build(config: LightweightConfig, context: BuildContext) -> keras.Model:
    enc = encoder(
        context,
        size=INPUT_SIZE,
        conv_filters=(128, 256, 512),
        bottleneck=512,
        grid_channels=512,
        upscale_filters=256,
    )
    code = tuple(enc.output.shape[1:])
    return shared_encoder_model(
        NAME,
        INPUT_SIZE,
        enc,
        plain_decoder(context, "decoder_a", code, filters=(512, 256, 128)),
        plain_decoder(context, "decoder_b", code, filters=(512, 256, 128)),
    )


DESCRIPTOR = ModelDescriptor(name=NAME, help=HELP, config_class=LightweightConfig, build=build)
