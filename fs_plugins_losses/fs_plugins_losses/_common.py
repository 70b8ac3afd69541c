"""Small TensorFlow helpers the loss modules share: padding, per-channel filtering, kernels.

They work on NHWC tensors with a dynamic batch dimension and static height/width/channels where a
kernel has to be built (the model's output sizes are static). Everything is plain TensorFlow so it
traces inside ``tf.function``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def static_hw(image: tf.Tensor) -> tuple[int, int]:
    """Height and width of an NHWC tensor; they must be known when the graph is traced."""
    height, width = image.shape[1], image.shape[2]
    if height is None or width is None:
        raise ValueError("losses need static image height and width (model outputs have them)")
    return int(height), int(width)


def pad_replicate(image: tf.Tensor, pad_h: int, pad_w: int | None = None) -> tf.Tensor:
    """Pad H and W by repeating the edge pixels (no size limit, unlike REFLECT/SYMMETRIC).

    Built from tiled edge slices and a concat, whose gradients are cheap sums (a gather with
    clipped indices would need a scatter in the backward pass).
    """
    pad_w = pad_h if pad_w is None else pad_w
    if pad_h:
        top = tf.tile(image[:, :1], [1, pad_h, 1, 1])
        bottom = tf.tile(image[:, -1:], [1, pad_h, 1, 1])
        image = tf.concat([top, image, bottom], axis=1)
    if pad_w:
        left = tf.tile(image[:, :, :1], [1, 1, pad_w, 1])
        right = tf.tile(image[:, :, -1:], [1, 1, pad_w, 1])
        image = tf.concat([left, image, right], axis=2)
    return image


def pad_reflect(image: tf.Tensor, pad_h: int, pad_w: int | None = None) -> tf.Tensor:
    """Mirror padding without repeating the edge (numpy/torch 'reflect')."""
    pad_w = pad_h if pad_w is None else pad_w
    return tf.pad(image, [[0, 0], [pad_h, pad_h], [pad_w, pad_w], [0, 0]], mode="REFLECT")


def filter_channels(image: tf.Tensor, kernel: np.ndarray) -> tf.Tensor:
    """Correlate every channel of an (already padded) NHWC image with a 2-D or (kh, kw, K) kernel.

    Returns ``(N, H', W', C*K)``; with K kernels the K outputs of channel c are adjacent
    (``c*K + k``), as ``depthwise_conv2d`` orders them. VALID padding: pad first.
    """
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim == 2:
        kernel = kernel[:, :, None]
    channels = image.shape[-1]
    if channels is None:
        raise ValueError("losses need a static channel count")
    weights = np.tile(kernel[:, :, None, :], (1, 1, int(channels), 1))
    return tf.nn.depthwise_conv2d(
        image, tf.constant(weights), strides=[1, 1, 1, 1], padding="VALID"
    )


def gaussian_line(size: int, sigma: float) -> np.ndarray:
    """A normalized 1-D Gaussian of ``size`` taps centred on the middle one."""
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    line = np.exp(-(coords**2) / (2.0 * sigma**2))
    return (line / line.sum()).astype(np.float32)


def blur_separable(image: tf.Tensor, line: np.ndarray) -> tf.Tensor:
    """Correlate every channel of an (already padded) image with ``outer(line, line)``.

    Two 1-D passes (width, then height): 2k multiplies per pixel instead of k², same result.
    """
    channels = image.shape[-1]
    if channels is None:
        raise ValueError("losses need a static channel count")
    taps = np.asarray(line, np.float32)
    along_w = np.tile(taps[None, :, None, None], (1, 1, int(channels), 1))
    along_h = np.tile(taps[:, None, None, None], (1, 1, int(channels), 1))
    rows = tf.nn.depthwise_conv2d(image, tf.constant(along_w), [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(rows, tf.constant(along_h), [1, 1, 1, 1], "VALID")


def downsample2(image: tf.Tensor) -> tf.Tensor:
    """2×2 average pooling; odd sizes first get one replicated row/column at the end."""
    height, width = static_hw(image)
    if height % 2 or width % 2:
        image = tf.pad(image, [[0, 0], [0, height % 2], [0, width % 2], [0, 0]], mode="SYMMETRIC")
    return tf.nn.avg_pool2d(image, ksize=2, strides=2, padding="VALID")


def upsample_to(image: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """Bilinear resize to (height, width) with half-pixel centres (torch align_corners=False)."""
    if tuple(image.shape[1:3]) == (height, width):
        return image
    return tf.image.resize(image, (height, width), method="bilinear")


def positive_pow(base: tf.Tensor, exponent) -> tf.Tensor:
    """``base ** exponent`` for a strictly positive base, as exp(exponent·log(base)).

    Same value as ``tf.pow`` but several times faster forward and backward on CPU (the Pow
    gradient also differentiates the exponent). Callers floor the base above zero first.
    """
    return tf.exp(exponent * tf.math.log(base))


def generalized_loss(
    y_true: tf.Tensor, y_pred: tf.Tensor, alpha: float = 1.0, beta: float = 1.0 / 255.0
) -> tf.Tensor:
    """Barron's general robust loss, per element, scaled by beta.

    ``beta * |2-alpha|/alpha * [((d/beta)^2/|2-alpha| + 1)^(alpha/2) - 1]`` with d = p - t.
    alpha=1 is a Charbonnier / pseudo-Huber; alpha near 2 approaches a scaled L2.
    """
    diff = y_pred - y_true
    shape = abs(2.0 - alpha)
    base = tf.square(diff / beta) / shape + 1.0  # >= 1, so the log is safe
    inner = positive_pow(base, alpha / 2.0) - 1.0
    return beta * (shape / alpha) * inner
