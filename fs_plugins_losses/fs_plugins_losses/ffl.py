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

from keras import ops

from fs_plugins_losses._common import Tensor, static_hw

ALPHA = 1.0
_MAX_FLOOR = 1e-6


def spectrum(image: Tensor) -> tuple[Tensor, Tensor]:
    """Orthonormal 2-D FFT of each channel: the real and imaginary parts, each (N, C, H, W).

    ``ops.fft2`` transforms the last two axes of a (real, imaginary) pair.
    """
    height, width = static_hw(image)
    planes = ops.transpose(image, (0, 3, 1, 2))
    real, imag = ops.fft2((planes, ops.zeros_like(planes)))
    norm = math.sqrt(height * width)
    return real / norm, imag / norm


def ffl(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Per-frequency map (N, H, W, C) of the focal-weighted squared spectral distance."""
    real_p, imag_p = spectrum(y_pred)
    real_t, imag_t = spectrum(y_true)
    distance = ops.square(real_p - real_t) + ops.square(imag_p - imag_t)
    weight = ops.power(ops.sqrt(distance), ALPHA)  # constant for the gradient (below)
    weight = weight / ops.maximum(ops.max(weight, axis=(2, 3), keepdims=True), _MAX_FLOOR)
    weight = ops.stop_gradient(ops.clip(weight, 0.0, 1.0))
    return ops.transpose(weight * distance, (0, 2, 3, 1))
