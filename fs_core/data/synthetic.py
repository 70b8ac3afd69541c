"""Synthetic prepared faces, for tests and the loader benchmark when no face set is at hand.

A face is a skin-coloured oval with dark eyes, brows and a red mouth on a gradient background, drawn
from a 68-point iBUG-layout landmark template that is jittered per face, so every augmenter (masks,
landmarks, warp-to-landmarks) has something real to act on. Faces depend only on their path and
the seed given, so a "set" of paths behaves like a face folder.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import attrs
import cv2
import numpy as np


@attrs.define
class SyntheticFace:
    """Has the fields of ``fs_core.faces.prepare.PreparedFace`` that the cache reads."""

    image: np.ndarray
    masks: np.ndarray | None
    landmarks: np.ndarray | None


def _arc(
    centre: tuple[float, float], radii: tuple[float, float], start: float, stop: float, count: int
) -> np.ndarray:
    angles = np.radians(np.linspace(start, stop, count))
    return np.stack(
        [centre[0] + radii[0] * np.cos(angles), centre[1] + radii[1] * np.sin(angles)], 1
    )


def landmark_template() -> np.ndarray:
    """A left/right symmetric 68-point face in unit coordinates (x right, y down; point 0 at the
    image's left, the subject's right, as in iBUG)."""
    jaw = _arc((0.5, 0.40), (0.36, 0.48), 180, 0, 17)  # 0 at the left, chin (8) at the bottom
    brow_r = _arc((0.33, 0.33), (0.12, 0.05), 200, 340, 5)
    brow_l = brow_r[::-1].copy()
    brow_l[:, 0] = 1.0 - brow_l[:, 0]
    bridge = np.stack([np.full(4, 0.5), np.linspace(0.36, 0.55, 4)], 1)
    nostrils = np.stack([np.linspace(0.42, 0.58, 5), [0.60, 0.62, 0.63, 0.62, 0.60]], 1)
    eye_r = _arc((0.34, 0.42), (0.07, 0.03), 180, 540, 7)[:6]
    eye_l = eye_r.copy()
    eye_l[:, 0] = 1.0 - eye_l[:, 0]
    eye_l = eye_l[[3, 2, 1, 0, 5, 4]]
    mouth_outer = _arc((0.5, 0.75), (0.16, 0.07), 180, 540, 13)[:12]
    mouth_inner = _arc((0.5, 0.75), (0.10, 0.03), 180, 540, 9)[:8]
    points = np.concatenate(
        [jaw, brow_r, brow_l, bridge, nostrils, eye_r, eye_l, mouth_outer, mouth_inner]
    )
    return points.astype(np.float32)


def draw_face(landmarks: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A BGR uint8 face image drawn around ``landmarks`` (68, 2) in pixels."""
    ramp = np.linspace(0, 1, size, dtype=np.float32)
    base = rng.uniform(30, 200, 3).astype(np.float32)
    tilt = rng.uniform(-60, 60, 3).astype(np.float32)
    image = np.clip(base + ramp[:, None, None] * tilt, 0, 255).astype(np.uint8)
    image = np.ascontiguousarray(np.broadcast_to(image, (size, size, 3)))
    points = np.rint(landmarks * 16).astype(np.int32)
    skin = tuple(float(v) for v in rng.uniform([90, 120, 160], [150, 180, 230]))
    cv2.fillConvexPoly(image, cv2.convexHull(points), skin, cv2.LINE_AA, 4)
    for part, colour in (
        (slice(17, 22), (40, 40, 60)),
        (slice(22, 27), (40, 40, 60)),
        (slice(36, 42), (50, 30, 20)),
        (slice(42, 48), (50, 30, 20)),
        (slice(48, 60), (60, 60, 190)),
        (slice(27, 36), (100, 130, 170)),
    ):
        cv2.fillConvexPoly(image, cv2.convexHull(points[part]), colour, cv2.LINE_AA, 4)
    noise = rng.normal(0, 6, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def draw_masks(landmarks: np.ndarray, size: int, names: Sequence[str]) -> np.ndarray:
    """uint8 (size, size, K) masks: "face" (hull of all points), "eye", "mouth" (their hulls)."""
    parts = {
        "face": [slice(0, 68)],
        "eye": [slice(36, 42), slice(42, 48)],
        "mouth": [slice(48, 60)],
    }
    masks = np.zeros((size, size, len(names)), np.uint8)
    points = np.rint(landmarks * 16).astype(np.int32)
    for channel, name in enumerate(names):
        plane = np.zeros((size, size), np.uint8)
        for part in parts[name]:
            cv2.fillConvexPoly(plane, cv2.convexHull(points[part]), 255, cv2.LINE_8, 4)
        masks[..., channel] = plane
    return masks


def synthetic_prepare(
    size: int, mask_names: Sequence[str] = (), landmarks: bool = True, seed: int = 0
):
    """A ``prepare(path) -> SyntheticFace`` whose faces depend on the path's name and ``seed``."""
    template = landmark_template()
    names = tuple(mask_names)

    def prepare(path: str) -> SyntheticFace:
        rng = np.random.default_rng([seed, zlib.crc32(str(path).encode())])
        scale = rng.uniform(0.75, 0.9) * size
        offset = (size - scale) / 2 + rng.uniform(-0.03, 0.03, 2) * size
        points = (template * scale + offset + rng.normal(0, 0.01 * size, template.shape)).astype(
            np.float32
        )
        return SyntheticFace(
            image=draw_face(points, size, rng),
            masks=draw_masks(points, size, names) if names else None,
            landmarks=points if landmarks else None,
        )

    return prepare
