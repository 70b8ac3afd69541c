"""Pixel-wise losses: mae, mse, logcosh, smooth_loss (per-pixel maps) and l_inf_norm (per item).

These compare each pixel with its counterpart only, so they are cheap and exact references for the
structural losses. Maps keep the channel axis (N, H, W, C); the composer masks and averages them.
"""

from __future__ import annotations

import math

from keras import ops

from fs_plugins_losses._common import Tensor, generalized_loss


def mae(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Absolute error |p - t| per pixel and channel."""
    return ops.abs(y_pred - y_true)


def mse(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Squared error (p - t)² per pixel and channel."""
    return ops.square(y_pred - y_true)


def logcosh(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """log(cosh(d)), d = t - p, as d + softplus(-2d) - log 2 so large |d| cannot overflow cosh."""
    diff = ops.convert_to_tensor(y_true) - ops.convert_to_tensor(y_pred)  # torch: not NumPy
    return diff + ops.softplus(-2.0 * diff) - math.log(2.0)


def smooth_loss(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Barron's generalized loss with alpha=1, beta=1/255 (a Charbonnier scaled by beta).

    Near zero it behaves like a scaled L2 (smooth gradients), far from zero like L1 (robust).
    """
    return generalized_loss(y_true, y_pred, alpha=1.0, beta=1.0 / 255.0)


def l_inf_norm(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Per item: the mean over channels of the largest absolute error over the image.

    faceswap's ``LInfNorm`` (PyTorch, ``lib/model/losses/loss.py``) takes the max over (C, H) of
    an NCHW tensor and the mean over W,
    keeping the axes of its older NHWC code; this takes the intended max over (H, W) per channel,
    then the mean over channels. Returns shape (N,).
    """
    worst = ops.max(ops.abs(y_pred - y_true), axis=(1, 2))
    return ops.mean(worst, axis=-1)
