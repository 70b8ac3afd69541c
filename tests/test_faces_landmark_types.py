"""Faces with 98-point and 4-point landmarks, as faceswap's aligners write them.

Expected matrices, offsets, crop windows and mask sizes were computed with faceswap's own
lib/align (``AlignedFace``, ``PoseEstimate``, ``LandmarksMask``; commit acdcfa87) on the faces of
:mod:`landmark_layouts`, and its training crops of those faces were checked equal to fs's pixel
for pixel; the numbers are written out here so the tests run without faceswap.
"""

from __future__ import annotations

import copy
import hashlib
import json
import zlib
from importlib import resources

import cv2
import numpy as np
import pytest
from landmark_layouts import face_68, roi_4, to_98

from fs_core.config.sections import AugmentationOptions
from fs_core.data.loader import BatchLoader
from fs_core.errors import FsUserError
from fs_core.faces import alignment as al
from fs_core.faces.demo import write_demo_data
from fs_core.faces.faceset import index_faceset
from fs_core.faces.pngmeta import write_faceswap_png
from fs_core.faces.prepare import (
    PrepareSpec,
    check_faceset,
    check_landmark_augmenters,
    landmark_mask,
    part_mask,
    prepare_face,
)
from fs_core.faces.read import FaceRecord, read_face

# faceswap's AlignedFace(...).adjusted_matrix of face_68() (to_98 of it gives the same), and of
# roi_4(face_68()), for (centering, size, coverage)
FACESWAP_MATRICES = {
    (98, "face", 128, 0.875): [
        [0.4049727508943162, 0.06699406522294467, -83.10668371234333],
        [-0.06699406522294467, 0.40497275089431617, -1.820233687171374],
    ],
    (98, "head", 256, 1.0): [
        [0.5253700552142481, 0.08691121974868497, -64.32082998577317],
        [-0.08691121974868497, 0.525370055214248, 61.07297445708477],
    ],
    (98, "legacy", 64, 1.0): [
        [0.21890418967260336, 0.03621300822861874, -47.44908882107818],
        [-0.03621300822861874, 0.21890418967260333, -11.128852739210082],
    ],
    (4, "face", 128, 0.875): [
        [0.3939045561863006, 0.0, -68.83586080164363],
        [0.0, 0.3939045561863006, -33.863223653317384],
    ],
    (4, "head", 256, 1.0): [
        [0.5110113161335792, 0.0, -44.32760320213228],
        [0.0, 0.5110113161335792, 1.042304449750418],
    ],
    (4, "legacy", 64, 1.0): [
        [0.21292138172232467, 0.0, -39.803168000888455],
        [0.0, 0.21292138172232467, -20.899039812603988],
    ],
}
FACESWAP_OFFSETS_98 = {
    "head": [0.017114758491516113, -0.3810648024082184],
    "face": [0.0017009377479553223, -0.1887587010860443],
}
# faceswap's sub-crop of a 256 px head-centred face: (left, top, size), for (points, centering,
# coverage %, vertical offset %)
FACESWAP_WINDOWS = {
    (98, "face", 87.5, 0.0): (43, 62, 168),
    (98, "head", 75.0, 5.0): (32, 27, 192),
    (4, "face", 87.5, 0.0): (44, 44, 168),
    (4, "head", 75.0, 5.0): (32, 27, 192),
}
# sha256 of json.dumps(table, sort_keys=True, separators=(",", ":")) of the tables in faceswap's
# lib/align/constants.py (MEAN_FACE[LM_2D_4], MAP_2D_68[LM_2D_98], LANDMARK_PARTS[LM_2D_98] as
# (start, end), LANDMARK_MASK_PARTS[LM_2D_98]), computed from faceswap's module, not from ours
FACESWAP_TABLE_DIGESTS = {
    "mean_face_roi_4": "d4e74ccad9daa283e2f16eafc19b58a905f56eaf722529315d42e77f43c56bba",
    "map_98_to_68": "eb56879e424dd6ca8bfa3136ff18ccceb638ea2ba2a5514bc22c8304937842e6",
    "landmark_parts_98": "9df37393abe58682e0aedd241edd0bbdc58e95194110bc41d9ca9d5df4e8e00d",
    "landmark_mask_zones_98": "159ad3fb4479a219288859cc3bdeb1c54e35ef150b4d1355124b716116c69785",
}
# faceswap's LandmarksMask("face", LM_2D_98, ...) of to_98(face_68()) at face/128/0.875: pixels > 0
FACESWAP_COMPONENTS_98_PIXELS = 5124
FACESWAP_COMPONENTS_68_PIXELS = 4829  # the same face as 68 points


def _landmarks(points: int) -> np.ndarray:
    base = face_68()
    shaped = {68: base, 98: to_98(base), 4: roi_4(base)}[points]
    return shaped.astype(np.float32)


def _crop_points(points: int, size: int = 128) -> np.ndarray:
    landmarks = _landmarks(points)
    return al.transform_points(landmarks, al.aligned_matrix(landmarks, size, "face", 0.875))


# ------------------------------------------------------------------ constants and alignment


def test_vendored_tables_are_faceswaps():
    text = resources.files("fs_core.faces").joinpath("alignment_constants.json").read_text("utf-8")
    tables = json.loads(text)
    for name, digest in FACESWAP_TABLE_DIGESTS.items():
        canonical = json.dumps(tables[name], sort_keys=True, separators=(",", ":"))
        assert hashlib.sha256(canonical.encode()).hexdigest() == digest, name
    # and the module reads them as stored
    assert al.MAP_98_TO_68.tolist() == tables["map_98_to_68"]
    assert al.PARTS_BY_COUNT[98]["right_eye"] == (60, 68)
    assert al.MASK_ZONES_BY_COUNT[98]["nose"] == ((51, 55), (55, 60))
    np.testing.assert_array_equal(al.MEAN_FACE_ROI, [[0, 0], [1, 0], [1, 1], [0, 1]])


@pytest.mark.parametrize("points", [98, 4])
@pytest.mark.parametrize(
    "centering, size, coverage", [("face", 128, 0.875), ("head", 256, 1.0), ("legacy", 64, 1.0)]
)
def test_alignment_matches_faceswap(points, centering, size, coverage):
    landmarks = _landmarks(points)
    matrix = al.aligned_matrix(landmarks, size, centering, coverage)
    expected = FACESWAP_MATRICES[(points, centering, size, coverage)]
    np.testing.assert_allclose(matrix, expected, rtol=0, atol=1e-4)  # faceswap poses in float32


def test_98_points_align_and_pose_as_their_68_point_layout():
    landmarks = _landmarks(98)
    assert al.landmark_count(landmarks) == 98
    np.testing.assert_array_equal(al.to_68(landmarks), _landmarks(68))
    np.testing.assert_array_equal(al.legacy_matrix(landmarks), al.legacy_matrix(_landmarks(68)))
    offsets = al.centering_offsets(landmarks)
    for name, expected in FACESWAP_OFFSETS_98.items():
        np.testing.assert_allclose(offsets[name], expected, atol=1e-6)


def test_4_point_face_has_no_pose():
    landmarks = _landmarks(4)
    matrix = al.legacy_matrix(landmarks)
    unit = al.transform_points(landmarks, matrix)
    # the (not quite square) box onto the unit square: centred, unrotated, least-squares scale
    np.testing.assert_allclose(unit.mean(axis=0), [0.5, 0.5], atol=1e-9)
    assert matrix[0, 1] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(unit, al.MEAN_FACE_ROI, atol=0.01)
    offsets = al.centering_offsets(landmarks)
    assert {name: value.tolist() for name, value in offsets.items()} == {
        name: [0.0, 0.0] for name in al.CENTERINGS
    }
    with pytest.raises(ValueError, match="4-point"):
        al.estimate_pose(landmarks)
    with pytest.raises(ValueError, match=r"got shape \(51, 2\)"):
        al.legacy_matrix(np.zeros((51, 2)))


# ------------------------------------------------------------------ training crops


def _stored_face(points: int, tmp_path, masks: bool = False):
    """A 256 px head-centred face PNG whose header holds ``points``-point frame landmarks."""
    rng = np.random.default_rng(0)
    image = cv2.resize(
        rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), (256, 256), interpolation=cv2.INTER_CUBIC
    )
    alignments = {"landmarks_xy": _landmarks(points).tolist(), "mask": {}}
    if masks:
        stored = np.zeros((64, 64), np.uint8)
        stored[8:56, 12:52] = 255
        alignments["mask"]["custom_face"] = {
            "mask": zlib.compress(stored.tobytes()),
            "affine_matrix": np.eye(3)[:2].tolist(),
            "interpolator": 3,
            "stored_size": 64,
            "stored_centering": "face",
        }
    path = tmp_path / f"face_{points}.png"
    metadata = {"alignments": alignments, "source": {"alignments_version": 2.4}}
    write_faceswap_png(path, image, metadata)
    return path, image


@pytest.mark.parametrize("points", [98, 4])
@pytest.mark.parametrize("centering, coverage, offset", [("face", 87.5, 0.0), ("head", 75.0, 5.0)])
def test_training_crop_is_faceswaps(points, centering, coverage, offset, tmp_path):
    path, image = _stored_face(points, tmp_path)
    record = read_face(path)
    assert record.landmarks.shape == (points, 2)
    spec = PrepareSpec(size=64, centering=centering, coverage=coverage, vertical_offset=offset)
    prepared = prepare_face(record, spec, path)
    left, top, crop = FACESWAP_WINDOWS[(points, centering, coverage, offset)]
    expected = al.resize_square(al.crop_window(image, left, top, crop), 64)
    np.testing.assert_array_equal(prepared.image, expected)
    if points == 98:  # carried in the 68-point layout, as the 68-point face's
        same = prepare_face(FaceRecord(image, _landmarks(68), {}, {}), spec, path)
        np.testing.assert_allclose(prepared.landmarks, same.landmarks, atol=1e-4)
        assert prepared.landmarks.shape == (68, 2)
    else:  # no facial landmarks to carry
        assert prepared.landmarks is None


# ------------------------------------------------------------------ landmark masks


def _faceswap_hulls(points: np.ndarray, size: int, zones) -> np.ndarray:
    """faceswap's way of drawing a landmark mask: each zone's points rounded to whole pixels, the
    convex hull filled anti-aliased."""
    mask = np.zeros((size, size), np.uint8)
    for zone in zones:
        pts = np.concatenate([np.rint(points[a:b]).astype(np.int32) for a, b in zone])
        cv2.fillConvexPoly(mask, cv2.convexHull(pts), 255, lineType=cv2.LINE_AA)
    return mask


def test_98_point_components_mask_is_faceswaps():
    points = _crop_points(98)
    ours = landmark_mask(points, 128, "components")
    expected = _faceswap_hulls(points, 128, al.MASK_ZONES_BY_COUNT[98].values())
    area = int((expected > 127).sum())
    assert int(((ours > 127) != (expected > 127)).sum()) <= 0.02 * area  # anti-aliased edges
    assert abs(int((ours > 0).sum()) - FACESWAP_COMPONENTS_98_PIXELS) <= 0.02 * area
    # drawn with the 98-point zones: the 68-point layout's hull is clearly smaller
    as_68 = landmark_mask(al.to_68(points), 128, "components")
    assert abs(int((as_68 > 0).sum()) - FACESWAP_COMPONENTS_68_PIXELS) <= 0.02 * area
    assert (as_68 > 0).sum() < 0.97 * (ours > 0).sum()


def test_98_point_extended_mask_raises_the_brows_it_pairs_with_68():
    points = _crop_points(98)
    components = landmark_mask(points, 128, "components")
    extended = landmark_mask(points, 128, "extended")
    assert (extended > 0).sum() > 1.05 * (components > 0).sum()  # the forehead above the brows
    assert np.all(extended[components == 255] == 255)
    # the brow points faceswap raises for 68 points, moved the same in the 98-point layout
    from fs_core.faces.prepare import _raise_brows

    raised = _raise_brows(points)
    np.testing.assert_allclose(raised[al.MAP_98_TO_68], _raise_brows(al.to_68(points)))
    moved = np.flatnonzero(np.any(raised != points, axis=1))
    assert set(moved) <= set(range(33, 38)) | set(range(42, 47))


def test_98_point_eye_and_mouth_masks_use_the_98_point_ranges():
    points = _crop_points(98)
    np.testing.assert_array_equal(
        part_mask(points, 128, "mouth"), part_mask(al.to_68(points), 128, "mouth")
    )
    eye = part_mask(points, 128, "eye")
    lifted = points.copy()
    lifted[62] += [0.0, -6.0]  # an upper eyelid point the 68-point layout does not have
    assert (part_mask(lifted, 128, "eye") > 0).sum() > (eye > 0).sum()
    lifted = points.copy()
    lifted[96] += [0.0, -20.0]  # a pupil: no part of the eye's outline
    np.testing.assert_array_equal(part_mask(lifted, 128, "eye"), eye)


@pytest.mark.parametrize(
    "mask_type, names, option",
    [
        ("components", ("face",), "mask_type"),
        ("extended", ("face",), "mask_type"),
        ("none", ("eye",), "eye_multiplier"),
        ("none", ("mouth",), "mouth_multiplier"),
    ],
)
def test_4_point_face_refuses_what_needs_facial_landmarks(mask_type, names, option, tmp_path):
    path, _ = _stored_face(4, tmp_path)
    spec = PrepareSpec(size=64, mask_type=mask_type, mask_names=names)
    with pytest.raises(FsUserError, match=f"4-point landmarks.*set {option}") as info:
        prepare_face(read_face(path), spec, path)
    assert info.value.path == str(path) and "\n" not in str(info.value)
    with pytest.raises(ValueError, match="4-point"):
        landmark_mask(_crop_points(4), 64, "components")


def test_4_point_face_with_a_stored_mask(tmp_path):
    path, _ = _stored_face(4, tmp_path, masks=True)
    spec = PrepareSpec(size=64, mask_type="custom_face", mask_names=("face",))
    prepared = prepare_face(read_face(path), spec, path)
    assert prepared.masks.shape == (64, 64, 1) and prepared.masks.max() == 255
    assert prepared.masks.min() == 0


# ------------------------------------------------------------------ face sets and training


@pytest.fixture(scope="module")
def demo_faces(tmp_path_factory):
    folder_a, folder_b = write_demo_data(tmp_path_factory.mktemp("demo"), count=4, size=96)
    return sorted(folder_a.glob("*.png")), sorted(folder_b.glob("*.png"))


def _relayout(paths, folder, points):
    """Copies of demo faces whose header landmarks are in the ``points`` layout (the pixels
    stay: for 98 points the crop is the same; a 4-point face is its ROI's)."""
    from fs_core.faces.pngmeta import read_faceswap_metadata

    folder.mkdir()
    for path in paths:
        record = read_face(path)
        metadata = copy.deepcopy(read_faceswap_metadata(path))
        landmarks = {98: to_98, 4: roi_4, 68: np.asarray}[points](record.landmarks)
        metadata["alignments"]["landmarks_xy"] = np.asarray(landmarks, np.float32).tolist()
        write_faceswap_png(folder / path.name, record.image, metadata)
    return folder


def test_face_set_of_98_point_faces_trains_as_the_68_point_one(demo_faces, tmp_path):
    faces_98 = index_faceset(_relayout(demo_faces[0], tmp_path / "A98", 98))
    faces_68 = index_faceset(demo_faces[0][0].parent)
    assert faces_98.landmark_points == {98} and faces_98.has_features
    assert faces_68.landmark_points == {68}
    spec = PrepareSpec(size=48, mask_type="components", mask_names=("face", "eye", "mouth"))
    check_faceset(faces_98, spec)
    for path_98, path_68 in zip(faces_98.paths, faces_68.paths):
        one = prepare_face(read_face(path_98), spec, path_98)
        two = prepare_face(read_face(path_68), spec, path_68)
        np.testing.assert_array_equal(one.image, two.image)
        np.testing.assert_allclose(one.landmarks, two.landmarks, atol=1e-3)
        np.testing.assert_array_equal(one.masks[..., 2], two.masks[..., 2])  # same lip points
        assert one.masks[..., 0].max() == 255


def test_face_set_of_4_point_faces(demo_faces, tmp_path):
    faces = index_faceset(_relayout(demo_faces[0], tmp_path / "A4", 4))
    assert faces.landmark_points == {4} and faces.has_landmarks and not faces.has_features
    check_faceset(faces, PrepareSpec(size=48, mask_type="custom_face", mask_names=("face",)))
    for mask_type, names, option in (
        ("extended", ("face",), "mask_type"),
        ("none", ("eye",), "eye_multiplier"),
    ):
        spec = PrepareSpec(size=48, mask_type=mask_type, mask_names=names)
        with pytest.raises(FsUserError, match=f"these faces have 4-point.*set {option}") as info:
            check_faceset(faces, spec)
        assert info.value.path == str(faces.folder)


def test_face_set_mixing_4_point_and_full_landmarks_is_refused(demo_faces, tmp_path):
    four = _relayout(demo_faces[0][:2], tmp_path / "four", 4)
    mixed = _relayout(demo_faces[0][2:], tmp_path / "mixed", 68)
    for path in four.iterdir():
        (mixed / f"z{path.name}").write_bytes(path.read_bytes())
    with pytest.raises(FsUserError, match="mixes 4-point faces") as info:
        index_faceset(mixed)
    assert info.value.path == str(mixed)
    # 68 and 98 points together are fine: both locate the features
    both = _relayout(demo_faces[0][:2], tmp_path / "both", 98)
    for path in demo_faces[0][2:]:
        (both / path.name).write_bytes(path.read_bytes())
    assert index_faceset(both).landmark_points == {68, 98}


def _loader(faces_a, faces_b, spec, **options):
    from fs_core.augment.builtin import fs_augmenters

    return BatchLoader.from_facesets(
        faces_a,
        faces_b,
        spec,
        batch_size=2,
        input_size=32,
        output_sizes=(32,),
        augmenters=fs_augmenters(),
        options=AugmentationOptions(**options),
        seed=1,
        workers=0,
    )


def test_98_and_4_point_sets_give_training_batches(demo_faces, tmp_path):
    faces_a = index_faceset(_relayout(demo_faces[0], tmp_path / "A", 98))
    faces_b = index_faceset(_relayout(demo_faces[1], tmp_path / "B", 4))
    spec = PrepareSpec(size=32, mask_type="custom_face", mask_names=("face",))
    with _loader(faces_a, faces_b, spec) as batches:
        batch = next(batches)
    assert set(batch) == {"a", "b"}


def test_warp_to_landmarks_needs_68_points_as_in_faceswap(demo_faces, tmp_path):
    faces_68 = index_faceset(demo_faces[1][0].parent)
    faces_98 = index_faceset(_relayout(demo_faces[0], tmp_path / "A", 98))
    spec = PrepareSpec(size=32)
    with pytest.raises(
        FsUserError, match=r"needs 68-point landmarks.*98-point.*without -M"
    ) as info:
        _loader(faces_98, faces_68, spec, warp_to_landmarks=True)
    assert info.value.path == str(faces_98.folder) and "\n" not in str(info.value)
    check_landmark_augmenters(faces_98, [])  # nothing asks for landmarks: fine
    check_landmark_augmenters(faces_68, ["warp_to_landmarks"])
