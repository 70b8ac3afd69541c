"""The built-in augmenters on synthetic faces with known landmarks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fs_core.augment import builtin
from fs_core.augment.color import augment_color, clahe_grid, shift_channels
from fs_core.augment.geometry import (
    MIRROR_68,
    affine_matrix,
    apply_affine,
    augment_affine,
    augment_flip,
    flip_landmarks,
    transform_points,
)
from fs_core.augment.grid_warp import augment_grid_warp, displacement_fields
from fs_core.augment.landmark_warp import (
    augment_warp_to_landmarks,
    border_anchors,
    piecewise_affine_maps,
    warp_face_to,
)
from fs_core.config.sections import AugmentationOptions
from fs_core.data.batch import AugmentBatch
from fs_core.data.synthetic import landmark_template, synthetic_prepare

P = 64


def faces(count=4, size=P, masks=("face",)):
    prepare = synthetic_prepare(size, masks)
    made = [prepare(f"f{i}.png") for i in range(count)]
    return AugmentBatch(
        images=np.stack([f.image for f in made]),
        masks=np.stack([f.masks for f in made]) if masks else None,
        mask_names=tuple(masks),
        landmarks=np.stack([f.landmarks for f in made]),
    )


def dot_batch(point, size=P):
    """One black face with a white 3×3 dot at ``point`` in the image and the mask, landmark 30
    there."""
    image = np.zeros((1, size, size, 3), np.uint8)
    x, y = point
    image[0, y - 1 : y + 2, x - 1 : x + 2] = 255
    landmarks = np.tile(np.float32([[size / 2, size / 2]]), (1, 68, 1))
    landmarks[0, 30] = point
    return AugmentBatch(
        images=image, masks=image[..., :1].copy(), mask_names=("face",), landmarks=landmarks
    )


def centroid(plane):
    ys, xs = np.nonzero(plane > 127)
    return np.array([xs.mean(), ys.mean()])


# ------------------------------------------------------------------ colour


def test_shift_channels_moves_toward_the_ends_and_stays_in_range():
    lab = np.array([[[[100, 0, 255]]]], np.uint8)
    assert shift_channels(lab, np.array([[0.5, 1.0, -1.0]])).tolist() == [[[[178, 255, 0]]]]
    assert shift_channels(lab, np.array([[-0.5, 0.0, 0.0]])).tolist() == [[[[50, 0, 255]]]]


def test_clahe_grid_follows_the_size():
    assert [clahe_grid(64, n) for n in (0, 1, 4)] == [2, 3, 6]
    assert [clahe_grid(512, n) for n in (0, 1)] == [4, 6]


def test_color_changes_lightness_but_keeps_uint8_shape():
    batch = faces(8)
    before = batch.images.copy()
    augment_color(batch, np.random.default_rng(0), AugmentationOptions(color_lightness=75))
    assert batch.images.dtype == np.uint8 and batch.images.shape == before.shape
    assert not np.array_equal(batch.images, before)
    assert batch.masks is not None  # untouched fields remain


def test_color_without_amounts_is_nearly_the_identity():
    batch = faces(2)
    before = batch.images.astype(int)
    options = AugmentationOptions(color_lightness=0, color_ab=0, color_clahe_chance=0)
    augment_color(batch, np.random.default_rng(0), options)
    error = np.abs(batch.images.astype(int) - before)  # the 8-bit LAB round trip only
    assert error.max() <= 6 and error.mean() < 1.0


# ------------------------------------------------------------------ affine


def test_affine_matrix_rotates_counter_clockwise_about_the_centre():
    c = (P - 1) / 2
    moved = transform_points(np.float32([[[c + 10, c]]]), affine_matrix(P, 90, 1.0, 0, 0)[None])
    np.testing.assert_allclose(moved[0, 0], [c, c - 10], atol=1e-4)
    shifted = transform_points(np.float32([[[c, c]]]), affine_matrix(P, 0, 2.0, 3, -4)[None])
    np.testing.assert_allclose(shifted[0, 0], [c + 3, c - 4], atol=1e-4)


def test_rotation_moves_image_mask_and_landmark_together():
    batch = dot_batch((44, 32))
    matrix = affine_matrix(P, 30, 1.1, 2, -3)
    apply_affine(batch, matrix[None])
    expected = transform_points(np.float32([[[44, 32]]]), matrix[None])[0, 0]
    np.testing.assert_allclose(batch.landmarks[0, 30], expected, atol=1e-4)
    np.testing.assert_allclose(centroid(batch.images[0, ..., 0]), expected, atol=0.6)
    np.testing.assert_allclose(centroid(batch.masks[0, ..., 0]), expected, atol=0.6)


def test_random_affine_keeps_landmarks_on_the_drawn_dot():
    options = AugmentationOptions(rotation_range=25, zoom_amount=10, shift_range=10)
    for seed in range(5):
        batch = dot_batch((40, 24))
        augment_affine(batch, np.random.default_rng(seed), options)
        np.testing.assert_allclose(
            centroid(batch.images[0, ..., 1]), batch.landmarks[0, 30], atol=0.6
        )


# ------------------------------------------------------------------ flip


def test_mirror_order_is_an_involution_pairing_eyes():
    assert np.array_equal(MIRROR_68[MIRROR_68], np.arange(68))
    assert MIRROR_68[36] == 45 and MIRROR_68[39] == 42 and MIRROR_68[8] == 8 and MIRROR_68[48] == 54


def test_flipping_a_symmetric_face_gives_the_same_landmarks():
    size = 101
    template = landmark_template() * (size - 1)
    np.testing.assert_allclose(flip_landmarks(template, size), template, atol=1e-3)


def test_flip_mirrors_images_masks_and_landmarks():
    dots = [dot_batch((50, 20)) for _ in range(12)]
    batch = AugmentBatch(
        images=np.concatenate([d.images for d in dots]),
        masks=np.concatenate([d.masks for d in dots]),
        mask_names=("face",),
        landmarks=np.concatenate([d.landmarks for d in dots]),
    )
    augment_flip(batch, np.random.default_rng(0), AugmentationOptions(flip_chance=50))
    flipped = 0
    for index in range(len(batch)):
        where = centroid(batch.images[index, ..., 2])
        assert tuple(where) in ((50, 20), (P - 1 - 50, 20))
        flipped += where[0] != 50
        np.testing.assert_allclose(centroid(batch.masks[index, ..., 0]), where)
        np.testing.assert_allclose(
            batch.landmarks[index, 30], where
        )  # the nose tip is its own mirror
    assert 0 < flipped < len(batch)


def test_flip_keeps_right_eye_index_on_the_right_eye():
    landmarks = faces(1).landmarks
    flipped = flip_landmarks(landmarks, P)
    np.testing.assert_allclose(
        flipped[0, 36:42, 0].mean(), P - 1 - landmarks[0, 42:48, 0].mean(), atol=1e-4
    )
    assert flipped[0, 36:42, 0].mean() < flipped[0, 42:48, 0].mean()  # still on the image's left
    np.testing.assert_allclose(flip_landmarks(flipped, P), landmarks, atol=1e-4)


def test_no_flip_at_zero_chance():
    batch = faces(6)
    before = batch.images.copy()
    augment_flip(batch, np.random.default_rng(0), AugmentationOptions(flip_chance=0))
    assert np.array_equal(batch.images, before)


# ------------------------------------------------------------------ warps


def test_zero_grid_noise_is_the_identity_field():
    fields = displacement_fields(np.zeros((3, 5, 5, 2), np.float32), P)
    assert fields.shape == (3, P, P, 2) and not fields.any()
    noisy = displacement_fields(
        np.random.default_rng(0).normal(0, 2, (2, 5, 5, 2)).astype(np.float32), P
    )
    assert noisy.std() > 0.3 and np.abs(np.diff(noisy, axis=1)).max() < 1.0  # smooth


def test_grid_warp_writes_the_input_copy_and_leaves_the_images():
    batch = faces(4)
    before = batch.images.copy()
    augment_grid_warp(batch, np.random.default_rng(0), AugmentationOptions())
    assert np.array_equal(batch.images, before)
    assert batch.warped.shape == before.shape and batch.warped.dtype == np.uint8
    assert not np.array_equal(batch.warped, before)


def test_piecewise_maps_follow_an_affine_motion_of_the_points():
    src = np.concatenate([faces(1).landmarks[0], border_anchors(P)])
    motion = np.array([[1.05, 0.03, -2.0], [-0.02, 0.97, 1.5]])
    dst = (src @ motion[:, :2].T + motion[:, 2]).astype(np.float32)
    dst[-8:] = src[-8:]
    map_x, map_y = piecewise_affine_maps(dst, src, P)
    inverse = np.linalg.inv(np.vstack([motion, [0, 0, 1]]))[:2]
    x, y = np.meshgrid(np.arange(P), np.arange(P))
    inner = slice(24, 44)  # well inside the face: only landmark triangles
    np.testing.assert_allclose(
        map_x[inner, inner],
        (inverse[0, 0] * x + inverse[0, 1] * y + inverse[0, 2])[inner, inner],
        atol=1e-3,
    )
    np.testing.assert_allclose(
        map_y[inner, inner],
        (inverse[1, 0] * x + inverse[1, 1] * y + inverse[1, 2])[inner, inner],
        atol=1e-3,
    )


def test_warp_to_landmarks_moves_the_face_to_the_destination():
    batch = faces(1)
    src = batch.landmarks[0]
    image = np.zeros((P, P, 3), np.uint8)
    nose = np.rint(src[30]).astype(int)
    cv2.circle(image, tuple(int(v) for v in nose), 2, (255, 255, 255), -1)
    dst = src.copy()
    dst[27:36] += (3.0, 2.0)  # move the nose only
    out = warp_face_to(image, src, dst)
    np.testing.assert_allclose(centroid(out[..., 0]), centroid(image[..., 0]) + (3, 2), atol=0.7)
    assert np.array_equal(warp_face_to(image, src, src), image)


def test_warp_to_landmarks_augmenter_uses_the_neighbours():
    batch = faces(3)
    others = faces(5).landmarks
    batch.neighbours = np.stack([others[[1, 2]], others[[3, 4]], others[[0, 1]]])
    before = batch.images.copy()
    augment_warp_to_landmarks(batch, np.random.default_rng(0), AugmentationOptions())
    assert np.array_equal(batch.images, before) and not np.array_equal(batch.warped, before)
    batch.neighbours = None
    with pytest.raises(ValueError, match="neighbours"):
        augment_warp_to_landmarks(batch, np.random.default_rng(0), AugmentationOptions())


# ------------------------------------------------------------------ registration


def test_builtin_descriptors_in_reference_order():
    found = builtin.fs_augmenters()
    assert [(a.name, a.stage) for a in found] == [
        ("color_transfer", 5),
        ("color", 10),
        ("affine", 20),
        ("flip", 30),
        ("blur_out_mask", 35),
        ("random_hsv", 40),
        ("grid_warp", 50),
        ("warp_to_landmarks", 50),
    ]
    assert [a.name for a in found if a.input_only] == [
        "random_hsv",
        "grid_warp",
        "warp_to_landmarks",
    ]
    assert [a.name for a in found if a.needs_landmarks] == ["warp_to_landmarks"]
    # DeepFaceLab's data options: side B only where DeepFaceLab says "src only", off by default
    assert [a.name for a in found if a.sides == ("b",)] == ["color_transfer", "random_hsv"]
    defaults = AugmentationOptions()
    assert not any(
        a.enabled(defaults)
        for a in found
        if a.name in ("color_transfer", "blur_out_mask", "random_hsv")
    )


@pytest.mark.parametrize(
    "switches, expected",
    [
        ({}, {"color", "affine", "flip", "grid_warp"}),
        ({"warp_to_landmarks": True}, {"color", "affine", "flip", "warp_to_landmarks"}),
        ({"no_warp": True, "warp_to_landmarks": True}, {"color", "affine", "flip"}),
        ({"no_flip": True, "no_augment_color": True}, {"affine", "grid_warp"}),
        (
            {"rotation_range": 0, "zoom_amount": 0, "shift_range": 0, "flip_chance": 0},
            {"color", "grid_warp"},
        ),
    ],
)
def test_switches_enable_the_right_augmenters(switches, expected):
    options = AugmentationOptions(**switches)
    assert {a.name for a in builtin.fs_augmenters() if a.enabled(options)} == expected


def test_registry_lists_the_builtin_augmenters(registry):
    assert {"color", "affine", "flip", "grid_warp", "warp_to_landmarks"} <= set(registry.augmenters)
