"""faceswap's alignments file: the restricted reader, the writer, and the demo clip."""

from __future__ import annotations

import base64
import os
import pickle
import pickletools
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from fs_core.cli.main import main
from fs_core.errors import FsUserError
from fs_core.faces import alignment as al
from fs_core.faces import alignments_file as fsa
from fs_core.faces.alignments_file import (
    ALLOWED_GLOBALS,
    default_alignments_path,
    encode_alignments,
    face_entry,
    frame_key_for_video,
    mask_entry,
    read_alignments,
    write_alignments,
)
from fs_core.faces.demo import ALIGNMENTS_NAME, CLIP_FOLDER, CLIP_FRAMES, write_demo_data
from fs_core.faces.pngmeta import read_faceswap_metadata
from fs_core.faces.read import read_face

# An alignments file as faceswap wrote it under NumPy 1.x (made with numpy 1.26.4, protocol 4):
# version 2.1, frames "vid_000001.png" (one face) and "vid_000002.png" (no faces). The face has
# float32 landmarks ((arange(136) reshaped (68, 2) % 17) * 3 + 100), a uint8 (16, 1) thumb, a
# float32 identity, an old 'hash', a retired 'components' mask and a 64 px 'vgg-clear' mask
# (bytes(range(256)) * 16) with a 2x3 float64 matrix and a NumPy int interpolator; video_meta
# holds a NumPy float64 pts_time. It names numpy.core.multiarray._reconstruct and .scalar,
# numpy.ndarray and numpy.dtype.
NUMPY1_FILE = (
    "eJztlWtMHFUUx2eW3TLAAtsWrDEamlgjWNnuwlLatM0S1oh2LNhWbaIh09nZ2Z3p7jx2HrDbSugXK+hVVG7tlxpMNLE+Ss"
    "FXPxmqn6qWtrwTEwP0AZZC2QUrxKRd78wWaQ3qd+NJ/pP7OHPn3jm/c89h61FbJmZaEywGBEUJrEZTFGyCILOBVVReEmFN"
    "FXbOsF7VcAjQdxyKQV4DH6Bchrmdshgyx2xBmmFVWG928BgkXwR4HJIUwBshuR3gHCSfBPYILQYEWgmrVCwOQaGoC3LcyU"
    "gK6xT0iMbTikKjcTulsIwkqpqiMxpsh8BmOqKtiYG0SzsksVegD/fDV+EeWEzi5BOk5Qjk1gJbQIvLrPGSJeiBrS3p+QyA"
    "b4e1tbU7U8jMB4lp0N9avd5i/IOz1Rh2HmkQ6SekMaQJpGmkOaRFpNtIFh+G2ZAIpBykPKTVSAW+/9f4764BESnAKtBq2I"
    "Q7m5EEWRJZUVONPrfB90Ds+My3eC4C6bv3F+qE/MwC1EyIDgzDIcilg0FeZCmB1hQ+Brk1XKHBLrduiVwLmYHIfRDxumWZ"
    "V279CrT6XOmUTXixf7TleXPrdl7UWEWWIrQmKRDlQo6KGmyAUvmDLCSrdJDVEAqVMhGWVtInqt6GY1jsOLM/4A/SLDM5du"
    "XSxPjVy+scBWvuW1249thb8J133z7avu/Z5/a8sPv5vSMXB/uH+4YGKl2ess3uivLTXV9+/nX3V180yprSENXVhcSvc78l"
    "b87nE/bsvKzcnLYW8NqbrW+8XvfUMztrn95FXjh77ofz3/f+uKn48cecJaUbT5347JPOj09+KnGRAyIvhGd/mZ66cW3meo"
    "cr2n+lZO9Huzrc6vD0VnWyl+qS+y49Qh4rpbqVoamK8MjJ0a7owETpS6eF0W515MaOQwszXjlxcfzhmraHvNG5wWvloQvv"
    "9cjJ/qsb952q74nOD89sa5z9uTmR6Lv8aF3Hjubk3ND1Smn0m1QiOTC5ieppSiXnR2a9zalboftvpk6kam55p1K7U22/Nw"
    "+mPrhddO+QdbEI29+5eAByJX8XZ9efURz7SxQ3nLm3vzTvOWNEkfNwDrBKZegIClK7yQv/L7z4iIwlDI4gL64ChVoHVo5W"
    "OQgcLndZuadic+WWrbSfCbBBdMtqnC74VyDUQeJpQnX33TfqyyvdqD4HhlsyrLZVmURWdo49Ny/fZJDgAyhheC1uVBgC4W"
    "aUi7IVvmVFnSJjFeyw924Zq6g6DbJR7WEls1yZ2UjImkppvMBCropz+YhDBZ014wc/9JpHBkSYjQcVGs22oKMv162yO3WL"
    "I+qhquvOPwBe4Gqs"
)


def _landmarks(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.uniform(50, 200, (68, 2))).astype(np.float32)


def _write_raw(path: Path, obj, protocol: int = 4) -> Path:
    path.write_bytes(zlib.compress(pickle.dumps(obj, protocol=protocol)))
    return path


def _refused(path: Path, match: str, **kwargs) -> FsUserError:
    with pytest.raises(FsUserError, match=match) as info:
        read_alignments(path, **kwargs)
    assert info.value.path == str(path)
    assert "\n" not in str(info.value)
    return info.value


# ------------------------------------------------------------------------------- writer round trip


def test_written_file_reads_back_equal(tmp_path):
    mask = (np.arange(32 * 32) % 251).astype(np.uint8).reshape(32, 32)
    matrix = np.array([[0.5, 0.1, -3.0], [-0.1, 0.5, 7.0]])
    frames = {
        "b.png": {
            "faces": [
                face_entry(
                    _landmarks(1),
                    {"bisenet-fp_head": mask_entry(mask, matrix, "head", 1)},
                    thumb=b"\xff\xd8jpeg",
                )
            ],
            "video_meta": {},
        },
        "a.png": {"faces": [], "video_meta": {}},
        "c.png": {
            "faces": [face_entry(_landmarks(2), box=(1, 2, 3, 4)), face_entry(_landmarks(3))],
            "video_meta": {"pts_time": 120, "keyframe": True},
        },
    }
    path = write_alignments(tmp_path / "alignments.fsa", frames)
    data = path.read_bytes()
    assert data[:2] == b"\x78\x9c"  # one zlib stream at the default level, as faceswap's
    raw = zlib.decompress(data)
    assert raw[:2] == b"\x80\x04"  # a protocol-4 pickle
    ops = {op.name for op, _arg, _pos in pickletools.genops(raw)}
    assert not ops & {"GLOBAL", "STACK_GLOBAL", "REDUCE", "BUILD", "INST", "OBJ", "NEWOBJ"}
    assert not list(tmp_path.glob(".*tmp"))  # atomic: no temp file left

    result = read_alignments(path)
    assert result.version == 2.4 and result.path == path
    assert list(result.frames) == ["b.png", "a.png", "c.png"]  # file order, not sorted
    assert len(result) == 3 and result.face_count == 3
    face = result.frames["b.png"].faces[0]
    assert face.landmarks.dtype == np.float32 and face.landmarks.shape == (68, 2)
    np.testing.assert_array_equal(face.landmarks, _landmarks(1))
    assert not face.landmarks.flags.writeable
    stored = face.masks["bisenet-fp_head"]
    assert (stored.stored_size, stored.stored_centering, stored.interpolator) == (32, "head", 1)
    np.testing.assert_array_equal(stored.decode(), mask)
    np.testing.assert_allclose(stored.affine_matrix, np.vstack([matrix, [0, 0, 1]]), atol=1e-6)
    second = result.frames["c.png"]
    assert (second.faces[0].x, second.faces[0].y, second.faces[0].w, second.faces[0].h) == (
        1,
        2,
        3,
        4,
    )
    assert dict(second.video_meta) == {"pts_time": 120, "keyframe": True}
    assert result.frames["a.png"].faces == ()
    assert read_alignments(path) == result  # records compare by value


def test_writer_converts_numpy_values_and_refuses_objects(tmp_path):
    frames = {
        "f.png": {
            "faces": [{**face_entry(_landmarks()), "x": np.int64(5)}],
            "video_meta": {"pts_time": np.float64(1.5)},
        }
    }
    raw = zlib.decompress(encode_alignments(frames))
    ops = {op.name for op, _arg, _pos in pickletools.genops(raw)}
    assert "STACK_GLOBAL" not in ops and "GLOBAL" not in ops
    with pytest.raises(TypeError, match=r"frame 'g\.png'"):
        encode_alignments({"g.png": {"faces": [object()]}})


# ------------------------------------------------------------------------------- real legacy files


def _legacy_face(landmark_key: str = "landmarks_xy") -> dict:
    return {
        "x": 10,
        "y": 20,
        "w": 30,
        "h": 40,
        landmark_key: _landmarks(),
        "mask": {
            "components": {
                "mask": zlib.compress(bytes(16)),
                "affine_matrix": np.eye(3)[:2],
                "interpolator": 3,
                "stored_size": 4,
            },
            "vgg-obstructed": {
                "mask": zlib.compress(bytes(range(64))),
                "affine_matrix": np.array([[1.0, 0, 2], [0, 1, 3]]),
                "interpolator": np.int64(3),
                "stored_size": 8,
                "stored_centering": "head",
            },
        },
        "hash": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "thumb": np.zeros((20, 1), np.uint8),
        "identity": {"vggface2": np.ones(512, np.float32)},
    }


@pytest.mark.parametrize("protocol", [3, 4, 5])  # Python 3.0-3.7, 3.8-3.13, 3.14
def test_numpy_pickled_file_reads(tmp_path, protocol):
    """A 2.0 file as faceswap 2.x wrote it: arrays pickled by NumPy, a frame stored as a bare face
    list, 'landmarksXY', a retired mask, an old hash, NumPy scalars."""
    data = {
        "__meta__": {"version": 2.0},
        "__data__": {
            "clip_000001.png": {
                "faces": [_legacy_face()],
                "video_meta": {"pts_time": np.float64(0.04), "keyframe": True},
            },
            "clip_000002.png": [
                {
                    **_legacy_face("landmarksXY"),  # big-endian, Fortran order
                    "landmarksXY": np.asfortranarray(_landmarks().astype(">f4")),
                }
            ],
        },
    }
    path = _write_raw(tmp_path / "old.fsa", data, protocol)
    result = read_alignments(path)
    assert result.version == 2.0
    for entry in result.frames.values():
        (face,) = entry.faces
        np.testing.assert_array_equal(face.landmarks, _landmarks())
        assert set(face.masks) == {"vgg-obstructed"}  # 'components' dropped, as faceswap does
        stored = face.masks["vgg-obstructed"]
        assert stored.stored_centering == "face"  # before 2.2 every mask was face-centred
        assert stored.interpolator == 3 and stored.affine_matrix.shape == (3, 3)
        np.testing.assert_array_equal(stored.decode(), np.arange(64, dtype=np.uint8).reshape(8, 8))
    assert dict(result.frames["clip_000001.png"].video_meta) == {"pts_time": 0.04, "keyframe": True}
    assert dict(result.frames["clip_000002.png"].video_meta) == {}


def test_numpy1_module_names_read(tmp_path):
    """NumPy 1.x names its reconstructor numpy.core.multiarray (NumPy 2.x: numpy._core)."""
    data = {"__meta__": {"version": 2.2}, "__data__": {"f.png": {"faces": [_legacy_face()]}}}
    raw = pickle.dumps(data, protocol=3)  # names globals as text lines
    assert b"cnumpy._core.multiarray\n" in raw
    raw = raw.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    path = tmp_path / "np1.fsa"
    path.write_bytes(zlib.compress(raw))
    face = read_alignments(path).frames["f.png"].faces[0]
    np.testing.assert_array_equal(face.landmarks, _landmarks())
    assert face.masks["vgg-obstructed"].stored_centering == "head"  # 2.2 keeps it


def test_file_written_under_numpy1_reads(tmp_path):
    path = tmp_path / "vid_alignments.fsa"
    path.write_bytes(base64.b64decode(NUMPY1_FILE))
    result = read_alignments(path)
    assert result.version == 2.1 and list(result.frames) == ["vid_000001.png", "vid_000002.png"]
    (face,) = result.frames["vid_000001.png"].faces
    expected = (np.arange(136, dtype=np.float32).reshape(68, 2) % 17) * 3 + 100
    np.testing.assert_array_equal(face.landmarks, expected)
    assert set(face.masks) == {"vgg-clear"}
    np.testing.assert_array_equal(
        face.masks["vgg-clear"].decode().ravel(), np.frombuffer(bytes(range(256)) * 16, np.uint8)
    )
    np.testing.assert_allclose(
        face.masks["vgg-clear"].affine_matrix, [[0.5, 0, -10], [0, 0.5, -20], [0, 0, 1]]
    )
    assert result.frames["vid_000001.png"].video_meta["pts_time"] == pytest.approx(0.04)
    assert result.frames["vid_000002.png"].faces == ()
    # before 2.4 video frames were keyed '.png': opened with the video, they take its extension
    by_video = read_alignments(path, video=tmp_path / "vid.MP4")
    assert list(by_video.frames) == ["vid_000001.MP4", "vid_000002.MP4"]
    # only for a video, only keys of that video
    assert list(read_alignments(path, video="vid.png").frames) == list(result.frames)
    assert list(read_alignments(path, video="other.mp4").frames) == list(result.frames)


def test_version_1_is_refused_by_name(tmp_path):
    old = _write_raw(tmp_path / "v1.fsa", {"frame.png": [{"x": 1, "landmarksXY": [[0, 0]]}]})
    error = _refused(old, "version 1.0")
    assert "alignments tool" in error.message and "faceswap v2.3" in error.message
    explicit = _write_raw(tmp_path / "v19.fsa", {"__meta__": {"version": 1.9}, "__data__": {}})
    _refused(explicit, "version 1.9")
    _refused(
        _write_raw(tmp_path / "vs.fsa", {"__meta__": {"version": "2.4"}, "__data__": {}}),
        "version is not a number",
    )


# ------------------------------------------------------------------------------- malicious files


class _RunsShell:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _RunsEval:
    def __init__(self, source: str) -> None:
        self.source = source

    def __reduce__(self):
        return (eval, (self.source,))


def test_pickle_that_runs_a_command_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    data = {
        "__meta__": {"version": 2.4},
        "__data__": {"f.png": {"faces": [], "video_meta": _RunsShell(f"touch {marker}")}},
    }
    error = _refused(_write_raw(tmp_path / "evil.fsa", data), "refusing to load")
    assert "the file asks to run" in error.message and "system" in error.message
    assert not marker.exists()


def test_pickle_that_calls_eval_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    source = f"open({str(marker)!r}, 'w').write('x')"
    data = {"__meta__": {"version": 2.4}, "__data__": {"f.png": _RunsEval(source)}}
    error = _refused(_write_raw(tmp_path / "evil.fsa", data), "builtins.eval")
    assert "refusing to load" in error.message
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix
def test_dangerous_numpy_payloads_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    # an object array: its elements are pickles of their own
    objects = np.array([_RunsShell(f"touch {marker}"), 1], dtype=object)
    _refused(
        _write_raw(
            tmp_path / "obj.fsa",
            {
                "__meta__": {"version": 2.4},
                "__data__": {"f.png": {"faces": [{**_legacy_face(), "landmarks_xy": objects}]}},
            },
        ),
        "refusing to load",
    )
    assert not marker.exists()
    # an ndarray subclass, a structured dtype
    for name, value in (
        ("matrix", np.matrix(np.eye(2))),
        ("record", np.zeros(2, dtype=[("a", "<f4")])),
    ):
        path = _write_raw(
            tmp_path / f"{name}.fsa",
            {
                "__meta__": {"version": 2.4},
                "__data__": {"f.png": {"faces": [{**_legacy_face(), "landmarks_xy": value}]}},
            },
        )
        _refused(path, "refusing to load")
    # numpy.ndarray called directly (its own buffer, offset and strides)
    raw = b"\x80\x02cnumpy\nndarray\nK\x01\x85R."
    (tmp_path / "nd.fsa").write_bytes(zlib.compress(raw))
    _refused(tmp_path / "nd.fsa", "numpy.ndarray directly")


def test_refused_names_are_never_imported(tmp_path):
    assert "this" not in sys.modules
    (tmp_path / "zen.fsa").write_bytes(zlib.compress(b"\x80\x03cthis\ns\n."))
    _refused(tmp_path / "zen.fsa", r"asks to run this\.s")
    assert "this" not in sys.modules  # refused by name, not imported and checked


def test_allowed_globals_are_exactly_the_numpy_reconstructors():
    assert set(ALLOWED_GLOBALS) == {
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "numpy.core.numeric._frombuffer",
        "numpy._core.numeric._frombuffer",
        "numpy.ndarray",
        "numpy.dtype",
    }


# ------------------------------------------------------------------------------- broken files


def test_broken_files_are_one_line_errors(tmp_path, monkeypatch):
    good = write_alignments(
        tmp_path / "good.fsa", {"f.png": {"faces": [face_entry(_landmarks())], "video_meta": {}}}
    )
    data = good.read_bytes()

    def case(name: str, payload: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(payload)
        return path

    _refused(tmp_path / "missing.fsa", "does not exist")
    _refused(case("empty.fsa", b""), "empty")
    _refused(case("text.fsa", b"frame: 1\n" * 20), "not zlib-compressed")
    _refused(case("json.fsa", b'{"__meta__": {}}'), "not zlib-compressed")
    _refused(case("half.fsa", data[: len(data) // 2]), "truncated")
    _refused(case("nopickle.fsa", zlib.compress(b"hello, world")), "not a valid pickle")
    _refused(case("cut.fsa", zlib.compress(zlib.decompress(data)[:-40])), "not a valid pickle")
    _refused(_write_raw(tmp_path / "list.fsa", [1, 2]), "holds a list")
    _refused(_write_raw(tmp_path / "nodata.fsa", {"__meta__": {"version": 2.4}}), "'__data__'")
    _refused(
        _write_raw(tmp_path / "meta.fsa", {"__meta__": [2.4], "__data__": {}}),
        "'__meta__' is not a mapping",
    )

    def with_data(name: str, frames) -> Path:
        return _write_raw(tmp_path / name, {"__meta__": {"version": 2.4}, "__data__": frames})

    _refused(with_data("entry.fsa", {"f.png": "faces"}), r"frame 'f.png': the entry is a str")
    _refused(with_data("face.fsa", {"f.png": {"faces": [7]}}), r"frame 'f.png' face 0: .*int")
    _refused(with_data("key.fsa", {3: {"faces": []}}), "frame key is a int")
    small = face_entry(_landmarks()[:5])
    _refused(with_data("five.fsa", {"f.png": {"faces": [small]}}), "5-point landmarks")
    nan = face_entry(np.full((68, 2), np.nan), box=(0, 0, 1, 1))
    _refused(with_data("nan.fsa", {"f.png": {"faces": [nan]}}), "NaN")
    nomark = {k: v for k, v in face_entry(_landmarks()).items() if k != "landmarks_xy"}
    _refused(with_data("nomark.fsa", {"f.png": {"faces": [nomark]}}), "no landmarks")
    badmask = face_entry(_landmarks(), {"m": {"mask": "text", "stored_size": 8}})
    _refused(with_data("mask.fsa", {"f.png": {"faces": [badmask]}}), "stored mask 'm'")
    # a stored mask that does not inflate fails when decoded, naming the file and the face
    corrupt = face_entry(
        _landmarks(), {"m": {**mask_entry(np.zeros((8, 8)), np.eye(3)), "mask": b"not zlib"}}
    )
    stored = (
        read_alignments(with_data("blob.fsa", {"f.png": {"faces": [corrupt]}}))
        .frames["f.png"]
        .faces[0]
        .masks["m"]
    )
    with pytest.raises(FsUserError, match=r"frame 'f.png' face 0: stored mask 'm' is corrupt"):
        stored.decode()
    # a zlib bomb: refused once the output passes the cap, before it is all in memory
    monkeypatch.setattr(fsa, "DECOMPRESSED_FLOOR", 2**20)
    bomb = case("bomb.fsa", zlib.compress(b"\x00" * (16 * 2**20), 9))
    _refused(bomb, "decompress to more than")
    (tmp_path / "folder.fsa").mkdir()
    _refused(tmp_path / "folder.fsa", "is a folder")


# ------------------------------------------------------------------------------- paths and keys


def test_default_path_and_video_frame_keys(tmp_path):
    assert default_alignments_path(tmp_path) == tmp_path / "alignments.fsa"
    video = tmp_path / "My Clip.MP4"
    assert default_alignments_path(video) == tmp_path / "My Clip_alignments.fsa"
    assert frame_key_for_video(video, 0) == "My Clip_000001.MP4"
    assert frame_key_for_video("v.mkv", 999999) == "v_1000000.mkv"
    with pytest.raises(ValueError):
        frame_key_for_video("v.mkv", -1)


# ------------------------------------------------------------------------------- the demo clip


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clipdemo")
    write_demo_data(root, count=CLIP_FRAMES + 2, size=64, seed=3)
    return root


def test_demo_clip_alignments_match_its_frames(demo):
    clip = demo / CLIP_FOLDER
    frames = sorted(p.name for p in clip.glob("*.png"))
    assert len(frames) == CLIP_FRAMES
    result = read_alignments(default_alignments_path(clip))
    assert result.path == clip / ALIGNMENTS_NAME and result.version == 2.4
    assert sorted(result.frames) == frames  # every frame listed, nothing else
    raw = zlib.decompress((clip / ALIGNMENTS_NAME).read_bytes())
    assert not {op.name for op, _a, _p in pickletools.genops(raw)} & {"GLOBAL", "STACK_GLOBAL"}
    for name in frames:
        image = cv2.imread(str(clip / name))
        height, width = image.shape[:2]
        (face,) = result.frames[name].faces
        assert np.all(face.landmarks >= 0)
        assert np.all(face.landmarks[:, 0] < width) and np.all(face.landmarks[:, 1] < height)
        assert face.masks["custom_face"].decode().max() == 255


def test_demo_a_faces_are_cut_from_the_clip(demo):
    clip = demo / CLIP_FOLDER
    result = read_alignments(clip / ALIGNMENTS_NAME)
    from_clip = 0
    for path in sorted((demo / "A").glob("*.png")):
        record = read_face(path)
        source = read_faceswap_metadata(path)["source"]
        if source["source_filename"] not in result.frames:
            continue
        from_clip += 1
        frame = cv2.imread(str(clip / source["source_filename"]))
        assert source["source_frame_dims"] == list(frame.shape[:2])
        (face,) = result.frames[source["source_filename"]].faces
        np.testing.assert_array_equal(record.landmarks, face.landmarks)
        crop, _matrix = al.extract_face(frame, face.landmarks, 64, "head", 1.0)
        np.testing.assert_array_equal(record.image, crop)  # exactly what fs cuts from the frame
        np.testing.assert_array_equal(
            record.masks["custom_face"], face.masks["custom_face"].decode()
        )
    assert from_clip == CLIP_FRAMES  # every clip frame gave one A face; the rest are random


def test_demo_clip_rerun_and_foreign_files(tmp_path):
    write_demo_data(tmp_path, count=2, size=32, clip_frames=3)
    write_demo_data(tmp_path, count=2, size=32, clip_frames=2)
    assert sorted(p.name for p in (tmp_path / CLIP_FOLDER).glob("*.png")) == [
        "clip_000001.png",
        "clip_000002.png",
    ]  # the old third frame is gone
    assert len(read_alignments(tmp_path / CLIP_FOLDER / ALIGNMENTS_NAME)) == 2
    (tmp_path / CLIP_FOLDER / "holiday.mp4").write_bytes(b"x")
    with pytest.raises(FsUserError, match="did not write"):
        write_demo_data(tmp_path, count=2, size=32)


def test_cli_demo_data_writes_the_clip(tmp_path, capsys):
    assert main(["demo-data", str(tmp_path), "--count", "2", "--size", "64"]) == 0
    assert "clip" in capsys.readouterr().out
    assert len(read_alignments(tmp_path / CLIP_FOLDER / ALIGNMENTS_NAME)) == CLIP_FRAMES
