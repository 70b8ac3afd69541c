"""TensorFlow's inference outside the step, and its seeding: what fs did before the seam, unchanged.

Previews, held-out losses, the collapse guard's check and ``fs swap`` call the model eagerly (few
batches, each of its own size, and no trace per new model); ``fs convert`` runs many batches of one
size through Keras' ``predict_on_batch``, which compiles a graph once (with XLA on a GPU).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from fs_core.backend.api import Inference
from fs_core.backend.outputs import as_arrays


def inference_function(model: Any, bulk: bool = False) -> Inference:
    """``model``'s inference call, inputs -> float32 NumPy outputs (see the module docstring)."""
    if bulk:

        def predict(inputs: Any) -> list[np.ndarray]:
            return as_arrays(model.predict_on_batch(inputs))

        return predict

    def call(inputs: Any) -> list[np.ndarray]:
        return as_arrays(model(inputs, training=False))

    return call


def set_random_seed(seed: int) -> None:
    """Keras' own: Python, NumPy and TensorFlow's generator."""
    keras.utils.set_random_seed(seed)
