"""A model call's outputs as NumPy: what every backend's inference function hands back.

A Keras model gives one tensor or a list; the callers (previews, swap, convert) index them by
position, so the result is always a list of float32 arrays. ``keras.ops.convert_to_numpy`` takes
any backend's tensors (a torch tensor is detached and moved to the CPU first).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops


def as_arrays(outputs: Any) -> list[np.ndarray]:
    """One output or a list/tuple of them -> a list of float32 NumPy arrays, in order."""
    listed = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [np.asarray(ops.convert_to_numpy(o), np.float32) for o in listed]
