"""dfl_sae: DeepFaceLab's SAE in its DF and LIAE layouts, as faceswap's
plugins/train/model/dfl_sae.py.

d_e = 3·encoder_dims, d_d = 3·decoder_dims, r = in/16, ae = autoencoder_dims (0: df 512, liae 256).
* DF: ``encoder_df`` = 4 convs (d_e, 2d_e, 4d_e, 8d_e) → Dense(ae) → Dense(r²·ae) → upscale
  (2r×2r×ae); separate ``decoder_a`` and ``decoder_b``.
* LIAE: ``encoder_liae`` = the 4 convs → flatten; ``intermediate_both`` and ``intermediate_b``
  (Dense(ae) → Dense(r²·2ae) → upscale to 2r×2r×2ae); A's code is [both(A), both(A)], B's is
  [b(B), both(B)]; one shared ``decoder_both``.
Decoder: three [Upscale → LReLU 0.2 → 2 Residual] stages (8d_d, 4d_d, 2d_d) → face; with
``multiscale_decoder`` the first two stages also give faces at in/4 and in/2 (smallest first).
(quirk) The mask branch upscales with 8, 4, 2 × decoder_dims, without the ×3.
The Keras model is named by layout (``dfl_sae_df``, ``dfl_sae_liae``), as faceswap names it; models
saved by earlier fs versions, whose shared LIAE decoder was the part ``decoder``, resume through
:data:`LEGACY_PART_NAMES`.
"""

from __future__ import annotations

import attrs
import keras

from fs_core.config.options import option
from fs_core.descriptors import ModelDescriptor
from fs_core.model.context import BuildContext
from fs_plugins_models.blocks import Conv2DOutput, UpscaleBlock
from fs_plugins_models.common import (
    conv_stack,
    decoder,
    dense_to_grid,
    encoder,
    face_inputs,
    mask_head,
    part,
    part_input,
    shared_encoder_model,
    stepped_option,
    swap_model,
    upscale_residual,
)

NAME = "dfl_sae"
HELP = "DeepFaceLab's SAE (df or liae layout), 64-256 px, optional multiscale outputs."
#: parts saved under another name by earlier fs versions: LIAE's shared decoder was ``decoder``
LEGACY_PART_NAMES = {"decoder": "decoder_both"}


@attrs.define
class DflSaeConfig:
    input_size: int = stepped_option(
        128, "Input and output resolution in pixels.", min=64, max=256, step=16
    )
    architecture: str = option(
        "df",
        "df: one encoder, two decoders; liae: shared intermediate and "
        "one decoder (better at matching face shape).",
        choices=("df", "liae"),
        locked=True,
    )
    autoencoder_dims: int = stepped_option(
        0, "Bottleneck width; 0 picks 512 for df, 256 for liae.", min=0, max=1024, step=32
    )
    encoder_dims: int = option(
        42,
        "Encoder width (the first conv has 3 times this many filters).",
        min=21,
        max=85,
        locked=True,
    )
    decoder_dims: int = option(
        21,
        "Decoder width (the last upscale has 6 times this many filters).",
        min=10,
        max=85,
        locked=True,
    )
    multiscale_decoder: bool = option(
        False,
        "Also output (and train) faces at a quarter and half of the output size.",
        locked=True,
    )


def _ae_dims(config: DflSaeConfig) -> int:
    if config.autoencoder_dims:
        return config.autoencoder_dims
    return 512 if config.architecture == "df" else 256


def model_name(config: DflSaeConfig) -> str:
    """The Keras model's name: ``dfl_sae_df`` or ``dfl_sae_liae``, by layout."""
    return f"{NAME}_{config.architecture}"


def encoder_part(config: DflSaeConfig) -> tuple[str, ...]:
    """The part ``-f`` freezes and ``-l`` loads: the encoder of the chosen architecture."""
    return (f"encoder_{config.architecture}",)


def _conv_filters(config: DflSaeConfig) -> tuple[int, ...]:
    de = 3 * config.encoder_dims
    return (de, 2 * de, 4 * de, 8 * de)


def _decoder(
    context: BuildContext, config: DflSaeConfig, name: str, code: tuple[int, ...]
) -> keras.Model:
    dd = 3 * config.decoder_dims

    def faces(x: keras.KerasTensor) -> list[keras.KerasTensor]:
        outputs = []
        for index, filters in enumerate((8 * dd, 4 * dd, 2 * dd)):
            x = upscale_residual(context, x, filters, f"stage{index}", residuals=2)
            if config.multiscale_decoder and index < 2:
                outputs.append(Conv2DOutput(context, 3, 5, name=f"face_out_{x.shape[1]}")(x))
        outputs.append(Conv2DOutput(context, 3, 5, name="face_out")(x))
        return outputs

    mask_filters = tuple(m * config.decoder_dims for m in (8, 4, 2))
    return decoder(context, name, code, faces, lambda x: mask_head(context, x, mask_filters))


def _build_df(config: DflSaeConfig, context: BuildContext) -> keras.Model:
    size, ae = config.input_size, _ae_dims(config)
    enc = encoder(
        context,
        size=size,
        conv_filters=_conv_filters(config),
        bottleneck=ae,
        grid_side=size // 16,
        grid_channels=ae,
        upscale_filters=ae,
        name="encoder_df",
    )
    code = tuple(enc.output.shape[1:])
    return shared_encoder_model(
        model_name(config),
        size,
        enc,
        _decoder(context, config, "decoder_a", code),
        _decoder(context, config, "decoder_b", code),
    )


def _build_liae(config: DflSaeConfig, context: BuildContext) -> keras.Model:
    size, ae = config.input_size, _ae_dims(config)
    inputs = part_input((size, size, 3), "encoder_liae")
    flat = keras.layers.Flatten(name="flatten")(conv_stack(context, inputs, _conv_filters(config)))
    enc = part("encoder_liae", inputs, flat)

    def intermediate(name: str) -> keras.Model:
        inter_in = part_input((flat.shape[-1],), name)
        x = dense_to_grid(inter_in, bottleneck=ae, side=size // 16, channels=2 * ae)
        return part(name, inter_in, UpscaleBlock(context, 2 * ae, name="upscale")(x))

    inter_both, inter_b = intermediate("intermediate_both"), intermediate("intermediate_b")
    shared = _decoder(context, config, "decoder_both", (size // 8, size // 8, 4 * ae))
    face_a, face_b = face_inputs(size)
    code_a, code_b = enc(face_a), enc(face_b)
    both_a = inter_both(code_a)
    joined_a = keras.layers.Concatenate(name="code_a")([both_a, both_a])
    joined_b = keras.layers.Concatenate(name="code_b")([inter_b(code_b), inter_both(code_b)])
    return swap_model(model_name(config), [face_a, face_b], shared(joined_a), shared(joined_b))


def build(config: DflSaeConfig, context: BuildContext) -> keras.Model:
    return (
        _build_df(config, context) if config.architecture == "df" else _build_liae(config, context)
    )


DESCRIPTOR = ModelDescriptor(
    name=NAME,
    help=HELP,
    config_class=DflSaeConfig,
    build=build,
    freeze_parts=encoder_part,
    load_parts=encoder_part,
    legacy_part_names=LEGACY_PART_NAMES,
)
