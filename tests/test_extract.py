"""``fs extract`` on real photographs: scikit-image's public-domain ``astronaut`` portrait, moved,
turned and scaled by known transforms into a few frames (and a short video). Checked: a face per
frame where the transform puts it, faceswap's header and alignments file, resuming without
writing a face twice, ``-s``/``-e``, the identity filter, every kind of bad input (one line,
exit 1, nothing lost), and a round trip (extract -> train -> convert).

Needs the ``extract`` extra (dlib and its models) and scikit-image; skipped without them.
"""

from __future__ import annotations

import pickle
import shutil
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("dlib", reason='fs extract needs dlib: pip install "fs-core[extract]"')
skimage_data = pytest.importorskip("skimage.data", reason="needs scikit-image")

from fs_core.cli.main import main  # noqa: E402
from fs_core.extract import existing  # noqa: E402
from fs_core.extract import run as extract_run  # noqa: E402
from fs_core.extract.models import FaceFinder, to_rgb  # noqa: E402
from fs_core.extract.run import ExtractRequest, extract  # noqa: E402
from fs_core.faces import alignment as al  # noqa: E402
from fs_core.faces.alignments_file import read_alignments, write_alignments  # noqa: E402
from fs_core.faces.faceset import index_faceset  # noqa: E402
from fs_core.faces.pngmeta import read_faceswap_metadata, write_faceswap_png  # noqa: E402
from fs_core.faces.prepare import PrepareSpec, landmark_mask, prepare_face  # noqa: E402
from fs_core.faces.read import read_face  # noqa: E402

FRAMES = 6
WIDTH, HEIGHT = 320, 288
SIZE = 128


def _transform(index: int) -> np.ndarray:
    """Frame ``index``'s 2x3 matrix from the photograph: turned, scaled and moved a little more
    each frame, the face kept inside the frame."""
    matrix = cv2.getRotationMatrix2D((222.0, 126.0), (index - 2.5) * 4.0, 1.0 + 0.08 * index)
    matrix[:, 2] += [160 - 222 + 12 * index, 130 - 126 - 6 * index]
    return matrix


def _photo() -> np.ndarray:
    return cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)


def _frames() -> list[np.ndarray]:
    photo = _photo()
    return [
        cv2.warpAffine(photo, _transform(index), (WIDTH, HEIGHT), borderMode=cv2.BORDER_CONSTANT)
        for index in range(FRAMES)
    ]


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("frames")
    for index, frame in enumerate(_frames()):
        cv2.imwrite(str(folder / f"shot_{index:04d}.png"), frame)
    (folder / "shot_9999.png").write_bytes(b"not an image")  # one broken frame among them
    return folder


def _copy(frames: Path, tmp_path: Path) -> Path:
    """The frames alone (without the alignments file the module's extract wrote beside them)."""
    work = tmp_path / "frames"
    shutil.copytree(frames, work, ignore=shutil.ignore_patterns("*.fsa"))
    return work


def _request(frames: Path, out: Path, **changes) -> ExtractRequest:
    return ExtractRequest(input=frames, output=out, size=SIZE, progress=False, **changes)


@pytest.fixture(scope="module")
def extracted(frames, tmp_path_factory):
    out = tmp_path_factory.mktemp("faces")
    return out, extract(_request(frames, out))


def _one_error_line(capsys, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


def test_a_face_per_frame_where_the_transform_put_it(frames, extracted):
    _out, summary = extracted
    assert summary.processed == FRAMES and summary.faces == FRAMES
    assert summary.unreadable == 1 and summary.without_faces == 0
    fsa = read_alignments(frames / "alignments.fsa")
    assert fsa.version == 2.4
    assert list(fsa.frames) == [f"shot_{index:04d}.png" for index in range(FRAMES)]
    # the photograph's own landmarks, moved by each frame's transform, are where fs found them
    photo = _photo()
    finder = FaceFinder("hog")
    rgb = to_rgb(photo)
    truth = finder.landmarks(rgb, finder.boxes(rgb)[0]).astype(np.float64)
    for index, entry in enumerate(fsa.frames.values()):
        (face,) = entry.faces
        expected = al.transform_points(truth, _transform(index))
        error = np.linalg.norm(face.landmarks - expected, axis=1).mean()
        assert error < 4.0, (index, error)


def test_faces_carry_faceswaps_header_and_train_as_a_face_set(frames, extracted):
    out, _summary = extracted
    fsa = read_alignments(frames / "alignments.fsa")
    names = sorted(path.name for path in out.glob("*.png"))
    assert names == [f"shot_{index:04d}_0.png" for index in range(FRAMES)]
    for index, name in enumerate(names):
        header = read_faceswap_metadata(out / name)
        source = header["source"]
        assert source == {
            "alignments_version": 2.4,
            "original_filename": name,
            "face_index": 0,
            "source_filename": f"shot_{index:04d}.png",
            "source_is_video": False,
            "source_frame_dims": [HEIGHT, WIDTH],
        }
        record = read_face(out / name)
        assert record.image.shape == (SIZE, SIZE, 3)
        (face,) = fsa.frames[source["source_filename"]].faces
        np.testing.assert_array_equal(record.landmarks, face.landmarks)
        box = header["alignments"]
        assert (box["x"], box["y"], box["w"], box["h"]) == (face.x, face.y, face.w, face.h)
        # the image is the head-centred crop of its landmarks, as faceswap (and fs train) cut it
        frame = cv2.imread(str(frames / source["source_filename"]))
        again, _ = al.extract_face(frame, face.landmarks.astype(np.float64), SIZE, "head")
        np.testing.assert_array_equal(record.image, again)
    faceset = index_faceset(out)
    assert len(faceset) == FRAMES and faceset.has_features


def _raw_fsa(path: Path) -> dict:
    """The alignments file as stored (fs's reader drops the landmark masks, as faceswap does)."""
    return pickle.loads(zlib.decompress(path.read_bytes()))["__data__"]


def _overlap_error(mask: np.ndarray, truth: np.ndarray) -> float:
    """Pixels where the two masks disagree (at half level), as a share of the true mask's."""
    ours, theirs = mask > 127, truth > 127
    return float(np.count_nonzero(ours != theirs)) / max(1, np.count_nonzero(theirs))


def test_faces_store_faceswaps_landmark_masks_in_header_and_alignments(frames, extracted):
    out, _summary = extracted
    raw = _raw_fsa(frames / "alignments.fsa")
    for index in range(FRAMES):
        key = f"shot_{index:04d}.png"
        header = read_faceswap_metadata(out / f"shot_{index:04d}_0.png")["alignments"]
        (stored,) = raw[key]["faces"]
        assert sorted(header["mask"]) == sorted(stored["mask"]) == ["components", "extended"]
        landmarks = np.asarray(header["landmarks_xy"], np.float64)
        frame = cv2.imread(str(frames / key))
        for name, entry in header["mask"].items():
            assert entry["stored_size"] == 128 and entry["stored_centering"] == "face"
            assert entry["interpolator"] in (cv2.INTER_AREA, cv2.INTER_CUBIC)
            # faceswap up to 3.0 (the only reader of these masks) holds 2x3 matrices in both
            assert np.asarray(entry["affine_matrix"]).shape == (2, 3)
            assert stored["mask"][name] == entry  # the same bytes and fields in both places
            matrix = np.asarray(entry["affine_matrix"], np.float64)
            # the matrix maps the frame into the face-centred 128 px crop, as faceswap's does
            np.testing.assert_allclose(
                matrix, al.aligned_matrix(landmarks, 256, "face") / 2, atol=1e-9
            )
            mask = np.frombuffer(zlib.decompress(entry["mask"]), np.uint8).reshape(128, 128)
            # in its own space: the landmark mask fs trains with (anti-aliased, 1/16 px corners),
            # drawn in the same 256 px crop and scaled down, within a few percent of pixels
            drawn = landmark_mask(al.transform_points(landmarks, matrix * 2), 256, name)
            truth = cv2.resize(drawn, (128, 128), interpolation=cv2.INTER_AREA)
            assert _overlap_error(mask, truth) < 0.03, (key, name)
            # warped back onto the frame as faceswap does: the mask drawn in the frame
            full = cv2.warpAffine(
                mask,
                matrix,
                (frame.shape[1], frame.shape[0]),
                flags=cv2.WARP_INVERSE_MAP | entry["interpolator"],
                borderMode=cv2.BORDER_CONSTANT,
            )
            side = max(frame.shape[:2])
            in_frame = landmark_mask(landmarks, side, name)[: frame.shape[0], : frame.shape[1]]
            assert _overlap_error(full, in_frame) < 0.04, (key, name)
        assert np.count_nonzero(_decoded(header, "extended") > 127) > np.count_nonzero(
            _decoded(header, "components") > 127
        )  # it covers the forehead too


def test_fs_trains_with_landmark_masks_drawn_not_the_stored_copies(frames, extracted, tmp_path):
    """fs (like faceswap after 3.0) draws components/extended from the landmarks; a face that
    carries stored copies trains exactly as the same face without them."""
    out, _summary = extracted
    path = out / "shot_0002_0.png"
    header = read_faceswap_metadata(path)
    record = read_face(path)
    assert sorted(record.masks) == ["components", "extended"]
    bare_path = tmp_path / path.name
    bare = dict(header, alignments=dict(header["alignments"], mask={}))
    write_faceswap_png(bare_path, record.image, bare)
    plain = read_face(bare_path)
    assert plain.masks == {}
    for kind in ("components", "extended"):
        spec = PrepareSpec(size=64, centering="face", mask_type=kind, mask_names=("face", "eye"))
        with_stored, without = prepare_face(record, spec), prepare_face(plain, spec)
        np.testing.assert_array_equal(with_stored.masks, without.masks)
        np.testing.assert_array_equal(with_stored.image, without.image)


def _decoded(header: dict, name: str) -> np.ndarray:
    return np.frombuffer(zlib.decompress(header["mask"][name]["mask"]), np.uint8)


def test_M_picks_the_stored_masks_none_stores_none_and_a_bad_name_is_one_line(
    frames, tmp_path, capsys
):
    work = _copy(frames, tmp_path)
    args = ["extract", "-i", str(work), "-z", str(SIZE), "-N", "6", "--no-progress"]
    one = tmp_path / "one"
    assert main([*args, "-o", str(one), "-M", "extended", "-p", str(tmp_path / "one.fsa")]) == 0
    header = read_faceswap_metadata(one / "shot_0000_0.png")["alignments"]
    assert list(header["mask"]) == ["extended"]
    assert list(_raw_fsa(tmp_path / "one.fsa")["shot_0000.png"]["faces"][0]["mask"]) == ["extended"]
    bare = tmp_path / "bare"
    assert main([*args, "-o", str(bare), "-M", "none", "-p", str(tmp_path / "bare.fsa")]) == 0
    assert read_faceswap_metadata(bare / "shot_0000_0.png")["alignments"]["mask"] == {}
    assert _raw_fsa(tmp_path / "bare.fsa")["shot_0000.png"]["faces"][0]["mask"] == {}
    capsys.readouterr()
    for bad in (["vgg-clear"], ["none", "extended"]):
        out = tmp_path / "never"
        assert main([*args, "-o", str(out), "-M", *bad]) == 1
        _one_error_line(capsys, "-M/--masker", repr(bad[0]), "components, extended", "none")
        assert not out.exists()


def test_an_interrupted_extract_continues_and_writes_no_face_twice(frames, tmp_path, capsys):
    work = _copy(frames, tmp_path)
    out = tmp_path / "faces"
    calls = {"n": 0}
    real = extract_run._Extractor.frame

    def stop_at_third(self, run, frame):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, run, frame)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(extract_run._Extractor, "frame", stop_at_third)
        with pytest.raises(KeyboardInterrupt):
            extract(_request(work, out))
    assert len(read_alignments(work / "alignments.fsa")) == 2  # saved on the way out
    marker = existing.read_marker(out)
    assert marker is not None and not marker.complete
    # as if killed harder: the faces of frame 2 were written, the alignments file not saved
    fsa = read_alignments(work / "alignments.fsa")
    write_alignments(
        work / "alignments.fsa",
        {"shot_0000.png": existing.entry_from_record(fsa.frames["shot_0000.png"])},
    )
    before = {path.name: path.stat().st_mtime_ns for path in out.glob("*.png")}
    assert sorted(before) == ["shot_0000_0.png", "shot_0001_0.png"]
    assert main(["extract", "-i", str(work), "-o", str(out), "-z", str(SIZE), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "continuing an interrupted extract: 1 frames already done" in printed
    assert f"{FRAMES - 1} frames extracted" in printed and f"({FRAMES - 2} written)" in printed
    after = {path.name: path.stat().st_mtime_ns for path in out.glob("*.png")}
    assert len(after) == FRAMES
    assert all(after[name] == stamp for name, stamp in before.items())  # not written again
    final = read_alignments(work / "alignments.fsa")
    assert len(final) == FRAMES
    # the frames kept from the first run keep their thumbnails through the rewrite
    assert (
        final.frames["shot_0000.png"].faces[0].thumb == fsa.frames["shot_0000.png"].faces[0].thumb
    )
    assert all(entry.faces[0].thumb for entry in final.frames.values())
    # reading drops the landmark masks; the kept frames get them back, the same as first drawn
    first = read_faceswap_metadata(out / "shot_0000_0.png")["alignments"]["mask"]
    kept = _raw_fsa(work / "alignments.fsa")["shot_0000.png"]["faces"][0]["mask"]
    assert kept == first and sorted(kept) == ["components", "extended"]
    assert existing.read_marker(out).complete


def test_an_existing_alignments_file_is_kept_unless_s_and_faces_unless_e(frames, tmp_path, capsys):
    work = _copy(frames, tmp_path)
    out = tmp_path / "faces"
    args = ["extract", "-i", str(work), "-o", str(out), "-z", str(SIZE), "--no-progress"]
    assert main(args) == 0
    fsa = work / "alignments.fsa"
    original = fsa.read_bytes()
    capsys.readouterr()
    assert main(args) == 1
    _one_error_line(capsys, "alignments.fsa", "pass -s")
    assert fsa.read_bytes() == original
    assert main([*args, "-s"]) == 0
    assert f"{FRAMES} frames already done" in capsys.readouterr().out
    # the alignments file lost: the faces are there, so -e rebuilds their frames from headers
    fsa.unlink()
    assert main(args) == 1
    _one_error_line(capsys, "already holds faces", "pass -e")
    assert main([*args, "-e"]) == 0
    assert "0 frames extracted" in capsys.readouterr().out
    rebuilt = read_alignments(fsa)
    assert len(rebuilt) == FRAMES
    for key, entry in rebuilt.frames.items():
        header = read_faceswap_metadata(out / key.replace(".png", "_0.png"))
        np.testing.assert_array_equal(
            entry.faces[0].landmarks, np.asarray(header["alignments"]["landmarks_xy"], np.float32)
        )


def test_the_identity_filter_keeps_and_drops_the_person(frames, tmp_path):
    reference = frames / "shot_0000.png"
    kept = extract(
        _request(frames, tmp_path / "keep", alignments=tmp_path / "k.fsa", filters=(reference,))
    )
    assert kept.faces == FRAMES and kept.filtered == 0
    dropped = extract(
        _request(frames, tmp_path / "drop", alignments=tmp_path / "d.fsa", nfilters=(reference,))
    )
    assert dropped.faces == 0 and dropped.filtered == FRAMES
    assert len(read_alignments(tmp_path / "d.fsa")) == FRAMES  # frames listed, without faces


def test_frames_without_faces_are_counted_and_listed(frames, tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    shutil.copy(frames / "shot_0000.png", folder / "a.png")
    cv2.imwrite(str(folder / "b.png"), np.full((HEIGHT, WIDTH, 3), 90, np.uint8))
    args = ["extract", "-i", str(folder), "-o", str(tmp_path / "o"), "--no-progress"]
    assert main(args) == 0
    assert "1 frames without faces" in capsys.readouterr().out
    assert [len(e.faces) for e in read_alignments(folder / "alignments.fsa").frames.values()] == [
        1,
        0,
    ]
    # a run that extracts no face at all says so (the frames it read are listed all the same)
    (folder / "a.png").unlink()
    (folder / "alignments.fsa").unlink()
    assert main([*args[:4], str(tmp_path / "o2"), "--no-progress"]) == 1
    _one_error_line(capsys, "no faces extracted", "--upsample")
    assert list(read_alignments(folder / "alignments.fsa").frames) == ["b.png"]


def test_the_cnn_detector_finds_the_face_where_hog_does(frames, extracted, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    shutil.copy(frames / "shot_0003.png", folder)
    summary = extract(_request(folder, tmp_path / "o", detector="cnn"))
    assert summary.faces == 1
    (found,) = read_alignments(folder / "alignments.fsa").frames["shot_0003.png"].faces
    hog = read_alignments(frames / "alignments.fsa").frames["shot_0003.png"].faces[0]
    # another detector, another box; the landmarks of the same face stay close
    assert np.linalg.norm(found.landmarks - hog.landmarks, axis=1).mean() < 5.0


def test_size_limits_and_every_nth_frame(frames, tmp_path):
    summary = extract(
        _request(frames, tmp_path / "o", alignments=tmp_path / "a.fsa", min_size=40, every=2)
    )
    # frames 0, 2, 4: the boxes' longer edges are 88, 104, 125 px of 288 (31%, 36%, 43%)
    assert summary.processed == 3 and summary.too_small == 2 and summary.faces == 1
    assert list(read_alignments(tmp_path / "a.fsa").frames) == [
        "shot_0000.png",
        "shot_0002.png",
        "shot_0004.png",
    ]


@pytest.mark.parametrize(
    ("make", "needles"),
    [
        (lambda tmp: ["-i", str(tmp / "missing")], ("does not exist",)),
        (lambda tmp: ["-i", str(tmp)], ("holds no frames",)),
        (lambda tmp: ["-i", str(tmp), "-z", "16"], ("-z/--size",)),
        (lambda tmp: ["-i", str(tmp), "-m", "90", "-x", "40"], ("-x/--max-size",)),
        (lambda tmp: ["-i", str(tmp / "clip.mp4")], ("cannot open the video",)),
        (lambda tmp: ["-i", str(tmp / "out")], ("is the frames folder",)),
        (lambda tmp: ["-i", str(tmp), "-f", str(tmp / "out" / "frame.png")], ("no face found",)),
        (lambda tmp: ["-i", str(tmp), "-n", str(tmp / "nobody.png")], ("-n/--nfilter",)),
    ],
)
def test_bad_input_is_one_line(make, needles, tmp_path, capsys):
    (tmp_path / "clip.mp4").write_bytes(b"not a video")
    (tmp_path / "out").mkdir()
    cv2.imwrite(str(tmp_path / "out" / "frame.png"), np.zeros((8, 8, 3), np.uint8))
    args = ["extract", *make(tmp_path), "-o", str(tmp_path / "out"), "--no-progress"]
    assert main(args) == 1
    _one_error_line(capsys, *needles)


def test_a_truncated_alignments_file_is_one_line_and_kept(frames, tmp_path, capsys):
    work = _copy(frames, tmp_path)
    assert main(["extract", "-i", str(work), "-o", str(tmp_path / "o"), "--no-progress"]) == 0
    fsa = work / "alignments.fsa"
    fsa.write_bytes(fsa.read_bytes()[:-20])
    damaged = fsa.read_bytes()
    capsys.readouterr()
    assert main(["extract", "-i", str(work), "-o", str(tmp_path / "o"), "-s", "--no-progress"]) == 1
    _one_error_line(capsys, "alignments.fsa")
    assert fsa.read_bytes() == damaged


def test_without_the_extra_it_names_the_extra(frames, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)
    assert main(["extract", "-i", str(frames), "-o", str(tmp_path / "o")]) == 1
    _one_error_line(capsys, 'pip install "fs-core[extract]"')
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------------------------
# a video, and the whole workflow: extract -> train -> convert


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    av = pytest.importorskip("av", reason="video needs PyAV")
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"crf": "12"}
        for frame in _frames():
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.mark.slow
def test_video_extract_train_convert(video, registry, tmp_path, capsys):
    import fs_core.plugin_manager

    faces = tmp_path / "faces"
    args = ["extract", "-i", str(video), "-o", str(faces), "-z", str(SIZE), "--no-progress"]
    assert main(args) == 0
    assert f"{FRAMES} frames extracted" in capsys.readouterr().out
    fsa = video.with_name("clip_alignments.fsa")
    assert list(read_alignments(fsa).frames) == [
        f"clip_{index:06d}.mp4" for index in range(1, FRAMES + 1)
    ]
    header = read_faceswap_metadata(faces / "clip_000001_0.png")
    assert header["source"]["source_filename"] == "clip_000001.mp4"
    assert header["source"]["source_is_video"] is True
    model = tmp_path / "model"
    config = tmp_path / "tiny.toml"
    config.write_text("[model.tiny]\nsize = 32\n")
    out = tmp_path / "swapped"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fs_core.plugin_manager, "get_registry", lambda disabled=None: registry)
        train = ["train", "-A", str(faces), "-B", str(faces), "-m", str(model), "-t", "tiny"]
        assert main([*train, "-C", str(config), "-b", "2", "-i", "2", "--seed", "1"]) == 0
        assert main(["convert", "-i", str(video), "-o", str(out), "-m", str(model)]) == 0
    written = sorted(out.glob("*.png"))
    assert len(written) == FRAMES
    swapped = cv2.imread(str(written[0]))
    original = _frames()[0]
    face = read_alignments(fsa).frames["clip_000001.mp4"].faces[0]
    x, y, w, h = face.x, face.y, face.w, face.h
    inside = np.abs(swapped[y : y + h, x : x + w].astype(int) - original[y : y + h, x : x + w])
    corner = np.abs(swapped[:20, :20].astype(int) - original[:20, :20])
    assert inside.mean() > 10 and corner.mean() < 3  # the face swapped, the rest as decoded


def test_a_full_disk_is_one_line_and_keeps_the_alignments_file(frames, tmp_path, capsys):
    import errno
    import os

    work = _copy(frames, tmp_path)
    out = tmp_path / "faces"
    args = ["extract", "-i", str(work), "-o", str(out), "-z", str(SIZE), "--no-progress"]
    assert main([*args, "-N", "2"]) == 0
    fsa = work / "alignments.fsa"
    kept = fsa.read_bytes()
    capsys.readouterr()

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fsync", no_space)
        assert main([*args, "-s"]) == 1
    _one_error_line(capsys, "no space")
    assert fsa.read_bytes() == kept
    assert not [path for path in out.iterdir() if path.name.startswith(".") and "tmp" in path.name]
