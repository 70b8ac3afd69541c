"""Synthetic faces in faceswap's three landmark layouts (68, 98 and 4 points), for the tests of
98- and 4-point face sets and alignments files.

``face_68`` is a fixed, slightly turned 68-point face in a 640x480 frame. ``to_98`` writes the same
face in the 98-point (WFLW) layout: the 68 points where faceswap's 98 -> 68 lookup reads them (the
lookup is checked against faceswap's table in test_faces_landmark_types.py) and the other 30 in
between: jaw points bulging out a little, lower brow edges, curved eyelids, pupils. So the 98-point
face aligns exactly as the 68-point one, while its hulls differ. ``roi_4`` is the face's bounding
box as a 4-point face, as a face imported from another tool carries it: corners clockwise from
top-left.
"""

from __future__ import annotations

import numpy as np

from fs_core.faces import alignment as al


def face_68(angle: float = 0.15, scale: float = 180.0, centre=(320.0, 250.0)) -> np.ndarray:
    """(68, 2) float64 frame landmarks: the mean face with a jaw, a little asymmetric (so the pose
    is not frontal), rotated by ``angle``, ``scale`` px across, centred at ``centre``."""
    unit = np.empty((68, 2))
    arc = np.linspace(0.0, np.pi, 17)
    unit[:17, 0] = 0.5 - 0.52 * np.cos(arc)
    unit[:17, 1] = 0.2 + 0.8 * np.sin(arc)
    unit[17:] = al.MEAN_FACE_2D
    index = np.arange(68)
    unit += 0.012 * np.stack([np.sin(1.7 * index), np.cos(2.3 * index)], axis=1)
    unit[:, 0] = 0.5 + (unit[:, 0] - 0.5) * (1.0 + 0.2 * (unit[:, 0] - 0.5))  # turned a little
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.array([[cos, -sin], [sin, cos]])
    return (unit - 0.5) @ rotation.T * scale + np.asarray(centre, np.float64)


def to_98(points: np.ndarray) -> np.ndarray:
    """The 98-point layout of 68 ``points``: ``to_98(p)[al.MAP_98_TO_68] == p``."""
    points = np.asarray(points, np.float64)
    out = np.full((98, 2), np.nan)
    out[al.MAP_98_TO_68] = points
    # jaw: every other point between two, bulging out a little as a jaw line does
    middle = (out[0:31:2] + out[2:33:2]) / 2
    out[1:32:2] = middle + (middle - points.mean(axis=0)) * 0.06
    down = (out[60] - out[34]) * 0.25  # the lower brow edge, a little below the upper one
    out[38:42] = out[[36, 35, 34, 33]] * 0.5 + out[[37, 36, 35, 34]] * 0.5 + down
    out[47:51] = out[[45, 44, 43, 42]] * 0.5 + out[[46, 45, 44, 43]] * 0.5 + down
    # eyelids: between two points, curving away from the eye's centre; then the pupils
    centres = np.repeat([points[36:42].mean(axis=0), points[42:48].mean(axis=0)], 2, axis=0)
    middle = (out[[61, 65, 69, 73]] + out[[63, 67, 71, 75]]) / 2
    out[[62, 66, 70, 74]] = middle + (middle - centres) * 0.3
    out[96], out[97] = centres[0], centres[2]
    assert np.all(np.isfinite(out))
    return out


def roi_4(points: np.ndarray) -> np.ndarray:
    """The axis-aligned bounding box of ``points`` as 4-point landmarks, clockwise from
    top-left."""
    x0, y0 = np.asarray(points).min(axis=0)
    x1, y1 = np.asarray(points).max(axis=0)
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)
