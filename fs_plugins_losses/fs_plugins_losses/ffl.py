"""ffl: Focal Frequency Loss (Jiang et al. 2021), as a per-frequency map.

Both images go through an orthonormal 2-D FFT per channel (one patch: patch_factor 1). The squared
spectral distance ``|F_p - F_t|²`` is weighted by ``w = |F_p - F_t|^alpha`` (alpha 1) divided by its
maximum over the frequency plane (per item and channel, the maximum floored at 1e-6) and clamped to
[0, 1], so the frequencies the model gets most wrong dominate. Following the paper, ``w`` is a
constant for the gradient (``stop_gradient``); faceswap's ``FocalFrequencyLoss``
(``lib/model/losses/loss.py``) does not detach it explicitly. The result ``w · |F_p - F_t|²`` has
the image's shape (N, H, W, C) but indexes frequencies, not pixels, so masks multiply it only in
faceswap's sense (the composer treats every per-pixel map alike, as faceswap does).
"""

from __future__ import annotations

import math

import tensorflow as tf

from fs_plugins_losses._common import static_hw

ALPHA = 1.0
_MAX_FLOOR = 1e-6


def spectrum(image: tf.Tensor) -> tf.Tensor:
    """Orthonormal 2-D FFT of each channel: complex (N, C, H, W)."""
    height, width = static_hw(image)
    planes = tf.transpose(image, (0, 3, 1, 2))
    planes = tf.complex(planes, tf.zeros_like(planes))
    return tf.signal.fft2d(planes) / math.sqrt(height * width)


def ffl(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Per-frequency map (N, H, W, C) of the focal-weighted squared spectral distance."""
    delta = spectrum(y_pred) - spectrum(y_true)
    distance = tf.square(tf.math.real(delta)) + tf.square(tf.math.imag(delta))
    weight = tf.pow(tf.sqrt(distance), ALPHA)  # constant for the gradient (below)
    weight = weight / tf.maximum(tf.reduce_max(weight, axis=(2, 3), keepdims=True), _MAX_FLOOR)
    weight = tf.stop_gradient(tf.clip_by_value(weight, 0.0, 1.0))
    return tf.transpose(weight * distance, (0, 2, 3, 1))
