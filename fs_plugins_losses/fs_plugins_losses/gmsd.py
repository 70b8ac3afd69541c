"""gmsd: gradient magnitude similarity, as a per-pixel loss map.

Edges are found with a fixed 5×5 Scharr-like derivative pair (rotationally tuned taps), applied to
every channel after reflect padding. For each gradient component (along y and along x) the
similarity ``GMS = (2 g_t g_p + c) / (g_t² + g_p² + c)``, c = 0.0025, is 1 where the edges agree.
faceswap's spatial mode (the one training uses) returns ``1 - mean over the two components of
GMS`` per pixel and channel; the "true" GMSD (the standard deviation of GMS over the image) is not
a per-pixel quantity and is not what faceswap trains with.

Both derivative kernels are applied to every channel, the published formula; faceswap's GMSDLoss
(``lib/model/losses/perceptual_loss.py``) reshapes its kernel so that B gets only vertical edges and
R only horizontal ones, which fs does not copy.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from fs_plugins_losses._common import Tensor, filter_channels, pad_reflect, split_last

C = 0.0025
_OUTER = np.array([0.0007, 0.0052, 0.0370, 0.0052, 0.0007])
_INNER = np.array([0.0037, 0.1187, 0.2589, 0.1187, 0.0037])
# Derivative along the height axis (rows 0,1 positive, row 2 zero, rows 3,4 negative) ...
KERNEL_Y = np.stack([_OUTER, _INNER, np.zeros(5), -_INNER, -_OUTER]).astype(np.float32)
# ... and its transpose, the derivative along the width axis.
KERNEL_X = KERNEL_Y.T.copy()
KERNELS = np.stack([KERNEL_Y, KERNEL_X], axis=-1)  # (5, 5, 2)


def edges(image: Tensor) -> Tensor:
    """(N, H, W, C, 2): the y and x derivative of each channel."""
    return split_last(filter_channels(pad_reflect(image, 2), KERNELS), 2)


def gmsd(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Per-pixel map (N, H, W, C) of 1 - mean gradient similarity over the two components."""
    edge_t, edge_p = edges(y_true), edges(y_pred)
    similarity = (2.0 * edge_t * edge_p + C) / (ops.square(edge_t) + ops.square(edge_p) + C)
    return 1.0 - ops.mean(similarity, axis=-1)
