"""pixel_gradient_diff: compares the first and second image derivatives of the two images.

It pushes the prediction to have the same edges and curvature as the target, not only the same
colours. Derivatives are finite differences over a replicate-padded image, which reproduces the
border handling of faceswap's ``GradientLoss`` (``lib/model/losses/loss.py``; one-sided
differences at the edges):

* dx, dy: half the central difference ``(x[i+1] - x[i-1]) / 2``;
* dxx, dyy: ``x[i+1] + x[i-1] - 2 x[i]``;
* dxy: a quarter of the difference of the two diagonal sums.

Each derivative pair is compared with the generalized loss (alpha=1.9999, beta=1/255) and
``loss = [(Lx + Ly) + (Lxx + Lyy + 2 Lxy)] / 2``. x is the width axis and y the height axis of NHWC
(faceswap's PyTorch code applies its NHWC-era axis indices to NCHW tensors; this uses the
intended image axes).
"""

from __future__ import annotations

import numpy as np
from keras import ops

from fs_plugins_losses._common import (
    Tensor,
    constant,
    filter_channels,
    generalized_loss,
    pad_replicate,
    split_last,
)

_ALPHA = 1.9999
_BETA = 1.0 / 255.0
_FIRST_WEIGHT = 1.0
_SECOND_WEIGHT = 1.0


# 3×3 stencils of dx, dy, dxx, dyy, dxy (correlation; x = width, y = height)
STENCILS = {
    "dx": [[0, 0, 0], [-0.5, 0, 0.5], [0, 0, 0]],
    "dy": [[0, -0.5, 0], [0, 0, 0], [0, 0.5, 0]],
    "dxx": [[0, 0, 0], [1, -2, 1], [0, 0, 0]],
    "dyy": [[0, 1, 0], [0, -2, 0], [0, 1, 0]],
    "dxy": [[0.25, 0, -0.25], [0, 0, 0], [-0.25, 0, 0.25]],
}
_KERNELS = np.stack([np.array(v, np.float32) for v in STENCILS.values()], axis=-1)
# [(Lx + Ly)·w1 + (Lxx + Lyy + 2 Lxy)·w2] / (w1 + w2), as one weight per stencil
_TERM_WEIGHTS = np.array(
    [_FIRST_WEIGHT, _FIRST_WEIGHT, _SECOND_WEIGHT, _SECOND_WEIGHT, 2.0 * _SECOND_WEIGHT], np.float32
) / (_FIRST_WEIGHT + _SECOND_WEIGHT)


def _stacked(image: Tensor) -> Tensor:
    """(N, H, W, C, 5): the five derivatives of each channel, from one depthwise convolution."""
    return split_last(filter_channels(pad_replicate(image, 1), _KERNELS), len(STENCILS))


def derivatives(image: Tensor) -> dict[str, Tensor]:
    """dx, dy, dxx, dyy and dxy of an NHWC image, each the image's size."""
    return dict(zip(STENCILS, ops.unstack(_stacked(image), axis=-1)))


def pixel_gradient_diff(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Per-pixel map (N, H, W, C) of the generalized loss between derivative images."""
    terms = generalized_loss(_stacked(y_true), _stacked(y_pred), alpha=_ALPHA, beta=_BETA)
    return ops.sum(terms * constant(_TERM_WEIGHTS), axis=-1)
