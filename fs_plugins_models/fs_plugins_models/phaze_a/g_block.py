"""The StyleGAN-inspired G-Block (``g_block_a``/``g_block_b`` or ``g_block_both``).

Inputs: the fc feature map and the style vector from ``fc_gblock``. The style goes through three
Dense(512, he_normal) layers; the map through a conv and noise, then two rounds of AdaIN modulated
by two style projections (beta, gamma), plus learned per-channel noise. The raw Keras convolutions
here keep Keras' default initializer, as in faceswap; only the first conv is a faceswap conv.
"""

from __future__ import annotations

import keras

from fs_core.model.context import BuildContext
from fs_plugins_models.blocks import AdaInstanceNormalization, conv2d

STYLE_NODES = 512
STYLE_LAYERS = 3
RECURSIONS = 2


def build_gblock(
    context: BuildContext, side: str, feature_shape: tuple[int, ...], style_shape: tuple[int, ...]
) -> keras.Model:
    name = f"g_block_{side}"
    feature_in = keras.Input(tuple(feature_shape), name=f"{name}_in")
    style_in = keras.Input(tuple(style_shape), name=f"{name}_style_in")
    style = style_in
    for index in range(STYLE_LAYERS):
        style = keras.layers.Dense(
            STYLE_NODES, kernel_initializer="he_normal", name=f"style_dense_{index}"
        )(style)
        if index != STYLE_LAYERS - 1:
            style = keras.layers.LeakyReLU(negative_slope=0.1, name=f"style_leakyrelu_{index}")(
                style
            )
    filters = int(feature_shape[-1])
    x = conv2d(context, filters, 3, name="entry_conv")(feature_in)
    x = keras.layers.GaussianNoise(1.0, name="entry_noise")(x)
    for index in range(RECURSIONS):
        beta, gamma = (
            keras.layers.Reshape((1, 1, filters), name=f"ada_{role}_reshape_{index}")(
                keras.layers.Dense(filters, name=f"ada_{role}_{index}")(style)
            )
            for role in ("beta", "gamma")
        )
        noise = keras.layers.GaussianNoise(1.0, name=f"noise_{index}")(x)
        noise = keras.layers.Conv2D(filters, 1, padding="same", name=f"noise_conv_{index}")(noise)
        if index == RECURSIONS - 1:
            x = keras.layers.Conv2D(filters, 3, padding="same", name=f"conv_{index}")(x)
        x = AdaInstanceNormalization(dtype="float32", name=f"adain_{index}")([x, beta, gamma])
        x = keras.layers.Add(name=f"add_noise_{index}")([x, noise])
        x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"leakyrelu_{index}")(x)
    return keras.Model([feature_in, style_in], x, name=name)
