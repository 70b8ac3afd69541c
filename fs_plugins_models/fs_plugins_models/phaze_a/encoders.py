"""The Phaze-A ``encoder`` part: input scaling, the chosen network, and the bottleneck.

Three kinds of network sit inside it, as in faceswap's plugins/train/model/phaze_a.py: faceswap's
own ``fs_original`` (or its DNY "alt" variant), a ``keras.applications`` network without its top,
or a CLIP vision transformer (:mod:`.clip`). Pretrained networks see RGB input scaled the way they
were trained; fs faces are BGR in [0, 1], so the encoder itself reverses the channels and rescales.
Doing it inside the model keeps the whole model BGR-in/BGR-out, so the data pipeline never needs
to know which encoder was chosen.
"""

from __future__ import annotations

import inspect
from typing import Any

import keras

from fs_core.errors import FsUserError
from fs_core.model.context import BuildContext
from fs_plugins_models.blocks import Conv2DBlock, InstanceNormalization, RMSNormalization, dense
from fs_plugins_models.phaze_a import geometry as geo
from fs_plugins_models.phaze_a import weights as pretrained
from fs_plugins_models.phaze_a.clip import build_clip
from fs_plugins_models.phaze_a.config import PhazeAConfig


@keras.saving.register_keras_serializable(package="fs_phaze_a")
class ReverseChannels(keras.layers.Layer):
    """BGR <-> RGB: reverse the last axis (no weights)."""

    def call(self, inputs: Any) -> Any:
        return keras.ops.flip(inputs, axis=-1)


def fs_original(
    context: BuildContext, x: keras.KerasTensor, config: PhazeAConfig
) -> keras.KerasTensor:
    """faceswap's encoder: ``depth`` strided k5 Conv2DBlocks, filters doubling up to the max."""
    filters = config.fs_original_min_filters
    for index in range(config.fs_original_depth):
        x = Conv2DBlock(
            context, filters, 5, strides=2, relu_alpha=0.1, name=f"fs_enc_convblk_{index}"
        )(x)
        filters = min(config.fs_original_max_filters, filters * 2)
    return x


def fs_original_alt(
    context: BuildContext, x: keras.KerasTensor, config: PhazeAConfig
) -> keras.KerasTensor:
    """The DNY variant: a 1x1 conv, then per level conv(f) -> conv(2f) -> max-pool (stride 1, k3,
    LReLU 0.2); the last level ends in a k4 ``valid`` conv instead of the pool.

    With reflect padding on, faceswap's Conv2DBlock (lib/model/nn_blocks.py) reflect-pads every
    convolution, whatever padding was asked for, so that last k4 conv keeps its input's size
    (4x4 at the dny presets) instead of shrinking it to 1x1; asking for ``same`` here gives exactly
    that padding.
    """
    filters = config.fs_original_min_filters
    x = Conv2DBlock(context, filters, 1, strides=1, relu_alpha=0.2, name="fs_dny_enc_entry")(x)
    depth = config.fs_original_depth
    for index in range(depth):
        x = Conv2DBlock(
            context, filters, 3, strides=1, relu_alpha=0.2, name=f"fs_dny_enc_convblk_{index}"
        )(x)
        filters = min(config.fs_original_max_filters, filters * 2)
        last = index == depth - 1
        x = Conv2DBlock(
            context,
            filters,
            4 if last else 3,
            strides=1,
            padding="valid" if last and not context.reflect_padding else "same",
            relu_alpha=0.2,
            name=f"fs_dny_enc_convblk_{index}_1",
        )(x)
        if not last:
            x = keras.layers.MaxPooling2D(2, name=f"fs_dny_enc_pool_{index}")(x)
    return x


def _keras_kwargs(config: PhazeAConfig) -> dict[str, Any]:
    arch = config.enc_architecture
    if arch == "mobilenet":
        return {
            "alpha": config.mobilenet_width,
            "depth_multiplier": config.mobilenet_depth,
            "dropout": config.mobilenet_dropout,
        }
    if arch == "mobilenet_v2":
        return {"alpha": config.mobilenet_width}
    if arch.startswith("mobilenet_v3"):
        return {
            "alpha": config.mobilenet_width,
            "minimalistic": config.mobilenet_minimalistic,
            "include_preprocessing": False,
        }
    if arch.startswith("efficientnet_v2"):
        return {"include_preprocessing": False}
    return {}


def keras_application(config: PhazeAConfig, size: int) -> keras.Model:
    """A ``keras.applications`` network without its top; ImageNet weights only from the cache."""
    info = geo.ENCODERS[config.enc_architecture]
    constructor = getattr(keras.applications, info.keras_name)
    kwargs = _keras_kwargs(config)
    if "name" in inspect.signature(constructor).parameters:
        kwargs["name"] = geo.keras_model_name(config.enc_architecture)
    weights_file = pretrained.keras_weights_path(config, size) if config.enc_load_weights else None
    try:
        model = constructor(include_top=False, weights=None, input_shape=(size, size, 3), **kwargs)
    except ValueError as err:
        raise FsUserError(
            f"[model.phaze_a] enc_architecture: {config.enc_architecture} cannot be "
            f"built at {size} px with these options: {err}"
        ) from err
    if weights_file is not None:
        pretrained.load_keras_weights(model, weights_file)
    return model


def _scale(x: keras.KerasTensor, scaling: tuple[int, int]) -> keras.KerasTensor:
    if scaling == (0, 255):
        return keras.layers.Rescaling(255.0, name="scale_0_255")(x)
    if scaling == (-1, 1):
        return keras.layers.Rescaling(2.0, offset=-1.0, name="scale_signed")(x)
    return x


def bottleneck(
    x: keras.KerasTensor, config: PhazeAConfig, name: str = "bottleneck"
) -> keras.KerasTensor:
    """[norm] -> (flatten for dense) -> Dense / global avg / global max / nothing -> flatten."""
    norm = config.bottleneck_norm
    if norm == "layer":
        x = keras.layers.LayerNormalization(name=f"{name}_layernorm")(x)
    elif norm == "rms":
        x = RMSNormalization(name=f"{name}_rmsnorm")(x)
    elif norm == "instance":
        x = InstanceNormalization(name=f"{name}_instancenorm")(x)
    kind = config.bottleneck_type
    if kind == "dense" and len(x.shape) > 2:
        x = keras.layers.Flatten(name=f"{name}_flatten_in")(x)
    if kind == "dense":
        x = dense(config.bottleneck_size, name=f"{name}_dense")(x)
    elif kind == "average_pooling":
        x = keras.layers.GlobalAveragePooling2D(name=f"{name}_avgpool")(x)
    elif kind == "max_pooling":
        x = keras.layers.GlobalMaxPooling2D(name=f"{name}_maxpool")(x)
    if len(x.shape) > 2:
        x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    return x


def build_encoder(context: BuildContext, config: PhazeAConfig) -> keras.Model:
    """The ``encoder`` part, shared by both sides."""
    size = geo.input_size(config)
    info = geo.ENCODERS[config.enc_architecture]
    inputs = keras.Input((size, size, 3), name="encoder_in")
    x = inputs
    if info.color_order == "rgb":
        x = ReverseChannels(name="bgr_to_rgb")(x)
    x = _scale(x, info.scaling)
    if info.kind == "fs":
        x = (fs_original_alt if config.fs_original_use_alt else fs_original)(context, x, config)
    elif info.kind == "keras":
        x = keras_application(config, size)(x)
    else:
        x = build_clip(config, size)(x)
    if config.bottleneck_in_encoder:
        x = bottleneck(x, config)
    return keras.Model(inputs, x, name="encoder")
