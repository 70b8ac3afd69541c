"""TensorFlow's parts of the training extensions: stateless random masks (LR dropout) and the step
counter that keys them; the style losses' blur, colour statistics (``tf.nn.moments``, whose
rounding ``keras.ops.moments`` does not repeat) and SSIM (``tf.image.ssim``)."""

from __future__ import annotations

from typing import Any

import tensorflow as tf


def keep_mask(shape: Any, rate: float, seed: Any) -> Any:
    """1.0 where the update is kept (probability ``1 - rate``), else 0.0; ``seed`` int64 (2,)."""
    return tf.cast(tf.random.stateless_uniform(shape, seed=seed) >= rate, tf.float32)


def counter(start: int) -> Any:
    """An int64 step counter variable starting at ``start`` (not trained)."""
    return tf.Variable(int(start), dtype=tf.int64, trainable=False)


def seed_pair(first: int, step: Any) -> Any:
    """The stateless seed ``(first, step)`` as int64 (2,)."""
    return tf.stack([tf.constant(first, tf.int64), step])


def gaussian_blur(images: Any, radius: int) -> Any:
    """A separable Gaussian blur (sigma ``radius`` / 2, kernel ``2 radius + 1``); identity at 0."""
    if radius < 1:
        return images
    sigma = max(radius / 2.0, 0.5)
    offsets = tf.range(-radius, radius + 1, dtype=tf.float32)
    kernel = tf.exp(-(offsets**2) / (2.0 * sigma**2))
    kernel = kernel / tf.reduce_sum(kernel)
    channels = int(images.shape[-1])
    row = tf.tile(tf.reshape(kernel, (1, -1, 1, 1)), (1, 1, channels, 1))
    column = tf.tile(tf.reshape(kernel, (-1, 1, 1, 1)), (1, 1, channels, 1))
    padded = tf.pad(images, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="SYMMETRIC")
    blurred = tf.nn.depthwise_conv2d(padded, row, (1, 1, 1, 1), "VALID")
    return tf.nn.depthwise_conv2d(blurred, column, (1, 1, 1, 1), "VALID")


def colour_statistics_loss(pred: Any, target: Any) -> Any:
    """Per item: the squared differences of each channel's mean and standard deviation over the
    image, summed and divided by the channel count; then the batch mean."""
    axes = (1, 2)
    p_mean, p_var = tf.nn.moments(pred, axes=axes)
    t_mean, t_var = tf.nn.moments(target, axes=axes)
    p_std, t_std = tf.sqrt(p_var + 1e-5), tf.sqrt(t_var + 1e-5)
    per_item = tf.reduce_sum(tf.square(p_mean - t_mean) + tf.square(p_std - t_std), axis=-1)
    return tf.reduce_mean(per_item) / float(pred.shape[-1])


def dssim(pred: Any, target: Any, window: int) -> Any:
    """Mean structural dissimilarity ``(1 - SSIM) / 2`` with an odd ``window``."""
    ssim = tf.image.ssim(pred, target, max_val=1.0, filter_size=window, filter_sigma=1.5)
    return tf.reduce_mean((1.0 - ssim) / 2.0)
