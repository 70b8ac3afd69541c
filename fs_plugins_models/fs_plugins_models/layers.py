"""Custom Keras layers the architectures share (convolution, padding, pixel shuffle, swish,
resize, pooling).

Each layer is registered under the ``fs`` package so a saved ``.keras`` file can be reloaded, and
each one is written with ``keras.ops`` only, so it runs on any Keras backend and traces under
``tf.function``. Images are NHWC.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops


def _spatial_size(value: Any, what: str) -> int:
    if value is None:
        raise ValueError(
            f"{what} needs a known spatial size; build the model with a fixed input size"
        )
    return int(value)


def _has_gpu() -> bool:
    """Whether Keras' backend sees a GPU (JAX raises instead of answering "none" on a machine
    without one; Keras has no distribution library for torch, so there the device Keras puts a
    new tensor on says)."""
    try:
        return bool(keras.distribution.list_devices("gpu"))
    except RuntimeError:
        return False
    except AttributeError:
        return "cpu" not in str(keras.ops.convert_to_tensor(0.0).device).lower()


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's ``same`` padding of one axis: (before, after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


@keras.saving.register_keras_serializable(package="fs")
class Conv2D(keras.layers.Conv2D):
    """Keras ``Conv2D`` that computes a small output map as one matrix product on the CPU.

    Why: on a CPU, oneDNN's convolution kernels reach only about 40-50% of the machine's matrix
    product speed when the output map is tiny (Original's last encoder convolution, 8x8 -> 4x4,
    and its 4x4 upscale convolution), while the same arithmetic written as
    ``patches (batch*pixels, kh*kw*cin) @ kernel (kh*kw*cin, cout)`` runs at matrix-product speed:
    the two layers train about 1.8-2x faster (``bench/RESULTS.md``). The patches come from one
    gather with indices fixed at build time. Weights, their names and the outputs (to float
    rounding) are those of Keras' Conv2D, so saved models load either way.

    The matrix path is used only where it was measured to win: output maps of at most
    :attr:`matmul_max_pixels` pixels, no dilation or groups, channels-last, a known input size and
    no GPU (cuDNN has no such weakness). Everything else is Keras' own convolution.
    """

    matmul_max_pixels = 16  # a tuning constant; bench/bench_train.py --compare sets 0

    def build(self, input_shape: tuple) -> None:
        super().build(input_shape)
        self._patches = self._patch_plan(input_shape)

    def _patch_plan(self, input_shape: tuple) -> tuple | None:
        """(pads, flat patch indices, output size) when the matrix path applies, else None."""
        height, width = input_shape[1], input_shape[2]
        if (
            self.data_format != "channels_last"
            or self.groups != 1
            or height is None
            or width is None
            or tuple(self.dilation_rate) != (1, 1)
            or _has_gpu()
        ):
            return None
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        if self.padding == "same":
            pad_h, pad_w = _same_padding(height, kh, sh), _same_padding(width, kw, sw)
        else:
            pad_h, pad_w = (0, 0), (0, 0)
        padded_w = width + sum(pad_w)
        out_h = (height + sum(pad_h) - kh) // sh + 1
        out_w = (padded_w - kw) // sw + 1
        if out_h * out_w > self.matmul_max_pixels:
            return None
        rows = np.arange(out_h)[:, None, None, None] * sh + np.arange(kh)[None, None, :, None]
        cols = np.arange(out_w)[None, :, None, None] * sw + np.arange(kw)[None, None, None, :]
        indices = (rows * padded_w + cols).reshape(-1).astype("int32")
        return pad_h, pad_w, indices, (out_h, out_w)

    def convolution_op(self, inputs: Any, kernel: Any) -> Any:
        plan = getattr(self, "_patches", None)
        if plan is None:
            return super().convolution_op(inputs, kernel)
        pad_h, pad_w, indices, (out_h, out_w) = plan
        channels = inputs.shape[-1]
        x = inputs
        if any(pad_h) or any(pad_w):
            x = ops.pad(x, [[0, 0], list(pad_h), list(pad_w), [0, 0]])
        x = ops.reshape(x, (-1, x.shape[1] * x.shape[2], channels))
        patches = ops.take(x, indices, axis=1)  # (batch, pixels * kh * kw, cin)
        taps = kernel.shape[0] * kernel.shape[1] * channels
        y = ops.matmul(ops.reshape(patches, (-1, taps)), ops.reshape(kernel, (taps, self.filters)))
        return ops.reshape(y, (-1, out_h, out_w, self.filters))


@keras.saving.register_keras_serializable(package="fs")
class ReflectionPadding2D(keras.layers.Layer):
    """Reflect-pad so that a following ``valid`` convolution behaves like ``same`` padding.

    Total pad per spatial axis is ``max(k - s, 0)`` when the size divides by the stride, else
    ``max(k - size % s, 0)`` (TensorFlow's ``same`` padding); the top/left gets half (rounded
    down) and the bottom/right the rest.
    Reflection avoids the dark border zero padding teaches the network near the image edge.
    """

    def __init__(self, stride: int = 2, kernel_size: int = 5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stride = int(stride)
        self.kernel_size = int(kernel_size)

    def _pads(self, size: int) -> tuple[int, int]:
        return _same_padding(size, self.kernel_size, self.stride)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        height = _spatial_size(input_shape[1], self.name)
        width = _spatial_size(input_shape[2], self.name)
        return (
            input_shape[0],
            height + sum(self._pads(height)),
            width + sum(self._pads(width)),
            input_shape[3],
        )

    def call(self, inputs: Any) -> Any:
        height = _spatial_size(inputs.shape[1], self.name)
        width = _spatial_size(inputs.shape[2], self.name)
        return ops.pad(
            inputs,
            [[0, 0], list(self._pads(height)), list(self._pads(width)), [0, 0]],
            mode="reflect",
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "stride": self.stride, "kernel_size": self.kernel_size}


@keras.saving.register_keras_serializable(package="fs")
class PixelShuffler(keras.layers.Layer):
    """Sub-pixel upscale: depth-to-space in DCR order, identical to ``tf.nn.depth_to_space``.

    ``(H, W, C*r*r)`` is viewed as ``(H, W, r, r, C)``, the two ``r`` axes are interleaved with the
    spatial ones, giving ``(H*r, W*r, C)``; input channel ``(i*r + j)*C + c`` lands at sub-pixel
    ``(i, j)`` of output channel ``c``. ICNR initialisation relies on exactly this order.
    """

    def __init__(self, size: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = int(size)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        batch, height, width, channels = input_shape
        r = self.size
        return (
            batch,
            None if height is None else height * r,
            None if width is None else width * r,
            channels // (r * r),
        )

    def call(self, inputs: Any) -> Any:
        r = self.size
        shape = ops.shape(inputs)
        height, width, channels = shape[1], shape[2], inputs.shape[3]
        out_channels = channels // (r * r)
        x = ops.reshape(inputs, (-1, height, width, r, r, out_channels))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, height * r, width * r, out_channels))

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size}


@keras.saving.register_keras_serializable(package="fs")
class Swish(keras.layers.Layer):
    """``swish(beta * x) = beta * x * sigmoid(beta * x)`` (beta scales the linear term too)."""

    def __init__(self, beta: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.beta = float(beta)

    def call(self, inputs: Any) -> Any:
        scaled = inputs * self.beta
        return scaled * ops.sigmoid(scaled)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "beta": self.beta}


@keras.saving.register_keras_serializable(package="fs")
class KResizeImages(keras.layers.Layer):
    """Resize images by a scale factor (``size`` 2 doubles, 0.5 halves) with ``interpolation``."""

    def __init__(self, size: float = 2, interpolation: str = "nearest", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = size
        self.interpolation = interpolation

    def _target(self, height: Any, width: Any) -> tuple[int, int]:
        return (
            int(round(_spatial_size(height, self.name) * self.size)),
            int(round(_spatial_size(width, self.name) * self.size)),
        )

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], *self._target(input_shape[1], input_shape[2]), input_shape[3])

    def call(self, inputs: Any) -> Any:
        return ops.image.resize(
            inputs, self._target(inputs.shape[1], inputs.shape[2]), interpolation=self.interpolation
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size, "interpolation": self.interpolation}


@keras.saving.register_keras_serializable(package="fs")
class GlobalMinPooling2D(keras.layers.Layer):
    """Per-channel minimum over height and width: ``(N, H, W, C) -> (N, C)``."""

    def call(self, inputs: Any) -> Any:
        return ops.min(inputs, axis=(1, 2))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], input_shape[3])


@keras.saving.register_keras_serializable(package="fs")
class GlobalStdDevPooling2D(keras.layers.Layer):
    """Per-channel standard deviation over height and width: ``(N, H, W, C) -> (N, C)``."""

    def call(self, inputs: Any) -> Any:
        return ops.std(inputs, axis=(1, 2))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], input_shape[3])
