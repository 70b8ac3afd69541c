"""pixel_gradient_diff: compares the first and second image derivatives of the two images.

It pushes the prediction to have the same edges and curvature as the target, not only the same
colours. Derivatives are finite differences over a replicate-padded image, which reproduces the
reference's border handling (one-sided differences at the edges):

* dx, dy: half the central difference ``(x[i+1] - x[i-1]) / 2``;
* dxx, dyy: ``x[i+1] + x[i-1] - 2 x[i]``;
* dxy: a quarter of the difference of the two diagonal sums.

Each derivative pair is compared with the generalized loss (alpha=1.9999, beta=1/255) and
``loss = [(Lx + Ly) + (Lxx + Lyy + 2 Lxy)] / 2``. x is the width axis and y the height axis of NHWC
(the reference's PyTorch port applies its NHWC-era axis indices to NCHW tensors; this uses the
intended image axes).
"""
from __future__ import annotations

import tensorflow as tf

from fs_plugins_losses._common import generalized_loss, pad_replicate

_ALPHA = 1.9999
_BETA = 1.0 / 255.0
_FIRST_WEIGHT = 1.0
_SECOND_WEIGHT = 1.0


def derivatives(image: tf.Tensor) -> dict[str, tf.Tensor]:
    """dx, dy, dxx, dyy and dxy of an NHWC image, each the image's size."""
    padded = pad_replicate(image, 1)
    centre = padded[:, 1:-1, 1:-1, :]
    left, right = padded[:, 1:-1, :-2, :], padded[:, 1:-1, 2:, :]
    up, down = padded[:, :-2, 1:-1, :], padded[:, 2:, 1:-1, :]
    up_left, down_right = padded[:, :-2, :-2, :], padded[:, 2:, 2:, :]
    up_right, down_left = padded[:, :-2, 2:, :], padded[:, 2:, :-2, :]
    return {
        "dx": 0.5 * (right - left),
        "dy": 0.5 * (down - up),
        "dxx": right + left - 2.0 * centre,
        "dyy": down + up - 2.0 * centre,
        "dxy": 0.25 * ((down_right + up_left) - (up_right + down_left)),
    }


def pixel_gradient_diff(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Per-pixel map (N, H, W, C) of the generalized loss between derivative images."""
    true, pred = derivatives(y_true), derivatives(y_pred)

    def term(key: str) -> tf.Tensor:
        return generalized_loss(true[key], pred[key], alpha=_ALPHA, beta=_BETA)

    first = term("dx") + term("dy")
    second = term("dxx") + term("dyy") + 2.0 * term("dxy")
    return (_FIRST_WEIGHT * first + _SECOND_WEIGHT * second) / (_FIRST_WEIGHT + _SECOND_WEIGHT)
