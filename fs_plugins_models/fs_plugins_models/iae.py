"""iae: intermediate autoencoder, as faceswap's plugins/train/model/iae.py. No options.

One encoder (convs 128…1024 → flatten), three intermediates (``inter_a``, ``inter_b``,
``inter_both``: Dense(1024) → Dense(4·4·512) → 4×4×512) and one shared ``decoder``. Side A's code
is [inter_a, inter_both] of A's encoding; side B's is [inter_b, inter_both] of B's.
"""

from __future__ import annotations

import attrs
import keras

from fs_core.descriptors import ModelDescriptor
from fs_core.model.context import BuildContext
from fs_plugins_models.common import (
    conv_stack,
    dense_to_grid,
    face_inputs,
    part,
    part_input,
    plain_decoder,
    swap_model,
)

NAME = "iae"
HELP = "Intermediate autoencoder: shared and per-side intermediates, one decoder, 64 px."
INPUT_SIZE = 64


@attrs.define
class IaeConfig:
    """iae has no options of its own."""


def _intermediate(name: str, flat_size: int) -> keras.Model:
    inputs = part_input((flat_size,), name)
    return part(name, inputs, dense_to_grid(inputs, bottleneck=1024, side=4, channels=512))


def build(config: IaeConfig, context: BuildContext) -> keras.Model:
    enc_in = part_input((INPUT_SIZE, INPUT_SIZE, 3), "encoder")
    enc_out = keras.layers.Flatten(name="flatten")(
        conv_stack(context, enc_in, (128, 256, 512, 1024))
    )
    enc = part("encoder", enc_in, enc_out)
    flat = enc_out.shape[-1]
    inter_a, inter_b, inter_both = (
        _intermediate(n, flat) for n in ("inter_a", "inter_b", "inter_both")
    )
    shared = plain_decoder(context, "decoder", (4, 4, 1024), filters=(512, 256, 128, 64))

    face_a, face_b = face_inputs(INPUT_SIZE)
    code_a, code_b = enc(face_a), enc(face_b)
    joined_a = keras.layers.Concatenate(name="code_a")([inter_a(code_a), inter_both(code_a)])
    joined_b = keras.layers.Concatenate(name="code_b")([inter_b(code_b), inter_both(code_b)])
    return swap_model(NAME, [face_a, face_b], shared(joined_a), shared(joined_b))


DESCRIPTOR = ModelDescriptor(name=NAME, help=HELP, config_class=IaeConfig, build=build)
