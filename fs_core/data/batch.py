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

Colour order is BGR unless the model asked for RGB; augmenters always see BGR.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

TrainingBatch = dict[str, dict[str, Any]]


@attrs.frozen
class OtherSideFaces:
    """Faces of the other side handed to a batch whose augmenters ``needs_other_side``: one per
    face of the batch, drawn in shuffled passes over that side, unaugmented. ``images`` uint8
    (N, P, P, 3) BGR; ``masks`` uint8 (N, P, P, K) named by ``mask_names``, or None; ``indices``
    their indices in the other side's face set. Read-only for augmenters (fresh copies, but shared
    by every augmenter of the batch)."""

    images: np.ndarray
    masks: np.ndarray | None = None
    mask_names: tuple[str, ...] = ()
    indices: np.ndarray | None = None

    def mask(self, name: str) -> np.ndarray | None:
        """The mask channel ``name`` (N, P, P) uint8, or None when these faces lack it."""
        if self.masks is None or name not in self.mask_names:
            return None
        return self.masks[..., self.mask_names.index(name)]


@attrs.define
class AugmentBatch:
    """A batch of faces at process size, augmented in place.

    ``images``: uint8 (N, P, P, 3) BGR. ``masks``: uint8 (N, P, P, K) with ``mask_names`` naming the
    K channels (e.g. ("face", "eye", "mouth")), or None. ``landmarks``: float32 (N, 68, 2) in pixel
    coordinates of the P×P crop, or None. ``warped``: the model-input copy made by input-only
    augmenters (None until the first of them runs; they read :meth:`input_images` and write
    ``warped``, never ``images``, because ``images`` has already become the targets).

    Context the loader hands in, so augmenters need no state of their own:
    ``indices``: int64 (N,), each face's index in its side's face set (lets a plugin look up
    per-face data it prepared itself). ``neighbours``: float32 (N, k, 68, 2), the landmarks of the k
    faces of the *other* side nearest to each face (found once when the loader starts, in crop
    pixels of the same P), or None; warp-to-landmarks morphs each input toward one of them.

    Both ``landmarks`` and ``neighbours`` are points of this crop (:meth:`point_sets`): an augmenter
    that moves the faces' pixels (zoom, rotation, shift, flip) moves all of them by the same
    per-face transform. A neighbour left where it was would make warp-to-landmarks pull the input
    back toward the un-augmented pose while the target keeps the augmented one.

    ``side``: "a" or "b", which side these faces are. ``others``: faces of the other side
    (:class:`OtherSideFaces`), only when an enabled augmenter of this side ``needs_other_side``
    (colour transfer draws its reference colours from them), else None.
    """

    images: np.ndarray
    masks: np.ndarray | None = None
    mask_names: tuple[str, ...] = ()
    landmarks: np.ndarray | None = None
    warped: np.ndarray | None = None
    side: str = "a"
    indices: np.ndarray | None = None
    neighbours: np.ndarray | None = None
    others: OtherSideFaces | None = None

    @property
    def size(self) -> int:
        return int(self.images.shape[1])

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def point_sets(self) -> list[np.ndarray]:
        """The arrays of crop points that move with the pixels, each (N, ..., 68, 2) float32 and
        changed in place by geometric augmenters: ``landmarks`` and ``neighbours``, where
        present."""
        return [points for points in (self.landmarks, self.neighbours) if points is not None]

    def mask(self, name: str) -> np.ndarray | None:
        """The mask channel ``name`` (N, P, P) uint8 (a view: writes change the batch), or None
        when the faces carry no such mask."""
        if self.masks is None or name not in self.mask_names:
            return None
        return self.masks[..., self.mask_names.index(name)]

    def input_images(self) -> np.ndarray:
        """What an input-only augmenter should transform: the input copy so far, else the images."""
        return self.images if self.warped is None else self.warped
