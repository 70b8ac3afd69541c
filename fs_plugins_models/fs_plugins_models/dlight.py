"""dlight: a light encoder with a detailed B decoder, as faceswap's plugins/train/model/dlight.py.

Input 128 px.

Encoder: five stages, each concatenating a k5 s2 conv (f/2, f, 2f, 4f, 8f filters) with the
average-pooled previous tensor (LReLU 0.1), 128 → 4 px; Dense(encoder dim) → Dropout 0.05 →
Dense(4·4·1024) → Dropout 0.05 → 4×4×1024. The first upscale is by the ratio output/64 (2, 4 or 6).
Decoder A: bilinear upsampling by the ratio, then four hybrid Upscale2x (256 … 32); its mask branch
(learn_mask) starts from the same bilinear upsampling.
Decoder B ``good`` (part ``decoder_b``): hybrid Upscale2x stages with residual blocks and batch
norm; ``fast`` (part ``decoder_b_fast``): one sub-pixel upscale by the ratio, then four fast
Upscale2x. Decoder B's mask branch starts from its first learned upscale (in ``good``, after a
LeakyReLU 0.1 of its own), so that upscale is shared by the face and the mask.
"""

from __future__ import annotations

import attrs
import keras

from fs_core.config.options import option
from fs_core.descriptors import ModelDescriptor
from fs_core.model.context import BuildContext
from fs_plugins_models.blocks import (
    Conv2DBlock,
    Conv2DOutput,
    ResidualBlock,
    Upscale2xBlock,
    UpscaleBlock,
    dense,
)
from fs_plugins_models.common import decoder, part, part_input, shared_encoder_model

NAME = "dlight"
HELP = "Light encoder, detailed B decoder, 128 px in, 128/256/384 px out."
INPUT_SIZE = 128
ENCODER_FILTERS = {"lowmem": 48, "fair": 64, "best": 64}
ENCODER_DIMS = {"lowmem": 640, "fair": 1152, "best": 1664}
UPSCALE_RATIO = {128: 2, 256: 4, 384: 6}
#: decoder B's part name by ``details`` (faceswap names the fast one ``decoder_b_fast``)
DECODER_B = {"good": "decoder_b", "fast": "decoder_b_fast"}
#: parts saved under another name by earlier fs versions: a fast decoder B was ``decoder_b``
LEGACY_PART_NAMES = {"decoder_b": "decoder_b_fast"}
#: decoder B ``good``: (filters, upscale factor, use_bias of each residual block, batch norm after)
GOOD_PLAN = (
    (512, None, (True, False, False), False),
    (512, 2, (True, False), True),
    (256, 2, (True,), False),
    (128, 2, (False,), True),
)


@attrs.define
class DlightConfig:
    features: str = option(
        "best",
        "Encoder size: lowmem, fair or best.",
        choices=("lowmem", "fair", "best"),
        locked=True,
    )
    details: str = option(
        "good", "Decoder B: good (residual, slower) or fast.", choices=("fast", "good"), locked=True
    )
    output_size: int = option(
        256, "Output resolution in pixels.", choices=(128, 256, 384), locked=True
    )


def _encoder(context: BuildContext, features: str) -> keras.Model:
    f = ENCODER_FILTERS[features]
    inputs = part_input((INPUT_SIZE, INPUT_SIZE, 3), "encoder")
    x = inputs
    for index, filters in enumerate((f // 2, f, 2 * f, 4 * f, 8 * f)):
        conv = Conv2DBlock(context, filters, name=f"stage{index}_conv")(x)
        pooled = keras.layers.AveragePooling2D(2, name=f"stage{index}_pool")(x)
        pooled = keras.layers.LeakyReLU(negative_slope=0.1, name=f"stage{index}_pool_leakyrelu")(
            pooled
        )
        x = keras.layers.Concatenate(name=f"stage{index}_concat")([conv, pooled])
    x = keras.layers.Flatten(name="flatten")(x)
    x = dense(ENCODER_DIMS[features], name="dense0")(x)
    x = keras.layers.Dropout(0.05, name="dropout0")(x)
    x = dense(4 * 4 * 1024, name="dense1")(x)
    x = keras.layers.Dropout(0.05, name="dropout1")(x)
    x = keras.layers.Reshape((4, 4, 1024), name="reshape")(x)
    return part("encoder", inputs, x)


def _hybrid_upscales(
    context: BuildContext, x: keras.KerasTensor, filters: tuple[int, ...], name: str
) -> keras.KerasTensor:
    for index, count in enumerate(filters):
        x = Upscale2xBlock(context, count, name=f"{name}{index}")(x)
    return x


def _bilinear(x: keras.KerasTensor, ratio: int, name: str) -> keras.KerasTensor:
    return keras.layers.UpSampling2D(ratio, interpolation="bilinear", name=f"{name}_upsampling")(x)


def _mask(context: BuildContext, x: keras.KerasTensor) -> keras.KerasTensor:
    """Four hybrid upscales (128 … 16) → 1-channel ``mask_out``."""
    x = _hybrid_upscales(context, x, (128, 64, 32, 16), "mask_upscale")
    return Conv2DOutput(context, 1, 5, name="mask_out")(x)


def _decoder_a(context: BuildContext, code: tuple[int, ...], ratio: int) -> keras.Model:
    def faces(x: keras.KerasTensor) -> keras.KerasTensor:
        x = _hybrid_upscales(context, _bilinear(x, ratio, "upscale"), (256, 128, 64, 32), "upscale")
        return Conv2DOutput(context, 3, 5, name="face_out")(x)

    return decoder(
        context,
        "decoder_a",
        code,
        faces,
        lambda x: _mask(context, _bilinear(x, ratio, "mask_upscale")),
    )


def _good_faces(
    context: BuildContext, inputs: keras.KerasTensor, ratio: int
) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """Hybrid upscales (no activation) → LReLU 0.2 → residuals; batch norm after stages 1 and 3.

    Returns the face before its output head and the mask branch's start: the first upscale's
    output through a LeakyReLU(0.1).
    """
    x, mask_start = inputs, None
    for index, (filters, scale, biases, norm_after) in enumerate(GOOD_PLAN):
        x = Upscale2xBlock(
            context,
            filters,
            activation=None,
            scale_factor=scale or ratio,
            name=f"stage{index}_upscale",
        )(x)
        if index == 0:
            mask_start = keras.layers.LeakyReLU(negative_slope=0.1, name="mask_leakyrelu")(x)
        x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"stage{index}_leakyrelu")(x)
        for res, use_bias in enumerate(biases):
            x = ResidualBlock(
                context,
                filters,
                name=f"stage{index}_residual{res}",
                conv_options={"use_bias": use_bias},
            )(x)
        if norm_after:
            x = keras.layers.BatchNormalization(name=f"stage{index}_batchnorm")(x)
    return Upscale2xBlock(context, 64, name="upscale_out")(x), mask_start


def _fast_faces(
    context: BuildContext, inputs: keras.KerasTensor, ratio: int
) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """A sub-pixel upscale by the ratio (also the mask branch's start), then four fast Upscale2x."""
    first = UpscaleBlock(context, 512, scale_factor=ratio, name="upscale_in")(inputs)
    x = first
    for index, filters in enumerate((512, 256, 128, 64)):
        x = Upscale2xBlock(context, filters, fast=True, name=f"upscale{index}")(x)
    return x, first


def _decoder_b(
    context: BuildContext, code: tuple[int, ...], ratio: int, details: str
) -> keras.Model:
    name = DECODER_B[details]
    inputs = part_input(code, name)
    face, mask_start = (_good_faces if details == "good" else _fast_faces)(context, inputs, ratio)
    outputs = [Conv2DOutput(context, 3, 5, name="face_out")(face)]
    if context.learn_mask:
        outputs.append(_mask(context, mask_start))
    return part(name, inputs, outputs)


def build(config: DlightConfig, context: BuildContext) -> keras.Model:
    ratio = UPSCALE_RATIO[config.output_size]
    enc = _encoder(context, config.features)
    code = tuple(enc.output.shape[1:])
    return shared_encoder_model(
        NAME,
        INPUT_SIZE,
        enc,
        _decoder_a(context, code, ratio),
        _decoder_b(context, code, ratio, config.details),
    )


DESCRIPTOR = ModelDescriptor(
    name=NAME,
    help=HELP,
    config_class=DlightConfig,
    build=build,
    legacy_part_names=LEGACY_PART_NAMES,
)
