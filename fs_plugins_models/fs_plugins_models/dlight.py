"""dlight: a light encoder with a detailed B decoder (reference §A.2 "dlight"). Input 128 px.

Encoder: five stages, each concatenating a k5 s2 conv (f/2, f, 2f, 4f, 8f filters) with the
average-pooled previous tensor (LReLU 0.1), 128 → 4 px; Dense(encoder dim) → Dropout 0.05 →
Dense(4·4·1024) → Dropout 0.05 → 4×4×1024. The first upscale is by the ratio output/64 (2, 4 or 6).
Decoder A: bilinear upsampling by the ratio, then four hybrid Upscale2x (256 … 32).
Decoder B ``good``: hybrid Upscale2x stages with residual blocks and batch norm; ``fast``: one
sub-pixel upscale by the ratio, then four fast Upscale2x.
"""
from __future__ import annotations

from typing import Any

import attrs
import keras

from fs_core.config.options import option
from fs_plugins_models.blocks import (Conv2DBlock, Conv2DOutput, ResidualBlock, Upscale2xBlock,
                                      UpscaleBlock, dense)
from fs_plugins_models.common import decoder, part, part_input, shared_encoder_model

NAME = "dlight"
INPUT_SIZE = 128
ENCODER_FILTERS = {"lowmem": 48, "fair": 64, "best": 64}
ENCODER_DIMS = {"lowmem": 640, "fair": 1152, "best": 1664}
UPSCALE_RATIO = {128: 2, 256: 4, 384: 6}


@attrs.define
class DlightConfig:
    features: str = option("best", "Encoder size: lowmem, fair or best.",
                           choices=("lowmem", "fair", "best"), locked=True)
    details: str = option("good", "Decoder B: good (residual, slower) or fast.",
                          choices=("fast", "good"), locked=True)
    output_size: int = option(256, "Output resolution in pixels.", choices=(128, 256, 384),
                              locked=True)


def _encoder(context: Any, features: str) -> keras.Model:
    f = ENCODER_FILTERS[features]
    inputs = part_input((INPUT_SIZE, INPUT_SIZE, 3), "encoder")
    x = inputs
    for index, filters in enumerate((f // 2, f, 2 * f, 4 * f, 8 * f)):
        conv = Conv2DBlock(context, filters, name=f"stage{index}_conv")(x)
        pooled = keras.layers.AveragePooling2D(2, name=f"stage{index}_pool")(x)
        pooled = keras.layers.LeakyReLU(negative_slope=0.1, name=f"stage{index}_pool_leakyrelu")(pooled)
        x = keras.layers.Concatenate(name=f"stage{index}_concat")([conv, pooled])
    x = keras.layers.Flatten(name="flatten")(x)
    x = dense(ENCODER_DIMS[features], name="dense0")(x)
    x = keras.layers.Dropout(0.05, name="dropout0")(x)
    x = dense(4 * 4 * 1024, name="dense1")(x)
    x = keras.layers.Dropout(0.05, name="dropout1")(x)
    x = keras.layers.Reshape((4, 4, 1024), name="reshape")(x)
    return part("encoder", inputs, x)


def _hybrid_chain(context: Any, x: Any, ratio: int, filters: tuple[int, ...], name: str) -> Any:
    x = keras.layers.UpSampling2D(ratio, interpolation="bilinear", name=f"{name}_upsampling")(x)
    for index, count in enumerate(filters):
        x = Upscale2xBlock(context, count, name=f"{name}{index}")(x)
    return x


def _mask(context: Any, x: Any, ratio: int) -> Any:
    x = _hybrid_chain(context, x, ratio, (128, 64, 32, 16), "mask_upscale")
    return Conv2DOutput(context, 1, 5, name="mask_out")(x)


def _decoder_a(context: Any, code: tuple[int, ...], ratio: int) -> keras.Model:
    def faces(x: Any) -> Any:
        x = _hybrid_chain(context, x, ratio, (256, 128, 64, 32), "upscale")
        return Conv2DOutput(context, 3, 5, name="face_out")(x)

    return decoder(context, "decoder_a", code, faces, lambda x: _mask(context, x, ratio))


def _good_faces(context: Any, x: Any, ratio: int) -> Any:
    """Hybrid upscales (no activation) → LReLU 0.2 → residuals, with batch norm after stages 1 and 3."""
    plan = ((512, ratio, 3, False), (512, 2, 2, True), (256, 2, 1, False), (128, 2, 1, True))
    for index, (filters, scale, residuals, norm_after) in enumerate(plan):
        x = Upscale2xBlock(context, filters, activation=None, scale_factor=scale,
                           name=f"stage{index}_upscale")(x)
        x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"stage{index}_leakyrelu")(x)
        for res in range(residuals):
            x = ResidualBlock(context, filters, name=f"stage{index}_residual{res}")(x)
        if norm_after:
            x = keras.layers.BatchNormalization(name=f"stage{index}_batchnorm")(x)
    return Upscale2xBlock(context, 64, name="upscale_out")(x)


def _fast_faces(context: Any, x: Any, ratio: int) -> Any:
    x = UpscaleBlock(context, 512, scale_factor=ratio, name="upscale_in")(x)
    for index, filters in enumerate((512, 256, 128, 64)):
        x = Upscale2xBlock(context, filters, fast=True, name=f"upscale{index}")(x)
    return x


def _decoder_b(context: Any, code: tuple[int, ...], ratio: int, details: str) -> keras.Model:
    def faces(x: Any) -> Any:
        x = (_good_faces if details == "good" else _fast_faces)(context, x, ratio)
        return Conv2DOutput(context, 3, 5, name="face_out")(x)

    return decoder(context, "decoder_b", code, faces, lambda x: _mask(context, x, ratio))


def build(config: DlightConfig, context: Any) -> keras.Model:
    ratio = UPSCALE_RATIO[config.output_size]
    enc = _encoder(context, config.features)
    code = tuple(enc.output.shape[1:])
    return shared_encoder_model(NAME, INPUT_SIZE, enc, _decoder_a(context, code, ratio),
                                _decoder_b(context, code, ratio, config.details))
