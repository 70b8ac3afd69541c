"""Warp-to-landmarks: morph each input face toward the geometry of a similar face of the other side.

Instead of random noise, the input's distortion is the one that moves this face's landmarks onto the
landmarks of one of the faces of the *other* identity nearest to it (plus a little noise), so the
model learns to undo exactly the kind of change a swap asks of it.

Where the neighbours come from: the loader finds, once when it starts, the k nearest faces of the
other side for every face (:func:`fs_core.data.neighbours.nearest_faces`) and hands each batch their
landmarks in :attr:`AugmentBatch.neighbours` (N, k, 68, 2). This module keeps no state.

Per face: src = the face's own landmarks after the affine transform and flip; dst = a random one of
its neighbours after the *same* transform and flip (the geometric stages move both, see
:meth:`AugmentBatch.point_sets`) + N(0, 2/256·P). Jaw points (and point 17) that fall inside the
hull of the inner features of either set are dropped, 8 border anchors pin the frame, and the dst →
src mapping is interpolated piecewise-linearly over Delaunay triangles of dst (each pixel takes the
affine map of the triangle it lies in). The result is remapped bilinearly with a transparent border.
"""

from __future__ import annotations

import cv2
import numpy as np

from fs_core.data.batch import AugmentBatch

NOISE_SCALE = 2.0 / 256.0
JAW_POINTS = 18  # 0-16 jaw and 17, the candidates for removal


def border_anchors(size: int) -> np.ndarray:
    """The 4 corners and 4 edge midpoints of a size×size image: (8, 2) float32."""
    end, mid = size - 1.0, (size - 1.0) / 2.0
    return np.array(
        [[0, 0], [mid, 0], [end, 0], [end, mid], [end, end], [mid, end], [0, end], [0, mid]],
        np.float32,
    )


def _inner_hull_keep(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Mask over the 68 points: False for jaw points strictly inside the inner features' hull."""
    hull = cv2.convexHull(np.concatenate([src[17:], dst[17:]]).astype(np.float32))
    keep = np.ones(len(src), bool)
    for index in range(JAW_POINTS):
        for point in (src[index], dst[index]):
            if cv2.pointPolygonTest(hull, (float(point[0]), float(point[1])), False) > 0:
                keep[index] = False
    return keep


def _triangles(points: np.ndarray, size: int) -> np.ndarray:
    """Delaunay triangles of ``points`` (M, 2) as vertex indices (T, 3)."""
    bound = 4 * size
    clipped = np.clip(points, -bound + 1, bound - 1).astype(np.float32)
    # Subdiv2D hands back corner coordinates, not indices: key each float32 (x, y) pair by its
    # 8 bytes so corners are found among the points by an exact match
    keys, first = np.unique(np.ascontiguousarray(clipped).view(np.int64).ravel(), return_index=True)
    subdiv = cv2.Subdiv2D((-bound, -bound, 2 * bound, 2 * bound))
    subdiv.insert(clipped[first])  # repeated points once
    corners = np.ascontiguousarray(subdiv.getTriangleList(), np.float32).view(np.int64)  # (T, 3)
    where = np.minimum(np.searchsorted(keys, corners), len(keys) - 1)
    found = (keys[where] == corners).all(axis=1)  # drop triangles on Subdiv2D's virtual vertices
    return first[where[found]]


def piecewise_affine_maps(
    dst: np.ndarray, src: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Maps (map_x, map_y) that send each pixel of the dst geometry to its place in src, linear
    inside each Delaunay triangle of ``dst``; pixels no triangle covers map to themselves."""
    triangles = _triangles(dst, size)
    dst_tri, src_tri = dst[triangles].astype(np.float64), src[triangles].astype(np.float64)
    homogeneous = np.concatenate([dst_tri, np.ones(dst_tri.shape[:2] + (1,))], axis=2)  # (T, 3, 3)
    usable = np.abs(np.linalg.det(homogeneous)) > 1e-6
    homogeneous, src_tri, dst_tri = homogeneous[usable], src_tri[usable], dst_tri[usable]
    coefficients = (
        np.linalg.solve(homogeneous, src_tri) if len(homogeneous) else np.zeros((0, 3, 2))
    )

    # label each pixel with its triangle (1-based; 0 = none), then apply that triangle's map
    labels = np.zeros((size, size), np.int32)
    for number, corners in enumerate(np.rint(dst_tri * 16).astype(np.int32), start=1):
        cv2.fillConvexPoly(labels, corners, number, cv2.LINE_8, 4)
    identity = np.array([[1, 0], [0, 1], [0, 0]], np.float64)
    table = np.concatenate([identity[None], coefficients]).reshape(-1, 6).astype(np.float32)
    chosen = table[labels]  # (P, P, 6): x·(a, b) + y·(c, d) + (e, f)
    axis = np.arange(size, dtype=np.float32)
    map_x = axis[None, :] * chosen[..., 0] + axis[:, None] * chosen[..., 2] + chosen[..., 4]
    map_y = axis[None, :] * chosen[..., 1] + axis[:, None] * chosen[..., 3] + chosen[..., 5]
    return map_x, map_y


def warp_face_to(image: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Move ``image``'s features from ``src`` landmarks to ``dst`` landmarks (both (68, 2))."""
    size = image.shape[0]
    keep = _inner_hull_keep(src, dst)
    anchors = border_anchors(size)
    src_points = np.concatenate([src[keep], anchors])
    dst_points = np.concatenate([dst[keep], anchors])
    map_x, map_y = piecewise_affine_maps(dst_points, src_points, size)
    return cv2.remap(
        image, map_x, map_y, cv2.INTER_LINEAR, dst=image.copy(), borderMode=cv2.BORDER_TRANSPARENT
    )


def augment_warp_to_landmarks(batch: AugmentBatch, rng: np.random.Generator, options) -> None:
    """Warp the input copy of each face toward a random one of its nearest other-side faces."""
    if batch.landmarks is None or batch.neighbours is None:
        raise ValueError(
            "warp_to_landmarks needs batch.landmarks and batch.neighbours; the loader "
            "fills them when both face sets have landmarks"
        )
    count, size = len(batch), batch.size
    source = batch.input_images()
    out = np.empty_like(source)
    picks = rng.integers(0, batch.neighbours.shape[1], count)
    noise = rng.normal(0.0, NOISE_SCALE * size, (count, 68, 2)).astype(np.float32)
    for index in range(count):
        dst = batch.neighbours[index, picks[index]] + noise[index]
        out[index] = warp_face_to(source[index], batch.landmarks[index], dst)
    batch.warped = out
