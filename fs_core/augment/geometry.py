"""Geometric augmentation: a random affine transform (zoom, rotation, shift) and a horizontal flip.

Both move images, masks and every set of crop points together (the face's landmarks and the
neighbour landmarks warp-to-landmarks aims at, :meth:`AugmentBatch.point_sets`), so the masks still
cover the face and the points still sit where the features are. Moving the neighbours too is what
faceswap does (lib/training/data/augmentation.py transforms and flips both point sets): the warp
then morphs the augmented face toward an equally augmented neighbour.
"""

from __future__ import annotations

import cv2
import numpy as np

from fs_core.data.batch import AugmentBatch


def affine_matrix(
    size: int, angle_deg: float, scale: float, shift_x: float, shift_y: float
) -> np.ndarray:
    """The 2×3 matrix rotating by ``angle_deg`` (counter-clockwise on screen) and scaling about the
    centre (size − 1) / 2, then shifting by (shift_x, shift_y) pixels; OpenCV's rotation
    convention."""
    centre = (size - 1) / 2.0
    matrix = cv2.getRotationMatrix2D((centre, centre), float(angle_deg), float(scale))
    matrix[:, 2] += np.array((shift_x, shift_y))
    return matrix


def transform_points(points: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Apply one 2×3 matrix per face: ``points`` (N, L, 2), ``matrices`` (N, 2, 3) → (N, L, 2)."""
    moved = np.einsum("nlj,nij->nli", points, matrices[:, :, :2]) + matrices[:, None, :, 2]
    return moved.astype(np.float32)


def draw_affine(count: int, size: int, rng: np.random.Generator, options) -> np.ndarray:
    """One random matrix per face, from ``rotation_range`` (degrees), ``zoom_amount`` and
    ``shift_range`` (percent). Returns (count, 2, 3) float64."""
    angles = rng.uniform(-options.rotation_range, options.rotation_range, count)
    scales = rng.uniform(1 - options.zoom_amount / 100.0, 1 + options.zoom_amount / 100.0, count)
    limit = options.shift_range / 100.0 * size
    shifts = rng.uniform(-limit, limit, (count, 2))
    return (
        np.stack(
            [affine_matrix(size, a, s, tx, ty) for a, s, (tx, ty) in zip(angles, scales, shifts)]
        )
        if count
        else np.zeros((0, 2, 3))
    )


def apply_affine(batch: AugmentBatch, matrices: np.ndarray) -> None:
    """Warp every face (and its masks) by its matrix, replicating the border; move its points
    (landmarks and neighbours) by the same matrix."""
    size = batch.size
    for index, matrix in enumerate(matrices):
        batch.images[index] = cv2.warpAffine(
            batch.images[index],
            matrix,
            (size, size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        if batch.masks is not None:
            warped = cv2.warpAffine(
                batch.masks[index],
                matrix,
                (size, size),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            )
            batch.masks[index] = warped.reshape(batch.masks.shape[1:])
    for points in batch.point_sets():
        # (N, k·68, 2): one matrix per face (the count spelt out, so an empty batch reshapes too)
        flat = points.reshape(len(points), int(np.prod(points.shape[1:-1])), 2)
        points[...] = transform_points(flat, matrices).reshape(points.shape)


def augment_affine(batch: AugmentBatch, rng: np.random.Generator, options) -> None:
    """Random zoom, rotation and shift for each face (images, masks and points alike)."""
    apply_affine(batch, draw_affine(len(batch), batch.size, rng, options))


def _mirror_order_68() -> np.ndarray:
    """For each of the 68 iBUG points, the index of its mirror image (right eye ↔ left eye ...)."""
    pairs = [(i, 16 - i) for i in range(8)]  # jaw
    pairs += [(17 + i, 26 - i) for i in range(5)]  # eyebrows
    pairs += [(31, 35), (32, 34)]  # nostrils
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]  # outer lips
    pairs += [(60, 64), (61, 63), (65, 67)]  # inner lips
    order = np.arange(68)
    for left, right in pairs:
        order[left], order[right] = right, left
    return order


MIRROR_68 = _mirror_order_68()


def flip_landmarks(landmarks: np.ndarray, size: int) -> np.ndarray:
    """Mirror (…, 68, 2) landmarks of a ``size`` crop: x → size − 1 − x, and the left/right points
    swap indices so that index 36 is still the right eye's outer corner after the flip."""
    flipped = landmarks[..., MIRROR_68, :].copy()
    flipped[..., 0] = (size - 1) - flipped[..., 0]
    return flipped


def augment_flip(batch: AugmentBatch, rng: np.random.Generator, options) -> None:
    """Flip each face horizontally with ``flip_chance`` percent: images, masks and points.

    Landmarks get x → P − 1 − x *and* their left/right indices swapped (:data:`MIRROR_68`), so the
    eye, eyebrow, jaw and mouth points keep their meaning for the eye/mouth masks. A flipped face's
    neighbours are flipped the same way, so each index still pairs the same feature of the face and
    of its neighbour for warp-to-landmarks (faceswap mirrors x only, in both sets alike: the same
    pairs).
    """
    chosen = np.flatnonzero(rng.random(len(batch)) < options.flip_chance / 100.0)
    if chosen.size == 0:
        return
    for index in chosen:
        batch.images[index] = cv2.flip(batch.images[index], 1)
        if batch.masks is not None:
            batch.masks[index] = cv2.flip(batch.masks[index], 1).reshape(batch.masks.shape[1:])
    for points in batch.point_sets():
        points[chosen] = flip_landmarks(points[chosen], batch.size)
