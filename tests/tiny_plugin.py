"""A tiny model and loss registered like any pack, for fast tests of the core (not shipped)."""

from __future__ import annotations

import attrs
import keras

from fs_core import hookimpl
from fs_core.config.options import option
from fs_core.descriptors import LossDescriptor, ModelDescriptor


@attrs.define
class TinyConfig:
    size: int = option(32, "Input and output size.", choices=(16, 32, 64), locked=True)
    filters: int = option(8, "Encoder filters.", min=4, max=64, locked=True)
    batchnorm: bool = option(
        False, "BatchNormalization after the first convolution (non-trainable state).", locked=True
    )


def _part(name: str, inputs, outputs) -> keras.Model:
    return keras.Model(inputs, outputs, name=name)


def build_tiny(config: TinyConfig, context) -> keras.Model:
    size, f = config.size, config.filters
    face = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(f, 3, strides=2, padding="same", activation="relu")(face)
    if config.batchnorm:
        x = keras.layers.BatchNormalization(name="batchnorm")(x)
    encoder = _part("encoder", face, keras.layers.Conv2D(2 * f, 3, strides=2, padding="same")(x))
    code = keras.Input(encoder.output.shape[1:])

    def decoder(name: str) -> keras.Model:
        y = keras.layers.Conv2DTranspose(f, 3, strides=4, padding="same", activation="relu")(code)
        outputs = [
            keras.layers.Activation("sigmoid", dtype="float32")(
                keras.layers.Conv2D(3, 3, padding="same")(y)
            )
        ]
        if context.learn_mask:
            outputs.append(
                keras.layers.Activation("sigmoid", dtype="float32")(
                    keras.layers.Conv2D(1, 3, padding="same")(y)
                )
            )
        return _part(name, code, outputs)

    decoder_a, decoder_b = decoder("decoder_a"), decoder("decoder_b")
    in_a, in_b = (
        keras.Input((size, size, 3), name="face_in_a"),
        keras.Input((size, size, 3), name="face_in_b"),
    )
    out_a = decoder_a(encoder(in_a))
    out_b = decoder_b(encoder(in_b))
    out_a = out_a if isinstance(out_a, list) else [out_a]
    out_b = out_b if isinstance(out_b, list) else [out_b]
    return keras.Model([in_a, in_b], out_a + out_b, name="tiny")


@hookimpl
def fs_models():
    return [
        ModelDescriptor(
            name="tiny", help="A tiny test model", config_class=TinyConfig, build=build_tiny
        )
    ]


@hookimpl
def fs_losses():
    return [
        LossDescriptor(
            name="tiny_l1",
            per_pixel=True,
            function=lambda t, p: keras.ops.abs(t - p),
            help="test L1",
        ),
        LossDescriptor(
            name="tiny_nan",
            per_pixel=True,
            function=lambda t, p: keras.ops.abs(t - p) * float("nan"),
            help="always NaN",
        ),
    ]
