"""The landmark masks (``components``, ``extended``) stored with an extracted face, in the form
faceswap's extract stored them up to its 3.0 release.

Why store what can be drawn from the landmarks at any time: faceswap up to 3.0 trains and converts
only with a mask the face carries -- its trainer looks up ``mask_type`` in the face PNG's header
and stops when the face lacks it -- and its extract always stored these two. Later faceswap (and
fs) draw them from the landmarks and skip the stored copies, so storing them costs nothing there.

faceswap's landmark maskers drew the hulls into a 256 px face-centred crop (coverage 1.0), scaled
the mask down to 128 px (area interpolation) and kept it zlib-compressed with the 256 px crop's
matrix scaled to 128 px (frame -> stored mask) and the interpolator that warps the mask back onto
the frame (area when the crop enlarges the frame, cubic when it shrinks it). The hulls are
:func:`fs_core.faces.prepare.landmark_mask`'s (faceswap's zones and raised brows), drawn as
faceswap's maskers drew them: corners rounded to whole pixels, hard edges (fs's training masks
keep 1/16 px corners and anti-aliased edges).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import cv2
import numpy as np

from fs_core.faces import alignment as al
from fs_core.faces.alignments_file import mask_entry
from fs_core.faces.prepare import LANDMARK_MASKS, landmark_mask

#: faceswap's landmark maskers drew at this size ...
DRAW_SIZE = 256
#: ... and stored at this size and centering
STORED_SIZE = 128
STORED_CENTERING = "face"


def _inverse_interpolator(matrix: np.ndarray) -> int:
    """The cv2 flag that warps a mask made with ``matrix`` back onto the frame: the opposite of
    the one that made the crop."""
    return cv2.INTER_AREA if al.warp_interpolation(matrix) == cv2.INTER_CUBIC else cv2.INTER_CUBIC


def landmark_mask_entries(landmarks: np.ndarray, kinds: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The stored-mask entries (name -> faceswap's mask dict, 3x3 frame-to-mask matrix) of the
    landmark masks ``kinds`` of the face whose frame landmarks (68 points) are ``landmarks``."""
    kinds = tuple(kinds)
    unknown = [kind for kind in kinds if kind not in LANDMARK_MASKS]
    if unknown:
        raise ValueError(f"landmark masks are {LANDMARK_MASKS}, got {unknown}")
    if not kinds:
        return {}
    points = np.asarray(landmarks, np.float64)
    draw = al.aligned_matrix(points, DRAW_SIZE, STORED_CENTERING, 1.0)
    crop_points = al.transform_points(points, draw)
    stored = draw * (STORED_SIZE / DRAW_SIZE)
    interpolator = _inverse_interpolator(draw)
    entries = {}
    for kind in kinds:
        drawn = landmark_mask(crop_points, DRAW_SIZE, kind, whole_pixels=True)
        # scaled as floats and truncated, as faceswap scaled its float mask and cast it to uint8
        small = cv2.resize(
            drawn.astype(np.float32), (STORED_SIZE, STORED_SIZE), interpolation=cv2.INTER_AREA
        ).astype(np.uint8)
        entries[kind] = mask_entry(small, stored, STORED_CENTERING, interpolator)
    return entries


__all__ = ["DRAW_SIZE", "STORED_CENTERING", "STORED_SIZE", "landmark_mask_entries"]
