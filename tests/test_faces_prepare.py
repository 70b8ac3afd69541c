"""Training crops and masks from demo faces (made by our alignment) and from plain crops."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fs_core.errors import FsUserError
from fs_core.faces.demo import write_demo_data
from fs_core.faces.faceset import index_faceset
from fs_core.faces.prepare import PrepareSpec, check_faceset, prepare_face
from fs_core.faces.read import read_face

P = 96


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    folder_a, folder_b = write_demo_data(root, count=4, size=128, seed=5)
    return sorted(folder_a.glob("*.png")) + sorted(folder_b.glob("*.png"))


def _luma(image):
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float64)


def _min_near(gray, point, radius=1):
    x, y = np.rint(point).astype(int)
    return gray[max(y - radius, 0) : y + radius + 1, max(x - radius, 0) : x + radius + 1].min()


def test_landmarks_land_on_the_drawn_eyes_and_mouth(demo):
    spec = PrepareSpec(size=P, centering="face", mask_type="custom_face", mask_names=("face",))
    for path in demo:
        face = prepare_face(read_face(path), spec, path)
        gray = _luma(face.image)
        skin = np.median(gray[face.masks[..., 0] > 200])
        for eye in (slice(36, 42), slice(42, 48)):
            centre = face.landmarks[eye].mean(axis=0)
            assert _min_near(gray, centre) < 0.6 * skin, path.name  # iris/pupil/lid: dark
        # and a point on the cheek (below the eye, above the mouth corner) is not dark
        cheek = (face.landmarks[41] + face.landmarks[48]) / 2
        assert _min_near(gray, cheek) > 0.75 * skin, path.name
        mouth = face.landmarks[60:68].mean(axis=0)
        assert gray[int(round(mouth[1])), int(round(mouth[0]))] < 0.85 * skin, path.name


def test_face_centering_crop_is_centred_on_the_face(demo):
    for centering in ("face", "legacy"):
        spec = PrepareSpec(
            size=P, centering=centering, mask_type="custom_face", mask_names=("face",)
        )
        for path in demo:
            face = prepare_face(read_face(path), spec, path)
            centre = face.landmarks.mean(axis=0)
            assert np.all(np.abs(centre - P / 2) < 0.12 * P), (path.name, centre)
            ys, xs = np.nonzero(face.masks[..., 0] > 127)
            assert abs(xs.mean() - P / 2) < 0.12 * P and abs(ys.mean() - P / 2) < 0.15 * P
            assert face.landmarks[:, 0].min() > 0 and face.landmarks[:, 0].max() < P
    # head centering shows more around the face than face centering
    record = read_face(demo[0])
    spans = [
        np.ptp(prepare_face(record, PrepareSpec(size=P, centering=c)).landmarks[:, 0])
        for c in ("head", "face", "legacy")
    ]
    assert spans[0] < spans[1] < spans[2]


def test_coverage_and_vertical_offset(demo):
    record = read_face(demo[1])
    full = prepare_face(record, PrepareSpec(size=P, coverage=100.0)).landmarks
    tight = prepare_face(record, PrepareSpec(size=P, coverage=75.0)).landmarks
    assert np.ptp(tight[:, 0]) == pytest.approx(np.ptp(full[:, 0]) / 0.75, rel=0.03)
    up = prepare_face(record, PrepareSpec(size=P, vertical_offset=-10.0)).landmarks
    assert (up[:, 1] - full[:, 1]).mean() < -2  # negative moves the face up


@pytest.mark.parametrize("mask_type", ["components", "extended", "custom_face", "none"])
def test_masks_range_and_coverage(demo, mask_type):
    spec = PrepareSpec(size=P, mask_type=mask_type, mask_names=("face", "eye", "mouth"))
    for path in demo:
        face = prepare_face(read_face(path), spec, path)
        assert face.masks.shape == (P, P, 3) and face.masks.dtype == np.uint8
        assert face.image.shape == (P, P, 3) and face.image.dtype == np.uint8
        face_mask, eye, mouth = (face.masks[..., i] for i in range(3))
        assert face_mask[P // 2, P // 2] > 200  # covers the face centre
        if mask_type == "none":
            assert (face_mask == 255).all()
        else:
            corners = [
                face_mask[:6, :6],
                face_mask[:6, -6:],
                face_mask[-6:, :6],
                face_mask[-6:, -6:],
            ]
            assert all(c.max() == 0 for c in corners)
        lms = face.landmarks
        for part, hull in ((eye, lms[36:42]), (eye, lms[42:48]), (mouth, lms[48:60])):
            inside = [part[int(round(y)), int(round(x))] for x, y in hull]
            # the hull's corners are softened by the blur; its centre is solid
            assert min(inside) > 60 and part[:, : P // 8].max() == 0
            x, y = np.rint(hull.mean(axis=0)).astype(int)
            assert part[y, x] > 150  # (thin eyes stay below 255 after the blur)


def test_stored_mask_agrees_with_landmark_mask(demo):
    """The stored custom_face mask is placed from its own centering; it must overlap the face."""
    for path in demo:
        record = read_face(path)
        spec = PrepareSpec(size=P, centering="legacy", coverage=87.5, mask_names=("face",))
        stored = prepare_face(record, attrs_evolve(spec, mask_type="custom_face")).masks[..., 0]
        drawn = prepare_face(record, attrs_evolve(spec, mask_type="components")).masks[..., 0]
        inter = np.logical_and(stored > 127, drawn > 127).sum()
        # the stored outline includes the forehead, components stops at the brows
        assert inter / (drawn > 127).sum() > 0.95
        assert inter / (stored > 127).sum() > 0.6


def attrs_evolve(spec, **changes):
    import attrs

    return attrs.evolve(spec, **changes)


def test_stored_mask_processing(demo):
    record = read_face(demo[0])
    base = PrepareSpec(
        size=P, mask_type="custom_face", mask_names=("face",), mask_blur_kernel=0, mask_threshold=0
    )
    plain = prepare_face(record, base).masks[..., 0].astype(int)
    grown = prepare_face(record, attrs_evolve(base, mask_dilation=5.0)).masks[..., 0].astype(int)
    shrunk = prepare_face(record, attrs_evolve(base, mask_dilation=-5.0)).masks[..., 0]
    assert (grown > 127).sum() > (plain > 127).sum() > (shrunk > 127).sum()
    blurred = prepare_face(record, attrs_evolve(base, mask_blur_kernel=9)).masks[..., 0]
    assert ((blurred > 10) & (blurred < 245)).sum() > ((plain > 10) & (plain < 245)).sum()


def test_missing_stored_mask_is_refused(demo):
    spec = PrepareSpec(size=P, mask_type="bisenet-fp_face", mask_names=("face",))
    with pytest.raises(FsUserError, match=r"bisenet-fp_face.*custom_face") as info:
        prepare_face(read_face(demo[0]), spec, demo[0])
    assert info.value.path == str(demo[0])
    # without a path the header's original filename names the face
    with pytest.raises(FsUserError, match=demo[0].name):
        prepare_face(read_face(demo[0]), spec)


@pytest.fixture()
def plain_face(tmp_path):
    image = np.full((80, 80, 3), 40, np.uint8)
    cv2.circle(image, (40, 40), 20, (200, 180, 160), -1)
    path = tmp_path / "plain.jpg"
    cv2.imwrite(str(path), image)
    return path


def test_plain_crop_is_centre_cropped(plain_face):
    face = prepare_face(
        read_face(plain_face), PrepareSpec(size=P, coverage=62.5, mask_names=("face",))
    )
    assert face.image.shape == (P, P, 3) and face.landmarks is None
    assert (face.masks == 255).all()  # mask_type none: everything counts
    # the 40 px disc fills 40/50 of the 50 px centre crop
    bright = (_luma(face.image) > 120).mean()
    assert bright == pytest.approx(np.pi * 0.4**2, abs=0.05)
    assert prepare_face(read_face(plain_face), PrepareSpec(size=32)).masks is None


@pytest.mark.parametrize(
    "spec, pattern",
    [
        (
            PrepareSpec(size=P, mask_type="extended", mask_names=("face",)),
            "mask_type 'extended' needs landmarks.*set mask_type = none",
        ),
        (PrepareSpec(size=P, mask_type="components", mask_names=("face",)), "components"),
        (PrepareSpec(size=P, mask_names=("eye",)), "eye_multiplier = 1"),
        (PrepareSpec(size=P, mask_names=("mouth",)), "mouth_multiplier = 1"),
        (PrepareSpec(size=P, mask_type="custom_face", mask_names=("face",)), "no stored masks"),
    ],
)
def test_plain_crop_refuses_what_needs_landmarks(plain_face, spec, pattern):
    with pytest.raises(FsUserError, match=pattern) as info:
        prepare_face(read_face(plain_face), spec, plain_face)
    assert info.value.path == str(plain_face)
    with pytest.raises(FsUserError, match=r"plain crops|stored"):
        check_faceset(index_faceset(plain_face.parent), spec)


def test_check_faceset_accepts_what_demo_faces_have(demo):
    faceset = index_faceset(demo[0].parent)
    for mask_type in ("components", "extended", "custom_face", "none"):
        check_faceset(
            faceset, PrepareSpec(size=P, mask_type=mask_type, mask_names=("face", "eye", "mouth"))
        )
    with pytest.raises(FsUserError, match="vgg-clear"):
        check_faceset(faceset, PrepareSpec(size=P, mask_type="vgg-clear", mask_names=("face",)))


def test_spec_validation():
    with pytest.raises(ValueError):
        PrepareSpec(size=0)
    with pytest.raises(ValueError):
        PrepareSpec(size=64, centering="middle")
    with pytest.raises(ValueError):
        PrepareSpec(size=64, mask_names=("face", "nose"))
    assert PrepareSpec(size=64, mask_names=["eye"]).mask_names == ("eye",)


def test_degenerate_landmarks_are_a_user_error(demo):
    record = read_face(demo[0])._replace(landmarks=np.zeros((68, 2), np.float32))
    with pytest.raises(FsUserError, match="landmarks") as info:
        prepare_face(record, PrepareSpec(size=32), demo[0])
    assert info.value.path == str(demo[0])
    # collinear points align to *something*; whatever happens, it is not a crash
    line = np.tile(np.float32([[5, 5], [6, 6]]), (34, 1))
    try:
        face = prepare_face(record._replace(landmarks=line), PrepareSpec(size=32), demo[0])
    except FsUserError:
        return
    assert face.image.shape == (32, 32, 3)
