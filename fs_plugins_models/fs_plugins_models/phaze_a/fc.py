"""The fully connected parts: ``fc_a``/``fc_b`` (or ``fc_both``), ``fc_shared`` and ``fc_gblock``.

Each takes the encoder output, runs Dropout -> Dense for every node count of its curve, and (except
``fc_gblock``, whose output is the G-Block's style vector) reshapes to a ``fc_dimensions`` square,
upsamples it, and runs the first ``dec_upscales_in_fc`` decoder upscales. Dropout layers are named
``fc_dropout_<n>`` / ``fc_gblock_dropout_<n>`` so the changeable rates can be found on resume.
"""

from __future__ import annotations

import keras
import numpy as np

from fs_core.errors import FsUserError
from fs_core.model.context import BuildContext
from fs_plugins_models.blocks import dense
from fs_plugins_models.phaze_a import geometry as geo
from fs_plugins_models.phaze_a.config import PhazeAConfig
from fs_plugins_models.phaze_a.decoder import run_upscales, upscaler
from fs_plugins_models.phaze_a.encoders import bottleneck


def upsample(
    context: BuildContext, config: PhazeAConfig, x: keras.KerasTensor
) -> keras.KerasTensor:
    """The fc upsamplers: ``fc_upsamples`` doublings with ``fc_upsampler``.

    upsample2d does several doublings as one bilinear UpSampling2D (a single doubling is nearest),
    and is followed by LReLU 0.1; the other upsamplers are blocks with their own LReLU.
    """
    method = config.fc_upsampler
    count = config.fc_upsamples
    if method == "upsample2d" and count > 1:
        x = keras.layers.UpSampling2D(2**count, interpolation="bilinear", name="fc_upsample")(x)
    else:
        filters = geo.scale_filters(config, config.fc_upsample_filters)
        for index in range(count):
            if method == "upsample2d":
                x = keras.layers.UpSampling2D(name=f"fc_upsample_{index}")(x)
            else:
                x = upscaler(context, method, filters, f"fc_upsample_{index}")(x)
    if method == "upsample2d":
        x = keras.layers.LeakyReLU(negative_slope=0.1, name="fc_upsample_leakyrelu")(x)
    return x


def build_fc(
    context: BuildContext, config: PhazeAConfig, side: str, input_shape: tuple[int, ...]
) -> keras.Model:
    """The ``fc_<side>`` part (side: a, b, both, shared or gblock)."""
    gblock = side == "gblock"
    prefix = "fc_gblock" if gblock else "fc"
    rate = config.fc_gblock_dropout if gblock else config.fc_dropout
    inputs = keras.Input(tuple(input_shape), name=f"fc_{side}_in")
    x = inputs
    if not config.bottleneck_in_encoder:
        x = bottleneck(x, config)
    if len(x.shape) > 2:
        x = keras.layers.Flatten(name="fc_flatten")(x)
    for index, nodes in enumerate(geo.fc_node_curve(config, gblock)):
        x = keras.layers.Dropout(rate, name=f"{prefix}_dropout_{index + 1}")(x)
        x = dense(nodes, name=f"{prefix}_dense_{index}")(x)
    if gblock:
        return keras.Model(inputs, x, name=f"fc_{side}")
    dim = config.fc_dimensions
    nodes = geo.fc_nodes(config)[1]
    if int(np.prod(x.shape[1:])) != nodes:
        raise FsUserError(
            f"[model.phaze_a] fc_depth: with fc_depth 0 the encoder output "
            f"({int(np.prod(x.shape[1:]))} values) must equal fc_dimensions² x "
            f"fc_max_filters ({nodes}); change bottleneck_size/type or fc_depth"
        )
    x = keras.layers.Reshape((dim, dim, nodes // dim**2), name="fc_reshape")(x)
    x = upsample(context, config, x)
    if not config.dec_upscales_in_fc:
        return keras.Model(inputs, x, name=f"fc_{side}")
    mask = x if context.learn_mask else None
    face, mask = run_upscales(context, config, x, mask, 0, config.dec_upscales_in_fc)
    outputs = [face, mask] if mask is not None else face
    return keras.Model(inputs, outputs, name=f"fc_{side}")
