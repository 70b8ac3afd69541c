"""lightweight: original cut down for small GPUs (faceswap's lightweight.py). No options.

Encoder: convs 128, 256, 512 → Dense(512) → Dense(4·4·512) → upscale to 8×8×256.
Decoders: upscales 512, 256, 128 → face (wider than original's, narrower encoder).
"""

from __future__ import annotations

from typing import Any

import attrs
import keras

from fs_plugins_models.common import shared_encoder_model
from fs_plugins_models.original import INPUT_SIZE, encoder, plain_decoder

NAME = "lightweight"


@attrs.define
class LightweightConfig:
    """lightweight has no options of its own."""


def build(config: LightweightConfig, context: Any) -> keras.Model:
    enc = encoder(context, INPUT_SIZE, (128, 256, 512), 512, 512, 256)
    code = tuple(enc.output.shape[1:])
    return shared_encoder_model(
        NAME,
        INPUT_SIZE,
        enc,
        plain_decoder(context, "decoder_a", code, (512, 256, 128)),
        plain_decoder(context, "decoder_b", code, (512, 256, 128)),
    )
