"""JAX's parts of the training extensions: stateless random masks (LR dropout) and the step
counter that keys them; the style losses' blur, colour statistics and SSIM, with the TensorFlow
backend's maths (``tf.nn.moments``, ``tf.image.ssim``) written in ``jax.numpy``.

The masks are keyed by the same ``(seed + index, step)`` pair as TensorFlow's, but JAX's counter
based generator draws other numbers than TensorFlow's: a seeded run repeats itself on JAX, not
TensorFlow's masks.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import keras


def keep_mask(shape: Any, rate: float, seed: Any) -> Any:
    """1.0 where the update is kept (probability ``1 - rate``), else 0.0; ``seed`` int (2,)."""
    key = jax.random.wrap_key_data(jnp.asarray(seed).astype(jnp.uint32), impl="threefry2x32")
    return (jax.random.uniform(key, tuple(shape)) >= rate).astype(jnp.float32)


def counter(start: int) -> Any:
    """An integer step counter variable starting at ``start`` (not trained; int32, as JAX runs
    without 64-bit integers by default)."""
    return keras.Variable(int(start), dtype="int32", trainable=False, name="step_counter")


def seed_pair(first: int, step: Any) -> Any:
    """The stateless seed ``(first, step)`` as int (2,)."""
    step = jnp.asarray(step)
    return jnp.stack([jnp.asarray(first, step.dtype), step])


def _blur_axis(images: Any, kernel: Any, axis: int) -> Any:
    """A valid 1-D convolution along ``axis`` (1: rows, 2: columns) as a sum of shifted slices."""
    radius = (kernel.shape[0] - 1) // 2
    length = images.shape[axis] - 2 * radius
    total = 0.0
    for offset in range(2 * radius + 1):
        part = jax.lax.slice_in_dim(images, offset, offset + length, axis=axis)
        total = total + kernel[offset] * part
    return total


def gaussian_blur(images: Any, radius: int) -> Any:
    """A separable Gaussian blur (sigma ``radius`` / 2, kernel ``2 radius + 1``); identity at 0."""
    if radius < 1:
        return images
    images = jnp.asarray(images)
    sigma = max(radius / 2.0, 0.5)
    offsets = jnp.arange(-radius, radius + 1, dtype=jnp.float32)
    kernel = jnp.exp(-(offsets**2) / (2.0 * sigma**2))
    kernel = (kernel / jnp.sum(kernel)).astype(images.dtype)
    padded = jnp.pad(images, [(0, 0), (radius, radius), (radius, radius), (0, 0)], mode="symmetric")
    return _blur_axis(_blur_axis(padded, kernel, 2), kernel, 1)


def colour_statistics_loss(pred: Any, target: Any) -> Any:
    """Per item: the squared differences of each channel's mean and standard deviation over the
    image, summed and divided by the channel count; then the batch mean."""

    def moments(x: Any) -> tuple[Any, Any]:
        mean = jnp.mean(x, axis=(1, 2), keepdims=True)
        variance = jnp.mean(jnp.square(x - jax.lax.stop_gradient(mean)), axis=(1, 2))
        return jnp.squeeze(mean, axis=(1, 2)), variance

    p_mean, p_var = moments(jnp.asarray(pred))
    t_mean, t_var = moments(jnp.asarray(target))
    p_std, t_std = jnp.sqrt(p_var + 1e-5), jnp.sqrt(t_var + 1e-5)
    per_item = jnp.sum(jnp.square(p_mean - t_mean) + jnp.square(p_std - t_std), axis=-1)
    return jnp.mean(per_item) / float(pred.shape[-1])


def _gaussian_window(size: int, sigma: float) -> Any:
    """``tf.image.ssim``'s window: the softmax of the summed squared offsets."""
    coords = jnp.arange(size, dtype=jnp.float32) - (size - 1) / 2.0
    g = jnp.square(coords) * (-0.5 / sigma**2)
    g = jnp.reshape(g, (1, -1)) + jnp.reshape(g, (-1, 1))
    return jnp.reshape(jax.nn.softmax(jnp.reshape(g, (1, -1))), (size, size))


def dssim(pred: Any, target: Any, window: int) -> Any:
    """Mean structural dissimilarity ``(1 - SSIM) / 2`` with an odd ``window``
    (``tf.image.ssim`` with max value 1, sigma 1.5, k1 0.01, k2 0.03)."""
    pred = jnp.asarray(pred, jnp.float32)
    target = jnp.asarray(target, jnp.float32)
    channels = pred.shape[-1]
    kernel = jnp.tile(_gaussian_window(window, 1.5)[:, :, None, None], (1, 1, 1, channels))

    def reducer(x: Any) -> Any:
        return jax.lax.conv_general_dilated(
            x,
            kernel,
            window_strides=(1, 1),
            padding="VALID",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            feature_group_count=channels,
        )

    c1, c2 = 0.01**2, 0.03**2
    mean0, mean1 = reducer(pred), reducer(target)
    num0 = mean0 * mean1 * 2.0
    den0 = jnp.square(mean0) + jnp.square(mean1)
    luminance = (num0 + c1) / (den0 + c1)
    num1 = reducer(pred * target) * 2.0
    den1 = reducer(jnp.square(pred) + jnp.square(target))
    cs = (num1 - num0 + c2) / (den1 - den0 + c2)
    ssim = jnp.mean(jnp.mean(luminance * cs, axis=(-3, -2)), axis=-1)
    return jnp.mean((1.0 - ssim) / 2.0)
