"""twin64: a compact two-decoder autoencoder, 64 px in and out.

The classic face-swap layout in as few lines as it takes: one encoder shared by both faces learns
what faces have in common, and one decoder per side learns to draw that side's face from the shared
code. Swapping is feeding face A to decoder B.

Encoder: four strided 5x5 convolutions (``filters`` doubling each time, 64 -> 4 px), a dense
bottleneck of ``bottleneck`` units, then a 4x4 grid that one sub-pixel upscale takes to 8x8.
Each decoder: three sub-pixel upscales (8 -> 64 px), a sigmoid 3-channel face and, when the user
turns ``learn_mask`` on, a sigmoid 1-channel mask from the same features.

What fs expects of any model (docs/plugins.md, "The model contract"), and where this file does it:

* inputs ``face_in_a`` and ``face_in_b`` (square, BGR, in [0, 1]) -> :func:`build`;
* the parts ``encoder``, ``decoder_a``, ``decoder_b`` are nested ``keras.Model`` s with exactly
  those names, so ``-f`` can freeze and ``-l`` can load them and weights.h5 stores one group per
  part;
* outputs: side A's face (then A's mask when ``context.learn_mask``), then the same for side B,
  each ending in a float32 sigmoid so mixed precision cannot change the output's range or type;
* convolution kernels come from ``context.kernel_initializer`` so the user's ``icnr_init`` and
  ``conv_aware_init`` options apply to this model as to the built-in ones.
"""

from __future__ import annotations

from typing import Any

import attrs
import keras

from fs_core.config.options import option

NAME = "twin64"
SIZE = 64


@attrs.define
class Twin64Config:
    """The ``[model.twin64]`` section of the config file.

    Both options change the shape of the weights, so they are locked: fixed when the model is
    created and stored in its state.toml; a later config file cannot change them on resume.
    """

    filters: int = option(
        32,
        "Filters of the first encoder convolution; each further one doubles them.",
        choices=(16, 32, 64),
        locked=True,
    )
    bottleneck: int = option(
        256,
        "Units of the dense bottleneck between encoder and decoders.",
        min=64,
        max=1024,
        locked=True,
    )


class PixelShuffle(keras.layers.Layer):
    """Sub-pixel upscale: (H, W, 4C) -> (2H, 2W, C), rearranging channels into space."""

    def call(self, inputs: Any) -> Any:
        return keras.ops.depth_to_space(inputs, 2)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        n, h, w, c = input_shape
        return (n, None if h is None else 2 * h, None if w is None else 2 * w, c // 4)


def _conv(
    context: Any, x: Any, filters: int, name: str, strides: int = 1, kernel_size: int = 5
) -> Any:
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        kernel_initializer=context.kernel_initializer(),
        name=name,
    )(x)
    return keras.layers.LeakyReLU(negative_slope=0.1, name=f"{name}_lrelu")(x)


def _upscale(context: Any, x: Any, filters: int, name: str) -> Any:
    """Conv to 4x the filters (ICNR-initialised when the user asks) and pixel-shuffle to 2x size."""
    x = keras.layers.Conv2D(
        filters * 4,
        3,
        padding="same",
        name=name,
        kernel_initializer=context.kernel_initializer(is_upscale=True),
    )(x)
    x = keras.layers.LeakyReLU(negative_slope=0.1, name=f"{name}_lrelu")(x)
    return PixelShuffle(name=f"{name}_shuffle")(x)


def _output(context: Any, x: Any, channels: int, name: str) -> Any:
    x = keras.layers.Conv2D(
        channels, 5, padding="same", name=name, kernel_initializer=context.kernel_initializer()
    )(x)
    return keras.layers.Activation("sigmoid", dtype="float32", name=f"{name}_sigmoid")(x)


def encoder(config: Twin64Config, context: Any) -> keras.Model:
    """64x64x3 face -> 8x8 code, shared by both sides."""
    face = keras.Input((SIZE, SIZE, 3), name="encoder_in")
    x = face
    for index in range(4):  # 64 -> 32 -> 16 -> 8 -> 4 px
        x = _conv(context, x, config.filters * 2**index, f"conv{index}", strides=2)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(config.bottleneck, name="bottleneck")(x)
    x = keras.layers.Dense(4 * 4 * config.filters * 8, name="grid")(x)
    x = keras.layers.Reshape((4, 4, config.filters * 8), name="grid_reshape")(x)
    return keras.Model(face, _upscale(context, x, config.filters * 8, "upscale"), name="encoder")


def decoder(config: Twin64Config, context: Any, name: str, code_shape: tuple) -> keras.Model:
    """8x8 code -> 64x64 face (and the mask when learn_mask is on), for one side."""
    code = keras.Input(code_shape, name=f"{name}_in")
    x = code
    for index, scale in enumerate((4, 2, 1)):  # 8 -> 16 -> 32 -> 64 px
        x = _upscale(context, x, config.filters * scale, f"upscale{index}")
    outputs = [_output(context, x, 3, "face_out")]
    if context.learn_mask:
        outputs.append(_output(context, x, 1, "mask_out"))
    return keras.Model(code, outputs, name=name)


def build(config: Twin64Config, context: Any) -> keras.Model:
    """The trainable model: inputs [face_in_a, face_in_b], outputs side A's then side B's."""
    shared = encoder(config, context)
    code_shape = tuple(shared.output.shape[1:])
    decoder_a = decoder(config, context, "decoder_a", code_shape)
    decoder_b = decoder(config, context, "decoder_b", code_shape)
    face_a = keras.Input((SIZE, SIZE, 3), name="face_in_a")
    face_b = keras.Input((SIZE, SIZE, 3), name="face_in_b")
    out_a = keras.tree.flatten(decoder_a(shared(face_a)))
    out_b = keras.tree.flatten(decoder_b(shared(face_b)))
    return keras.Model([face_a, face_b], out_a + out_b, name=NAME)
