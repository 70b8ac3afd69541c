"""Yaw (left-right head turn) of faces from their landmarks, for yaw-balanced sampling.

The pose is faceswap's (:func:`fs_core.faces.alignment.estimate_pose`: solvePnP of the aligned
landmarks against a 3-D mean face with a fixed camera); the yaw is the rotation's angle about the
vertical axis, from the Euler decomposition OpenCV gives (``cv2.decomposeProjectionMatrix``), as
faceswap's ``PoseEstimate`` reads it. Landmarks in crop pixels give the same pose as the frame's:
the alignment is a similarity, which the pose estimate removes first.
"""

from __future__ import annotations

import cv2
import numpy as np

from fs_core.faces.alignment import estimate_pose

#: DeepFaceLab bins yaw over ±1.2 rad (2DFAN landmarks reach about that); faces beyond fall in the
#: outer bins
YAW_LIMIT_DEGREES = float(np.degrees(1.2))


def yaw_degrees(landmarks: np.ndarray) -> np.ndarray:
    """Yaw in degrees of each face: ``landmarks`` float (N, 68, 2) → float32 (N,). Frontal faces
    give about 0; a mirrored face gives the opposite sign; landmarks that are not a face (all
    points in one place, or not finite) give 0."""
    points = np.asarray(landmarks, np.float64)
    out = np.empty(len(points), np.float32)
    projection = np.zeros((3, 4))
    for index, face in enumerate(points):
        if not np.all(np.isfinite(face)) or np.ptp(face, axis=0).min() <= 0.0:
            out[index] = 0.0  # no face to pose (e.g. a face left out: all points one far place)
            continue
        rotation, _ = estimate_pose(face)
        projection[:, :3] = cv2.Rodrigues(rotation)[0]
        out[index] = cv2.decomposeProjectionMatrix(projection)[-1][1, 0]
    return out


def yaw_bins(yaws: np.ndarray, count: int, limit: float = YAW_LIMIT_DEGREES) -> np.ndarray:
    """Each yaw's bin among ``count`` equal bins over [-limit, limit] (outside: the end bins)."""
    scaled = (np.asarray(yaws, np.float64) + limit) / (2.0 * limit) * count
    return np.clip(np.floor(scaled), 0, count - 1).astype(np.int64)
