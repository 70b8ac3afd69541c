"""Warp-to-landmarks after the random zoom/rotation/shift and flip: input and target must agree.

The affine and flip stages move each face's pixels and landmarks; the neighbour landmarks that
warp-to-landmarks warps toward live in the same crop and must move with them (as in faceswap's
lib/training/data/augmentation.py), or the warp drags the input back toward the un-augmented pose.

Measurement: every image of the batch is black with one soft dot drawn at one landmark of a demo
face, so each landmark is found by its own centroid however close the landmarks lie. Each face's
only neighbour is its own un-augmented landmarks and the landmark noise is off, so after a correct
augmentation the warped input must put every dot where the target has it.
"""

from __future__ import annotations

import numpy as np
import pytest

from fs_core.augment import builtin, landmark_warp
from fs_core.augment.geometry import (
    MIRROR_68,
    affine_matrix,
    apply_affine,
    augment_flip,
    flip_landmarks,
    transform_points,
)
from fs_core.config.sections import AugmentationOptions
from fs_core.data.assemble import SidePlan, build_side, order_augmenters
from fs_core.data.batch import AugmentBatch
from fs_core.faces.demo import write_demo_data
from fs_core.faces.prepare import PrepareSpec, prepare_face
from fs_core.faces.read import read_face

P = 128


@pytest.fixture(scope="module")
def demo_landmarks(tmp_path_factory):
    """Crop landmarks (F, 68, 2) of a few demo faces of both identities at P."""
    folder_a, folder_b = write_demo_data(tmp_path_factory.mktemp("demo"), count=2, size=P, seed=3)
    spec = PrepareSpec(size=P, centering="face")
    paths = sorted(folder_a.glob("*.png")) + sorted(folder_b.glob("*.png"))
    return np.stack([prepare_face(read_face(path), spec, path).landmarks for path in paths])


def _dot_images(points: np.ndarray) -> np.ndarray:
    """(N, P, P, 3) uint8: a Gaussian dot (sigma 1.5 px) at each of ``points`` (N, 2)."""
    axis = np.arange(P, dtype=np.float64)
    dx = axis[None, None, :] - points[:, 0, None, None]
    dy = axis[None, :, None] - points[:, 1, None, None]
    dots = np.rint(255.0 * np.exp(-(dx**2 + dy**2) / (2 * 1.5**2))).astype(np.uint8)
    return np.repeat(dots[..., None], 3, axis=-1)


def _centroids(images: np.ndarray) -> np.ndarray:
    """Intensity-weighted centre (x, y) of the first channel of each of (N, P, P, C) images."""
    weights = np.asarray(images[..., 0], np.float64)
    weights = np.where(weights > 8.0 / 255.0 * weights.max(), weights, 0.0)
    axis = np.arange(P, dtype=np.float64)
    total = weights.sum(axis=(1, 2))
    return np.stack(
        [
            (weights * axis[None, None, :]).sum(axis=(1, 2)) / total,
            (weights * axis[None, :, None]).sum(axis=(1, 2)) / total,
        ],
        axis=1,
    )


def landmark_error(landmarks: np.ndarray, options: AugmentationOptions, seed: int = 0) -> float:
    """Mean distance (px) between each landmark's dot in the warped input and in the target.

    One image per (face, landmark); the faces' own landmarks are their only neighbours. Dots the
    random transform pushed to (or past) the image's edge are left out: they are cut or smeared.
    """
    _faces, count = landmarks.shape[:2]
    own = np.repeat(landmarks, count, axis=0)  # (faces*68, 68, 2)
    dots = _dot_images(landmarks.reshape(-1, 2))
    batch = AugmentBatch(images=dots, landmarks=own.copy(), neighbours=own[:, None].copy())
    plan = SidePlan(
        input_size=P,
        output_sizes=(P,),
        options=options,
        augmenters=order_augmenters(builtin.fs_augmenters(), options),
    )
    names = [a.name for a in plan.augmenters]
    assert names[0] == "affine" and names[-1] == "warp_to_landmarks" and "color" not in names
    side = build_side(batch, plan, np.random.default_rng(seed))
    with np.errstate(invalid="ignore", divide="ignore"):
        target, warped = _centroids(side["targets"][0]), _centroids(side["input"])
    inside = np.all((target > 6) & (target < P - 7), axis=1)
    assert inside.mean() > 0.9
    return float(np.linalg.norm(warped[inside] - target[inside], axis=1).mean())


@pytest.mark.parametrize("flip_chance", [0, 50])
def test_input_and_target_landmarks_agree_after_affine_and_flip(
    demo_landmarks, monkeypatch, flip_chance
):
    monkeypatch.setattr(landmark_warp, "NOISE_SCALE", 0.0)
    options = AugmentationOptions(
        rotation_range=20,
        zoom_amount=15,
        shift_range=8,
        flip_chance=flip_chance,
        no_augment_color=True,
        warp_to_landmarks=True,
    )
    assert landmark_error(demo_landmarks, options) < 1.0


def test_neighbours_move_exactly_as_the_landmarks(demo_landmarks):
    """Affine and flip give the neighbour sets the very transform (and index mirroring) of the
    face."""
    landmarks = demo_landmarks[:2].astype(np.float32)
    neighbours = np.stack([demo_landmarks[[2, 3]], demo_landmarks[[3, 0]]]).astype(np.float32)
    batch = AugmentBatch(
        images=np.zeros((2, P, P, 3), np.uint8),
        landmarks=landmarks.copy(),
        neighbours=neighbours.copy(),
    )
    matrices = np.stack([affine_matrix(P, 17, 1.1, 3, -5), affine_matrix(P, -9, 0.93, -4, 2)])
    apply_affine(batch, matrices)
    moved = transform_points(neighbours.reshape(2, -1, 2), matrices).reshape(neighbours.shape)
    np.testing.assert_allclose(batch.landmarks, transform_points(landmarks, matrices), atol=1e-4)
    np.testing.assert_allclose(batch.neighbours, moved, atol=1e-4)
    own = batch.landmarks.copy()
    augment_flip(batch, np.random.default_rng(0), AugmentationOptions(flip_chance=75))
    flipped = [
        np.allclose(batch.landmarks[i], flip_landmarks(own[i], P), atol=1e-4) for i in range(2)
    ]
    assert any(flipped)
    for index, was_flipped in enumerate(flipped):
        expected = flip_landmarks(moved[index], P) if was_flipped else moved[index]
        np.testing.assert_allclose(batch.neighbours[index], expected, atol=1e-4)
        if was_flipped:  # a flipped neighbour's index 36 (right eye, outer corner) was its index 45
            np.testing.assert_allclose(
                batch.neighbours[index, :, 36, 0],
                P - 1 - moved[index, :, MIRROR_68[36], 0],
                atol=1e-4,
            )
