"""Seeding Python, NumPy and Keras' own seed state, without asking for TensorFlow.

``keras.utils.set_random_seed`` also seeds TensorFlow whenever it is installed, which imports it
(and on a GPU machine lets it initialise its devices) in a process that trains on PyTorch or JAX.
The PyTorch and JAX backends seed through this instead, plus their own generator: everything Keras'
function does except the TensorFlow line. Python's generator matters most: Keras draws the seed of
every unseeded initializer from it.
"""

from __future__ import annotations

import random

import numpy as np


def seed_python_numpy_and_keras(seed: int) -> None:
    """``random``, ``np.random`` and Keras' global seed (its global seed generator starts again
    from it), as ``keras.utils.set_random_seed`` sets them."""
    # Keras keeps these in its global state under names it has no public setter for
    from keras.src.backend.common import global_state  # noqa: PLC0415 (Keras imports its framework: fs --help starts without it)
    from keras.src.random.seed_generator import GLOBAL_SEED_GENERATOR  # noqa: PLC0415 (as above)
    from keras.src.utils.rng_utils import GLOBAL_RANDOM_SEED  # noqa: PLC0415 (as above)

    global_state.set_global_attribute(GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)
