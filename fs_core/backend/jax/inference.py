"""JAX's inference outside the step: the model compiled by ``jax.jit`` as a pure function of its
variables' values, and JAX's seeding.

Called eagerly, a Keras model on JAX runs op by op and compiles each op on its first call (about
20 s for Lightweight on 2 CPU cores). Here the whole forward pass is one compiled function
(``values, inputs -> outputs``), traced with the variables mapped to its arguments by a
``keras.StatelessScope``, as Keras' JAX trainer predicts. Each call passes the variables' *current*
values, so a preview after more training steps sees the new weights without recompiling; ``jax.jit``
compiles once per input shape. The function is kept on the model (as Keras keeps its
``predict_function``), so every preview of a session reuses it.

The variables are taken in ``model.variables``' order, fixed when the function is made: freezing
or unfreezing parts changes which are trainable, not which there are.
"""

from __future__ import annotations

from typing import Any

import jax
import keras
import numpy as np

from fs_core.backend.api import Inference
from fs_core.backend.outputs import as_arrays
from fs_core.backend.seeding import seed_python_numpy_and_keras

#: the attribute of a Keras model that holds its compiled inference function
ATTRIBUTE = "_fs_jax_inference"


def _compile(model: Any) -> Inference:
    variables = list(model.variables)

    def pure(values: list[Any], inputs: Any) -> Any:
        with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
            return model(inputs, training=False)

    compiled = jax.jit(pure)

    def call(inputs: Any) -> list[np.ndarray]:
        values = [v.value for v in variables]  # read now: training moves them between calls
        return as_arrays(compiled(values, inputs))

    return call


def inference_function(model: Any, bulk: bool = False) -> Inference:
    """``model``'s compiled inference call, inputs -> float32 NumPy outputs (made once per model;
    ``bulk`` changes nothing here)."""
    existing = getattr(model, ATTRIBUTE, None)
    if existing is None:
        existing = _compile(model)
        setattr(model, ATTRIBUTE, existing)
    return existing


def set_random_seed(seed: int) -> None:
    """Python, NumPy and Keras' global seed: Keras' JAX random ops draw their keys from seed
    generators seeded from these; JAX has no global generator of its own."""
    seed_python_numpy_and_keras(seed)
