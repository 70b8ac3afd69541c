"""``fs convert`` on alignments files with 98-point and 4-point faces.

The demo clip's alignments are rewritten in the other layouts (:mod:`landmark_layouts`): a
98-point face aligns through faceswap's 98 -> 68 lookup, so with a mask that is not drawn from the
landmarks the frames come out bit for bit as from the 68-point file; a 4-point face (a region of
interest) crops from its box with no pose, and refuses the masks drawn from landmarks, as faceswap
does. The model is a fixed function of its input, so no training is needed.
"""

from __future__ import annotations

import pickle
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from landmark_layouts import face_68, roi_4, to_98

from fs_core.config.sections import ConvertOptions
from fs_core.convert.run import ConvertRequest, convert
from fs_core.convert.swap import CropSpec, FaceSwapper, check_face, cut_face
from fs_core.errors import FsUserError
from fs_core.faces.alignments_file import FrameFace, read_alignments, write_alignments
from fs_core.faces.demo import write_demo_data

SPEC = CropSpec(centering="face", coverage=0.875, y_offset=0.0, input_size=64, output_size=64)
# faceswap's AlignedFace(roi_4(face_68()), centering="face", size=64, coverage_ratio=0.875)
# .adjusted_matrix (computed with faceswap's lib/align)
FACESWAP_ROI_MATRIX_64 = [
    [0.1916292435500922, 0.0, -32.62285120079961],
    [0.0, 0.1916292435500922, -15.60913583134359],
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    write_demo_data(out, count=4, size=96, clip_frames=4)
    return out


def _relayout(source: Path, target: Path, layout) -> Path:
    """``source`` (an alignments file fs wrote itself) with every face's landmarks passed through
    ``layout``."""
    payload = pickle.loads(zlib.decompress(source.read_bytes()))
    frames = payload["__data__"]
    for entry in frames.values():
        for face in entry["faces"]:
            points = np.asarray(face["landmarks_xy"], np.float64)
            face["landmarks_xy"] = np.asarray(layout(points), np.float32).tolist()
    return write_alignments(target, frames, payload["__meta__"]["version"])


def _swapper(registry, options: ConvertOptions):
    def predict(faces: np.ndarray):
        return 1.0 - faces, None  # the "swap": the face's negative

    return lambda: FaceSwapper(predict, SPEC, options, registry, batch_size=4, learn_mask=False)


def _convert(demo: Path, alignments: Path, out: Path, registry, **options) -> list[Path]:
    chosen = ConvertOptions(**options)
    convert(
        ConvertRequest(demo / "clip", out, alignments=alignments),
        chosen,
        registry,
        swapper_factory=_swapper(registry, chosen),
        show_progress=False,
    )
    return sorted(out.glob("*.png"))


def test_reader_takes_98_and_4_point_faces(demo, tmp_path):
    source = demo / "clip" / "alignments.fsa"
    for points, layout in ((98, to_98), (4, roi_4)):
        path = _relayout(source, tmp_path / f"a{points}.fsa", layout)
        faces = [face for entry in read_alignments(path).frames.values() for face in entry.faces]
        assert faces and all(face.landmarks.shape == (points, 2) for face in faces)


def test_cut_of_98_point_face_is_the_68_point_cut():
    frame = cv2.resize(
        np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8), (640, 480)
    )
    landmarks = face_68().astype(np.float32)
    one = cut_face(frame, FrameFace(0, 0, 1, 1, to_98(landmarks).astype(np.float32)), SPEC)
    two = cut_face(frame, FrameFace(0, 0, 1, 1, landmarks), SPEC)
    np.testing.assert_array_equal(one.matrix, two.matrix)
    np.testing.assert_array_equal(one.feed, two.feed)
    assert one.landmarks.shape == (98, 2)


def test_cut_of_4_point_face_is_faceswaps():
    roi = roi_4(face_68()).astype(np.float32)
    cut = cut_face(np.zeros((480, 640, 3), np.uint8), FrameFace(0, 0, 1, 1, roi), SPEC)
    np.testing.assert_allclose(cut.matrix, FACESWAP_ROI_MATRIX_64, atol=1e-5)
    assert {name: value.tolist() for name, value in cut.offsets.items()} == {
        "legacy": [0.0, 0.0],
        "face": [0.0, 0.0],
        "head": [0.0, 0.0],
    }


def test_98_point_alignments_convert_as_the_68_point_file(demo, registry, tmp_path):
    source = demo / "clip" / "alignments.fsa"
    file_98 = _relayout(source, tmp_path / "a98.fsa", to_98)
    for mask in ("custom_face", "none"):
        ours = _convert(demo, file_98, tmp_path / f"out98_{mask}", registry, mask_type=mask)
        theirs = _convert(demo, source, tmp_path / f"out68_{mask}", registry, mask_type=mask)
        assert [p.name for p in ours] == [p.name for p in theirs] and ours
        for one, two in zip(ours, theirs):
            np.testing.assert_array_equal(cv2.imread(str(one)), cv2.imread(str(two)))
    # the landmark masks are drawn from the 98 points: both work, and differ at the mask's edge
    # (no colour matching here, which would follow the mask's change over the whole face)
    for mask in ("components", "extended"):
        options = {"mask_type": mask, "color_adjustment": "none"}
        ours = _convert(demo, file_98, tmp_path / f"out98_{mask}", registry, **options)
        theirs = _convert(demo, source, tmp_path / f"out68_{mask}", registry, **options)
        frames = [cv2.imread(str(path)).astype(int) for path in ours]
        others = [cv2.imread(str(path)).astype(int) for path in theirs]
        originals = [cv2.imread(str(demo / "clip" / p.name)).astype(int) for p in ours]
        between = np.mean([np.abs(f - g).mean() for f, g in zip(frames, others)])
        swapped = np.mean([np.abs(f - o).mean() for f, o in zip(frames, originals)])
        assert 0 < between < 0.15 * swapped  # about 5%: the mask's edge moved a little


def test_4_point_alignments_convert_with_a_stored_mask(demo, registry, tmp_path):
    file_4 = _relayout(demo / "clip" / "alignments.fsa", tmp_path / "a4.fsa", roi_4)
    written = _convert(demo, file_4, tmp_path / "out", registry, mask_type="custom_face")
    originals = sorted((demo / "clip").glob("*.png"))
    assert [p.name for p in written] == [p.name for p in originals]
    assert any(
        np.any(cv2.imread(str(one)) != cv2.imread(str(two))) for one, two in zip(written, originals)
    )


@pytest.mark.parametrize("mask", ["components", "extended"])
def test_4_point_alignments_refuse_landmark_masks(demo, registry, tmp_path, mask):
    file_4 = _relayout(demo / "clip" / "alignments.fsa", tmp_path / "a4.fsa", roi_4)
    out = tmp_path / "out"
    with pytest.raises(FsUserError, match=f"4-point landmarks.*no '{mask}' mask") as info:
        _convert(demo, file_4, out, registry, mask_type=mask)
    assert info.value.path == str(file_4) and "\n" not in str(info.value)
    assert "custom_face" in str(info.value)  # the masks it could use instead
    assert not out.exists() or not any(out.iterdir())
    face = FrameFace(0, 0, 1, 1, roi_4(face_68()).astype(np.float32))
    with pytest.raises(FsUserError, match="4-point"):
        check_face("f.png", 0, (480, 640, 3), face, mask)
