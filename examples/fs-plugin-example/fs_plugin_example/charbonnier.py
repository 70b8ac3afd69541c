"""charbonnier: a smooth L1 loss, ``sqrt((p - t)² + ε²) - ε`` per pixel and channel.

For errors much larger than ε it is |p - t| (robust to outliers, like L1); near zero it is a
parabola, so its gradient goes smoothly to zero instead of jumping between -1 and +1. Subtracting ε
makes identical images score exactly 0, which fs's loss checks (and users reading the logs) expect.
ε is added *inside* the square root, so the gradient stays finite where p == t.

fs calls loss functions on NHWC float32 tensors in [0, 1] inside the training step of whichever
Keras backend trains (TensorFlow, PyTorch or JAX): ``keras.ops`` only, so it runs on each; no NumPy
on the tensors and no Python branching on their values.
"""

from __future__ import annotations

from typing import Any

from keras import ops

NAME = "charbonnier"
EPSILON = 1e-3


def charbonnier(y_true: Any, y_pred: Any) -> Any:
    """Per-pixel map (N, H, W, C) of the Charbonnier penalty."""
    diff = y_pred - y_true
    return ops.sqrt(ops.square(diff) + EPSILON**2) - EPSILON
