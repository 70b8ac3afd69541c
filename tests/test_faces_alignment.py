"""Alignment geometry (faceswap's lib/align/): Umeyama, legacy matrix, pose offsets, crops."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fs_core.faces import alignment as al
from fs_core.faces.demo import _NEUTRAL


def _similarity(angle, scale, tx, ty):
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    return np.array([[c, -s, tx], [s, c, ty]])


@settings(max_examples=50, deadline=None)
@given(
    st.floats(-np.pi + 0.01, np.pi - 0.01),
    st.floats(0.05, 20.0),
    st.floats(-500, 500),
    st.floats(-500, 500),
)
def test_umeyama_recovers_a_known_similarity(angle, scale, tx, ty):
    src = np.random.default_rng(3).normal(0, 50, (20, 2))
    matrix = _similarity(angle, scale, tx, ty)
    dst = al.transform_points(src, matrix)
    found = al.umeyama(src, dst)
    np.testing.assert_allclose(found[:2], matrix, atol=1e-6 * max(1.0, scale) * 500)
    np.testing.assert_allclose(found[2], [0, 0, 1])


def test_umeyama_least_squares_with_noise():
    rng = np.random.default_rng(0)
    src = rng.normal(0, 10, (200, 2))
    matrix = _similarity(0.3, 2.0, 5.0, -7.0)
    dst = al.transform_points(src, matrix) + rng.normal(0, 0.01, (200, 2))
    np.testing.assert_allclose(al.umeyama(src, dst)[:2], matrix, atol=0.01)


def _frame_landmarks(angle=0.2, scale=180.0, centre=(300.0, 260.0)):
    return al.transform_points(_NEUTRAL - 0.5, _similarity(angle, scale, *centre))


def test_packaged_constants_are_faceswaps():
    """Spot values of faceswap's lib/align/constants.py (EXTRACT_RATIOS, the 51-point mean face):
    a changed constant file would move every crop."""
    assert dict(al.EXTRACT_RATIOS) == {"legacy": 0.375, "face": 0.5, "head": 0.625}
    assert al.MEAN_FACE_2D.shape == (51, 2)
    np.testing.assert_array_equal(al.MEAN_FACE_2D[0], [0.010086, 0.106454])
    np.testing.assert_array_equal(al.MEAN_FACE_2D[10], [0.5, 0.203352])
    np.testing.assert_array_equal(al.MEAN_FACE_2D[-1], [0.436763, 0.824182])


def test_constants_are_read_only():
    with pytest.raises(ValueError):
        al.MEAN_FACE_2D[0, 0] = 1.0


def test_legacy_matrix_maps_landmarks_onto_the_mean_face():
    landmarks = _frame_landmarks()
    unit = al.transform_points(landmarks, al.legacy_matrix(landmarks))
    np.testing.assert_allclose(unit[17:], al.MEAN_FACE_2D, atol=1e-9)


def test_centering_offsets_frontal_face():
    offsets = al.centering_offsets(_frame_landmarks())
    np.testing.assert_array_equal(offsets["legacy"], [0, 0])
    for name in ("face", "head"):
        assert abs(offsets[name][0]) < 0.02  # frontal, symmetric: no sideways shift
    # both crops are centred above the nose tip, the head crop higher than the face crop
    assert offsets["head"][1] < offsets["face"][1] < 0


def test_offsets_do_not_depend_on_frame_placement():
    one = al.centering_offsets(_frame_landmarks(0.0, 100.0, (100.0, 100.0)))
    two = al.centering_offsets(_frame_landmarks(0.7, 333.0, (900.0, 40.0)))
    for name in ("face", "head"):
        np.testing.assert_allclose(one[name], two[name], atol=1e-4)


@pytest.mark.parametrize("centering, box", [("head", 0.375), ("face", 0.5), ("legacy", 0.625)])
def test_aligned_matrix_padding(centering, box):
    size = 256
    landmarks = _frame_landmarks()
    matrix = al.aligned_matrix(landmarks, size, centering)
    in_crop = al.transform_points(landmarks, matrix)
    # the mean face spans the unit box, which is (1 - ratio) of the crop
    span = in_crop[17:, 0].max() - in_crop[17:, 0].min()
    mean_span = al.MEAN_FACE_2D[:, 0].max() - al.MEAN_FACE_2D[:, 0].min()
    assert span == pytest.approx(size * box * mean_span, rel=1e-6)
    assert al.padding(size, centering) == round(size * (1 - box) / 2)


def test_sub_crop_of_head_crop_matches_direct_face_crop():
    """Cropping an extracted head face to face centering equals extracting at face centering."""
    rng = np.random.default_rng(0)
    frame = cv2.resize(
        rng.integers(0, 255, (15, 15, 3), dtype=np.uint8), (600, 600), interpolation=cv2.INTER_CUBIC
    )
    landmarks = _frame_landmarks(0.1, 200.0, (300.0, 290.0))
    head, _ = al.extract_face(frame, landmarks, 256, "head")
    offsets = al.centering_offsets(landmarks)
    for coverage in (1.0, 0.75):
        left, top, crop = al.sub_crop_window(256, "head", "face", offsets, coverage)
        assert crop == 2 * round(256 * 0.75 * coverage / 2)
        sub = al.crop_window(head, left, top, crop)
        direct, _ = al.extract_face(frame, landmarks, crop, "face", coverage)
        diff = np.abs(sub.astype(float) - direct.astype(float))[4:-4, 4:-4]
        assert diff.mean() < 3.0  # sub-crops start on whole pixels: up to half a pixel off
        wrong = al.crop_window(head, left, top + 8, crop)
        assert np.abs(wrong.astype(float) - direct.astype(float))[4:-4, 4:-4].mean() > 3 * 3.0
        # landmarks agree too
        head_pts = al.transform_points(landmarks, al.aligned_matrix(landmarks, 256, "head"))
        moved = al.window_points(head_pts, left, top, crop, crop)
        direct_pts = al.transform_points(
            landmarks, al.aligned_matrix(landmarks, crop, "face", coverage)
        )
        np.testing.assert_allclose(moved, direct_pts, atol=1.0)


def test_crop_window_zero_fills_outside():
    image = np.full((10, 10, 3), 7, np.uint8)
    out = al.crop_window(image, -3, 5, 8)
    assert out.shape == (8, 8, 3)
    assert (out[:5, 3:] == 7).all() and (out[:, :3] == 0).all() and (out[5:] == 0).all()


def test_resize_square_interpolation():
    image = np.zeros((8, 8, 2), np.uint8)
    assert al.resize_square(image, 16).shape == (16, 16, 2)
    assert al.resize_square(image[..., :1], 4).shape == (4, 4, 1)
