"""The shapes that flow between the data pipeline and the training step.

Faces are prepared once at the *process size* P (the largest of the model's input and output sizes)
as uint8. Augmenters work on an :class:`AugmentBatch` of such faces in place. The loader then takes
the targets (unwarped) at each output size, warps the input copy, and hands the train step a
:data:`TrainingBatch`:

``{"a": side, "b": side}`` where each side is a dict::

    "input":   float32 (B, in, in, 3) in [0, 1]
    "targets": tuple of float32 (B, s, s, 3), one per model output size, smallest first
    "masks":   dict name -> tuple of float32 (B, s, s, 1), one per output size;
               names among "face", "eye", "mouth", present only when the loss needs them
"""
from __future__ import annotations

from typing import Any, Dict

import attrs
import numpy as np

TrainingBatch = Dict[str, Dict[str, Any]]


@attrs.define
class AugmentBatch:
    """A batch of faces at process size, augmented in place.

    ``images``: uint8 (N, P, P, 3) BGR. ``masks``: uint8 (N, P, P, K) with ``mask_names`` naming the
    K channels (e.g. ("face", "eye", "mouth")), or None. ``landmarks``: float32 (N, 68, 2) in pixel
    coordinates of the P×P crop, or None. ``warped``: the model-input copy made by input-only
    augmenters (None until the first of them runs; they read ``images`` and write ``warped``).
    """

    images: np.ndarray
    masks: np.ndarray | None = None
    mask_names: tuple[str, ...] = ()
    landmarks: np.ndarray | None = None
    warped: np.ndarray | None = None
    side: str = "a"

    @property
    def size(self) -> int:
        return int(self.images.shape[1])
