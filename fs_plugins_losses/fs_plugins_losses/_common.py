"""Small ``keras.ops`` helpers the loss modules share: padding, per-channel filtering, kernels.

They work on NHWC tensors with a dynamic batch dimension and static height/width/channels where a
kernel has to be built (the model's output sizes are static). Everything is ``keras.ops``, so the
losses run on any Keras backend and trace inside ``tf.function`` on TensorFlow.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops

Tensor = Any  # a backend tensor (tf.Tensor, torch.Tensor, jax.Array) or a NumPy array


def constant(values: np.ndarray) -> Tensor:
    """A float32 backend tensor of NumPy ``values``, to combine with images by arithmetic.

    Operators do not convert NumPy arrays on every backend (a torch tensor on a GPU cannot be
    multiplied by one); ``ops`` functions convert their arguments themselves.
    """
    return ops.convert_to_tensor(np.asarray(values, np.float32))


def static_hw(image: Tensor) -> tuple[int, int]:
    """Height and width of an NHWC tensor; they must be known when the graph is traced."""
    height, width = image.shape[1], image.shape[2]
    if height is None or width is None:
        raise ValueError("losses need static image height and width (model outputs have them)")
    return int(height), int(width)


def static_channels(image: Tensor) -> int:
    """Channel count of an NHWC tensor; kernels are built for it when the graph is traced."""
    channels = image.shape[-1]
    if channels is None:
        raise ValueError("losses need a static channel count")
    return int(channels)


def split_last(image: Tensor, count: int) -> Tensor:
    """(N, H, W, C·count) -> (N, H, W, C, count), the layout :func:`filter_channels` gives."""
    height, width = static_hw(image)
    return ops.reshape(image, (-1, height, width, static_channels(image) // count, count))


def pad_replicate(image: Tensor, pad_h: int, pad_w: int | None = None) -> Tensor:
    """Pad H and W by repeating the edge pixels (no size limit, unlike REFLECT/SYMMETRIC).

    Built from tiled edge slices and a concat, whose gradients are cheap sums (a gather with
    clipped indices would need a scatter in the backward pass).
    """
    pad_w = pad_h if pad_w is None else pad_w
    if pad_h:
        top = ops.tile(image[:, :1], [1, pad_h, 1, 1])
        bottom = ops.tile(image[:, -1:], [1, pad_h, 1, 1])
        image = ops.concatenate([top, image, bottom], axis=1)
    if pad_w:
        left = ops.tile(image[:, :, :1], [1, 1, pad_w, 1])
        right = ops.tile(image[:, :, -1:], [1, 1, pad_w, 1])
        image = ops.concatenate([left, image, right], axis=2)
    return image


def pad_reflect(image: Tensor, pad_h: int, pad_w: int | None = None) -> Tensor:
    """Mirror padding without repeating the edge (numpy/torch 'reflect')."""
    pad_w = pad_h if pad_w is None else pad_w
    return ops.pad(image, [[0, 0], [pad_h, pad_h], [pad_w, pad_w], [0, 0]], mode="reflect")


def depthwise(image: Tensor, weights: np.ndarray) -> Tensor:
    """VALID depthwise correlation with a ``(kh, kw, C, K)`` kernel, stride 1."""
    return ops.depthwise_conv(
        image,
        np.asarray(weights, np.float32),
        strides=1,
        padding="valid",
        data_format="channels_last",
    )


def filter_channels(image: Tensor, kernel: np.ndarray) -> Tensor:
    """Correlate every channel of an (already padded) NHWC image with a 2-D or (kh, kw, K) kernel.

    Returns ``(N, H', W', C*K)``; with K kernels the K outputs of channel c are adjacent
    (``c*K + k``), as a depthwise convolution orders them. VALID padding: pad first.
    """
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim == 2:
        kernel = kernel[:, :, None]
    weights = np.tile(kernel[:, :, None, :], (1, 1, static_channels(image), 1))
    return depthwise(image, weights)


def gaussian_line(size: int, sigma: float) -> np.ndarray:
    """A normalized 1-D Gaussian of ``size`` taps centred on the middle one."""
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    line = np.exp(-(coords**2) / (2.0 * sigma**2))
    return (line / line.sum()).astype(np.float32)


def blur_separable(image: Tensor, line: np.ndarray) -> Tensor:
    """Correlate every channel of an (already padded) image with ``outer(line, line)``.

    Two 1-D passes (width, then height): 2k multiplies per pixel instead of k², same result.
    """
    channels = static_channels(image)
    taps = np.asarray(line, np.float32)
    along_w = np.tile(taps[None, :, None, None], (1, 1, channels, 1))
    along_h = np.tile(taps[:, None, None, None], (1, 1, channels, 1))
    return depthwise(depthwise(image, along_w), along_h)


def average_pool2(image: Tensor) -> Tensor:
    """2×2 average pooling, stride 2, VALID (an odd last row/column is dropped)."""
    return ops.average_pool(
        image, pool_size=2, strides=2, padding="valid", data_format="channels_last"
    )


def downsample2(image: Tensor) -> Tensor:
    """2×2 average pooling; odd sizes first get one replicated row/column at the end."""
    height, width = static_hw(image)
    if height % 2 or width % 2:
        image = ops.pad(image, [[0, 0], [0, height % 2], [0, width % 2], [0, 0]], mode="symmetric")
    return average_pool2(image)


def upsample_to(image: Tensor, height: int, width: int) -> Tensor:
    """Bilinear resize to (height, width) with half-pixel centres (torch align_corners=False)."""
    if tuple(image.shape[1:3]) == (height, width):
        return image
    return ops.image.resize(
        image,
        (height, width),
        interpolation="bilinear",
        antialias=False,
        data_format="channels_last",
    )


def positive_pow(base: Tensor, exponent: float | Tensor) -> Tensor:
    """``base ** exponent`` for a strictly positive base, as exp(exponent·log(base)).

    Same value as ``ops.power`` but several times faster forward and backward on CPU (the Pow
    gradient also differentiates the exponent). Callers floor the base above zero first.
    """
    return ops.exp(exponent * ops.log(base))


def generalized_loss(
    y_true: Tensor, y_pred: Tensor, alpha: float = 1.0, beta: float = 1.0 / 255.0
) -> Tensor:
    """Barron's general robust loss, per element, scaled by beta.

    ``beta * |2-alpha|/alpha * [((d/beta)^2/|2-alpha| + 1)^(alpha/2) - 1]`` with d = p - t.
    alpha=1 is a Charbonnier / pseudo-Huber; alpha near 2 approaches a scaled L2.
    """
    diff = y_pred - y_true
    shape = abs(2.0 - alpha)
    base = ops.square(diff / beta) / shape + 1.0  # >= 1, so the log is safe
    inner = positive_pow(base, alpha / 2.0) - 1.0
    return beta * (shape / alpha) * inner
