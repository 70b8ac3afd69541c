"""PyTorch's inference outside the step, and its seeding.

The model runs eagerly as in training, but under ``torch.no_grad()``: no autograd graph is
recorded, so a preview or a convert batch keeps no activations for a backward pass that never
comes. (``torch.inference_mode`` would be a little faster, but a tensor it creates can never take
part in autograd afterwards; a Keras variable first touched inside it would break the next
training step.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fs_core.backend.api import Inference
from fs_core.backend.outputs import as_arrays
from fs_core.backend.seeding import seed_python_numpy_and_keras


def inference_function(model: Any, bulk: bool = False) -> Inference:
    """``model``'s inference call without autograd, inputs -> float32 NumPy outputs (``bulk``
    changes nothing here: each call is eager)."""

    def call(inputs: Any) -> list[np.ndarray]:
        with torch.no_grad():
            return as_arrays(model(inputs, training=False))

    return call


def set_random_seed(seed: int) -> None:
    """Python, NumPy, Keras' global seed and torch's generator (CPU and every GPU)."""
    seed_python_numpy_and_keras(seed)
    torch.manual_seed(seed)
