"""Face alignment the way faceswap-extracted faces were made (faceswap's ``lib/align/``).

A faceswap face PNG stores no matrix for its own pixels: the matrix is recomputed from the frame
landmarks in its header. This module holds the pieces needed for that, so that faces extracted by
faceswap train here unchanged and the demo faces are made by the same geometry:

* the *legacy* matrix: an Umeyama similarity of landmarks 17-67 onto the 51-point mean face, mapping
  frame pixels into a unit square ("unit aligned space");
* the 3-D pose of those aligned landmarks (cv2.solvePnP against a 26-point 3-D mean face with a
  fixed camera), whose projections of two fixed 3-D points give the *centering offsets* of the
  "face" and "head" crops relative to the legacy crop;
* the matrix from frame pixels into an aligned S x S crop for a centering and coverage, and the
  sub-crop window that turns one aligned crop into another (used for both images and stored masks).

Three landmark layouts are read, as faceswap's aligners write them (:data:`LANDMARK_COUNTS`): the
68-point iBUG layout; the 98-point WFLW layout, which faceswap aligns and poses through its fixed
98 -> 68 lookup (:func:`to_68`), so a 98-point face crops exactly as the same face with those 68
points; and 4 points, the corners of a region of interest (a face imported from another tool),
aligned onto the unit square and without a pose, so every centering offset is zero.

The constants come from the packaged ``alignment_constants.json`` and are read-only arrays.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType

import cv2
import numpy as np

CENTERINGS = ("legacy", "face", "head")


def _load_constants() -> dict:
    text = resources.files("fs_core.faces").joinpath("alignment_constants.json").read_text("utf-8")
    return json.loads(text)


def _frozen(values, dtype=np.float64) -> np.ndarray:
    array = np.array(values, dtype=dtype)
    array.setflags(write=False)
    return array


_CONST = _load_constants()
MEAN_FACE_2D: np.ndarray = _frozen(_CONST["mean_face_2d_51"])  # (51, 2) unit space, landmarks 17-67
MEAN_FACE_3D: np.ndarray = _frozen(_CONST["mean_face_3d_26"])  # (26, 3) for POSE_LANDMARKS
POSE_LANDMARKS: np.ndarray = _frozen(_CONST["pose_landmark_indices_68"], np.int64)
CAMERA_MATRIX: np.ndarray = _frozen(_CONST["camera_matrix_normalised"])
EXTRACT_RATIOS: Mapping[str, float] = MappingProxyType(dict(_CONST["extract_ratios"]))
CENTERING_POINTS_3D: Mapping[str, tuple | None] = MappingProxyType(
    {
        key: (tuple(val) if val is not None else None)
        for key, val in _CONST["centering_points_3d"].items()
    }
)
ALIGN_SLICE = slice(*_CONST["alignment_landmark_slice_68"])
MEAN_FACE_ROI: np.ndarray = _frozen(_CONST["mean_face_roi_4"])  # (4, 2) unit square, clockwise
MAP_98_TO_68: np.ndarray = _frozen(_CONST["map_98_to_68"], np.int64)  # 68 indices into 98 points


def _parts(table: Mapping[str, list]) -> Mapping[str, tuple[int, int]]:
    return MappingProxyType({key: (int(val[0]), int(val[1])) for key, val in table.items()})


def _zones(table: Mapping[str, list]) -> Mapping[str, tuple[tuple[int, int], ...]]:
    return MappingProxyType(
        {key: tuple((int(a), int(b)) for a, b in val) for key, val in table.items()}
    )


LANDMARK_PARTS: Mapping[str, tuple[int, int]] = _parts(_CONST["landmark_parts_68"])
MASK_ZONES: Mapping[str, tuple[tuple[int, int], ...]] = _zones(_CONST["landmark_mask_zones_68"])
#: per landmark count with facial features (68, 98): the eye/mouth/... index ranges
PARTS_BY_COUNT: Mapping[int, Mapping[str, tuple[int, int]]] = MappingProxyType(
    {68: LANDMARK_PARTS, 98: _parts(_CONST["landmark_parts_98"])}
)
#: per landmark count with facial features: the hull zones of the components/extended masks
MASK_ZONES_BY_COUNT: Mapping[int, Mapping[str, tuple[tuple[int, int], ...]]] = MappingProxyType(
    {68: MASK_ZONES, 98: _zones(_CONST["landmark_mask_zones_98"])}
)
del _CONST

#: the landmark counts faceswap aligns faces from: a 4-point region of interest, 68 and 98 points
LANDMARK_COUNTS = (4, 68, 98)
#: the counts that locate facial features (eyes, mouth, jaw); a 4-point face has none
FEATURE_COUNTS = (68, 98)


def _check_centering(centering: str) -> None:
    if centering not in EXTRACT_RATIOS:
        raise ValueError(f"centering must be one of {CENTERINGS}, got {centering!r}")


def umeyama(src: np.ndarray, dst: np.ndarray, estimate_scale: bool = True) -> np.ndarray:
    """The least-squares similarity (3x3, homogeneous) that maps points ``src`` onto ``dst``.

    Umeyama (1991): centre both sets, take the SVD of their covariance, fix a reflection if the
    determinant asks for it, and read the scale from the singular values.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    count, dim = src.shape
    src_mean = src.mean(axis=0)
    dst_mean = dst.mean(axis=0)
    src_c = src - src_mean
    dst_c = dst - dst_mean
    cov = dst_c.T @ src_c / count
    sign = np.ones(dim)
    if np.linalg.det(cov) < 0:
        sign[-1] = -1.0
    u_mat, sing, vt_mat = np.linalg.svd(cov)
    rank = np.linalg.matrix_rank(cov)
    matrix = np.eye(dim + 1)
    if rank == 0:
        return np.full((dim + 1, dim + 1), np.nan)
    if rank == dim - 1 and np.linalg.det(u_mat) * np.linalg.det(vt_mat) <= 0:
        # degenerate (collinear) input: choose the sign that gives a proper rotation
        last = sign[-1]
        sign[-1] = -1.0
        rotation = u_mat @ np.diag(sign) @ vt_mat
        sign[-1] = last
    else:
        rotation = u_mat @ np.diag(sign) @ vt_mat
    if estimate_scale:
        var = src_c.var(axis=0).sum()
        scale = (sing @ sign) / var if var > 0 else 1.0
    else:
        scale = 1.0
    matrix[:dim, :dim] = scale * rotation
    matrix[:dim, dim] = dst_mean - scale * rotation @ src_mean
    return matrix


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 (or 3x3 affine) matrix to (N, 2) points."""
    points = np.asarray(points, dtype=np.float64)
    mat = np.asarray(matrix, dtype=np.float64)[:2]
    return points @ mat[:, :2].T + mat[:, 2]


def landmark_count(landmarks: np.ndarray) -> int:
    """How many (x, y) points ``landmarks`` holds; ValueError unless it is one of
    :data:`LANDMARK_COUNTS`."""
    shape = np.shape(landmarks)
    if len(shape) != 2 or shape[1] != 2 or shape[0] not in LANDMARK_COUNTS:
        raise ValueError(f"expected 4x2, 68x2 or 98x2 landmarks, got shape {shape}")
    return int(shape[0])


def to_68(landmarks: np.ndarray) -> np.ndarray:
    """The 68-point layout of 68 or 98 landmarks (98 points through faceswap's fixed lookup), as
    faceswap aligns and poses a 98-point face. A 4-point face has no 68-point layout."""
    count = landmark_count(landmarks)
    if count == 4:
        raise ValueError("4-point (region of interest) landmarks have no 68-point layout")
    points = np.asarray(landmarks)
    return points if count == 68 else points[MAP_98_TO_68]


def legacy_matrix(landmarks: np.ndarray) -> np.ndarray:
    """The 2x3 matrix from frame pixels to unit aligned space: landmarks 17-67 (of the 68-point
    layout) onto the mean face, or a 4-point face's corners onto the unit square."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmark_count(landmarks) == 4:
        return umeyama(landmarks, MEAN_FACE_ROI, True)[:2]
    return umeyama(to_68(landmarks)[ALIGN_SLICE], MEAN_FACE_2D, True)[:2]


def estimate_pose(
    landmarks: np.ndarray, matrix: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Rotation and translation vectors (solvePnP) of the face in unit aligned space.

    ``matrix`` is the legacy matrix when the caller already has it. 68 or 98 landmarks only: a
    4-point face has no features to pose (ValueError).
    """
    landmarks = to_68(np.asarray(landmarks, dtype=np.float64))
    if matrix is None:
        matrix = legacy_matrix(landmarks)
    unit = transform_points(landmarks, matrix)
    points = np.ascontiguousarray(unit[POSE_LANDMARKS], dtype=np.float64)
    _ok, rotation, translation = cv2.solvePnP(
        np.ascontiguousarray(MEAN_FACE_3D),
        points,
        np.ascontiguousarray(CAMERA_MATRIX),
        np.zeros((4, 1)),
        flags=cv2.SOLVEPNP_ITERATIVE,
    )
    return rotation, translation


def centering_offsets(
    landmarks: np.ndarray, matrix: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Per centering, the (x, y) of its crop centre in unit aligned space minus (0.5, 0.5).

    "legacy" is (0, 0); "face" and "head" are the projections of fixed 3-D points through the
    solved pose (as faceswap's ``lib/align/pose.py``). A 4-point face has no pose, and faceswap
    gives it (0, 0) for every centering: its crops differ only in padding.
    """
    if landmark_count(landmarks) == 4:
        return {centering: np.zeros(2) for centering in CENTERINGS}
    rotation, translation = estimate_pose(landmarks, matrix)
    offsets: dict[str, np.ndarray] = {"legacy": np.zeros(2)}
    for centering, point in CENTERING_POINTS_3D.items():
        if point is None:
            continue
        projected, _ = cv2.projectPoints(
            np.array([point], dtype=np.float64),
            rotation,
            translation,
            np.ascontiguousarray(CAMERA_MATRIX),
            np.zeros((4, 1)),
        )
        offsets[centering] = projected.reshape(2) - 0.5
    return offsets


def padding(size: int, centering: str, coverage: float = 1.0) -> int:
    """Pixels between the crop edge and the mean-face box for ``centering`` at ``coverage`` (0-1].

    At coverage 1.0 this is faceswap's extraction padding. For other coverages it follows
    faceswap's formula (``AlignedFace`` in ``lib/align/aligned_face.py``), which makes a direct
    crop agree with the training sub-crop of a head-centred face (:func:`sub_crop_window`), so a
    frame cropped for swapping matches what the model learnt.
    """
    _check_centering(centering)
    return int(round(size * (EXTRACT_RATIOS[centering] + coverage - 1.0) / (2.0 * coverage)))


def aligned_matrix(
    landmarks: np.ndarray,
    size: int,
    centering: str = "head",
    coverage: float = 1.0,
    offsets: Mapping[str, np.ndarray] | None = None,
    matrix: np.ndarray | None = None,
) -> np.ndarray:
    """The 2x3 matrix mapping frame pixels into an aligned ``size`` x ``size`` crop.

    Faceswap extracted its faces with ``centering="head", coverage=1.0``. ``offsets`` and ``matrix``
    (the legacy matrix) may be passed in to avoid solving the pose again.
    """
    _check_centering(centering)
    if matrix is None:
        matrix = legacy_matrix(landmarks)
    result = np.array(matrix, dtype=np.float64)[:2].copy()
    if centering != "legacy":
        if offsets is None:
            offsets = centering_offsets(landmarks, matrix)
        result[:, 2] -= offsets[centering]
    pad = padding(size, centering, coverage)
    result *= size - 2 * pad
    result[:, 2] += pad
    return result


def warp_interpolation(matrix: np.ndarray) -> int:
    """cv2 interpolation for a warp: cubic when the matrix enlarges, area when it shrinks."""
    scale = float(np.sqrt(abs(np.linalg.det(np.asarray(matrix, dtype=np.float64)[:2, :2]))))
    return cv2.INTER_CUBIC if scale >= 1.0 else cv2.INTER_AREA


def extract_face(
    frame: np.ndarray,
    landmarks: np.ndarray,
    size: int,
    centering: str = "head",
    coverage: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The aligned ``size`` x ``size`` crop of ``frame`` and the 2x3 matrix that made it."""
    matrix = aligned_matrix(landmarks, size, centering, coverage)
    image = cv2.warpAffine(
        frame,
        matrix,
        (size, size),
        flags=warp_interpolation(matrix),
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return image, matrix


def sub_crop_window(
    size: int,
    source_centering: str,
    target_centering: str,
    offsets: Mapping[str, np.ndarray],
    coverage: float = 1.0,
    y_offset: float = 0.0,
) -> tuple[int, int, int]:
    """(left, top, crop size) of the ``target_centering`` window inside a ``source_centering`` crop.

    ``size`` is the source crop's size (an extracted face, or a stored mask); ``coverage`` is a
    fraction (0-1] and ``y_offset`` a fraction of the mean-face box (negative moves the face up).
    The same window faceswap cuts from faces and stored masks (``lib/align/aligned_utils.py``,
    ``lib/align/aligned_mask.py``).
    """
    _check_centering(source_centering)
    _check_centering(target_centering)
    src_box = 1.0 - EXTRACT_RATIOS[source_centering]
    if source_centering == target_centering and coverage == 1.0:
        crop = size
    else:
        crop = 2 * int(
            round(size * (src_box / (1.0 - EXTRACT_RATIOS[target_centering])) * coverage / 2)
        )
    base = size * src_box  # the mean-face box of the source crop, in its pixels
    shift = (
        np.asarray(offsets[target_centering], dtype=np.float64)
        - np.asarray(offsets[source_centering], dtype=np.float64)
        - np.array([0.0, y_offset])
    )
    left, top = np.rint(shift * base + (size - crop) / 2.0).astype(int)
    return int(left), int(top), max(crop, 2)


def crop_window(image: np.ndarray, left: int, top: int, crop: int) -> np.ndarray:
    """The ``crop`` x ``crop`` window at (left, top) of ``image``; outside the image is zero."""
    height, width = image.shape[:2]
    out = np.zeros((crop, crop) + image.shape[2:], dtype=image.dtype)
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + crop, width), min(top + crop, height)
    if x1 > x0 and y1 > y0:
        out[y0 - top : y1 - top, x0 - left : x1 - left] = image[y0:y1, x0:x1]
    return out


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize a square image to ``size``: cubic when enlarging, area when shrinking (as
    faceswap)."""
    current = image.shape[0]
    if current == size:
        return image
    interp = cv2.INTER_CUBIC if size > current else cv2.INTER_AREA
    out = cv2.resize(image, (size, size), interpolation=interp)
    if image.ndim == 3 and out.ndim == 2:
        out = out[..., None]
    return out


def window_points(points: np.ndarray, left: int, top: int, crop: int, size: int) -> np.ndarray:
    """Map (N, 2) pixel coordinates of a source crop into a ``crop`` window resized to ``size``.

    Pixel centres are the integer coordinates (as in cv2.warpAffine), so the resize maps
    ``x -> (x + 0.5) * size / crop - 0.5``.
    """
    scale = size / float(crop)
    shifted = np.asarray(points, dtype=np.float64) - np.array([left, top], dtype=np.float64)
    return (shifted + 0.5) * scale - 0.5
