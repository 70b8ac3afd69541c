"""``fs convert`` end to end on the demo clip: the frames (names, count, frames without faces left
exactly as they were), a video (the input's frame count, rate and audio, decoded back with PyAV),
resuming, frame ranges with and without ``-k``, ``-a``, Ctrl-C, and every kind of bad input
(one line naming the file, exit 1, nothing written that looks finished).

The model folder is a freshly built tiny model saved as training leaves it (as in
test_watch_swap.py): convert's speed and correctness do not depend on what the weights learned."""

from __future__ import annotations

import shutil
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from fs_core.cli.main import main
from fs_core.faces.alignments_file import face_entry, frame_key_for_video, read_alignments
from fs_core.faces.alignments_file import write_alignments as write_fsa
from fs_core.faces.demo import write_demo_data

FRAMES = 24  # the demo clip's length


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    write_demo_data(out, count=8, size=64)
    return out


@pytest.fixture(autouse=True)
def tiny_registry(registry, monkeypatch):
    import fs_core.plugin_manager

    monkeypatch.setattr(fs_core.plugin_manager, "get_registry", lambda disabled=None: registry)
    return registry


@pytest.fixture(scope="module")
def model(registry, tmp_path_factory) -> Path:
    """A saved tiny model (32 px, learned mask), as a training run leaves its folder."""
    import tiny_plugin

    from fs_core.config import config_from_mapping
    from fs_core.folder.model_files import save_model_files
    from fs_core.model.build import build_from_config
    from fs_core.model.state import ModelState
    from fs_core.model.weights import save_weights

    folder = tmp_path_factory.mktemp("models") / "tiny"
    config = config_from_mapping(
        {"global": {"mask": {"learn_mask": True}}, "model": {"tiny": {"size": 32}}},
        {"tiny": tiny_plugin.TinyConfig},
    )
    built = build_from_config(registry, "tiny", config)
    state = ModelState(
        model="tiny", iterations=3, config=config.stored_sections("tiny", tiny_plugin.TinyConfig)
    )
    save_model_files(
        folder, state, lambda path: save_weights(path, built.model, model_name="tiny", iterations=3)
    )
    return folder


def _convert(*args: str | Path) -> int:
    return main(["convert", *(str(arg) for arg in args)])


def _frames(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.glob("*.png"))


def _same(left: Path, right: Path) -> bool:
    return bool(np.array_equal(cv2.imread(str(left)), cv2.imread(str(right))))


def _one_error_line(capsys, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture(scope="module")
def converted(demo, model, registry, tmp_path_factory) -> Path:
    """The whole clip converted once with the defaults (image frames)."""
    import fs_core.plugin_manager

    out = tmp_path_factory.mktemp("converted")
    patch = pytest.MonkeyPatch()
    patch.setattr(fs_core.plugin_manager, "get_registry", lambda disabled=None: registry)
    try:
        assert _convert("-i", demo / "clip", "-o", out, "-m", model) == 0
    finally:
        patch.undo()
    return out


def test_every_frame_is_written_named_as_the_input(demo, converted):
    inputs = _frames(demo / "clip")
    assert len(inputs) == FRAMES
    assert _frames(converted) == inputs
    assert not [p for p in converted.iterdir() if p.name.startswith(".")]  # no temp files
    changed = [name for name in inputs if not _same(demo / "clip" / name, converted / name)]
    assert changed, "the faces were swapped into the frames"
    first = cv2.imread(str(converted / inputs[0]))
    assert first.shape == cv2.imread(str(demo / "clip" / inputs[0])).shape


def test_frames_without_faces_are_written_unchanged(demo, model, tmp_path, capsys):
    clip = tmp_path / "clip"
    shutil.copytree(demo / "clip", clip)
    alignments = read_alignments(clip / "alignments.fsa")
    frames = {}
    for key, entry in alignments.frames.items():
        faces = [
            face_entry(face.landmarks, box=(face.x, face.y, face.w, face.h)) for face in entry.faces
        ]
        frames[key] = {"faces": faces, "video_meta": {}}
    frames["clip_000003.png"]["faces"] = []
    frames["clip_000007.png"]["faces"] = []
    del frames["clip_000010.png"]  # a frame the alignments do not list
    write_fsa(clip / "alignments.fsa", frames)
    out = tmp_path / "out"
    assert _convert("-i", clip, "-o", out, "-m", model) == 0
    assert "1 frames are not in alignments.fsa" in capsys.readouterr().out
    assert len(_frames(out)) == FRAMES
    for name in ("clip_000003.png", "clip_000007.png", "clip_000010.png"):
        assert _same(clip / name, out / name), name
    assert not _same(clip / "clip_000004.png", out / "clip_000004.png")


def test_resume_skips_finished_frames(demo, model, tmp_path, capsys):
    out = tmp_path / "out"
    assert _convert("-i", demo / "clip", "-o", out, "-m", model) == 0
    stamps = {path.name: path.stat().st_mtime_ns for path in out.glob("*.png")}
    for name in ("clip_000005.png", "clip_000020.png"):
        (out / name).unlink()
    capsys.readouterr()
    assert _convert("-i", demo / "clip", "-o", out, "-m", model) == 0
    printed = capsys.readouterr().out
    assert "resuming: 22 frames" in printed and "2 swapped" in printed
    assert _frames(out) == _frames(demo / "clip")
    for path in out.glob("*.png"):
        if path.name in ("clip_000005.png", "clip_000020.png"):
            continue
        assert path.stat().st_mtime_ns == stamps[path.name], path.name


def test_frame_ranges_skip_other_frames(demo, model, converted, tmp_path):
    out = tmp_path / "out"
    assert _convert("-i", demo / "clip", "-o", out, "-m", model, "-R", "3-5", "22-100") == 0
    expected = [f"clip_{n:06d}.png" for n in (3, 4, 5, 22, 23, 24)]  # 100 clamped to 24
    assert _frames(out) == expected
    for name in expected:  # the same swap as a whole-clip run
        assert _same(out / name, converted / name)


def test_keep_unchanged_writes_the_frames_outside_the_ranges(demo, model, tmp_path):
    out = tmp_path / "out"
    assert _convert("-i", demo / "clip", "-o", out, "-m", model, "-fr", "3-5", "-k") == 0
    assert _frames(out) == _frames(demo / "clip")
    assert _same(demo / "clip" / "clip_000001.png", out / "clip_000001.png")
    assert _same(demo / "clip" / "clip_000010.png", out / "clip_000010.png")
    assert not _same(demo / "clip" / "clip_000004.png", out / "clip_000004.png")


def test_aligned_faces_folder_limits_the_swapped_faces(demo, model, converted, tmp_path):
    from fs_core.faces.pngmeta import read_faceswap_metadata

    out = tmp_path / "out"
    assert _convert("-i", demo / "clip", "-o", out, "-m", model, "-a", demo / "A") == 0
    sources = {
        read_faceswap_metadata(path)["source"]["source_filename"]
        for path in (demo / "A").glob("*.png")
    }
    assert sources and len(sources) < FRAMES
    for name in _frames(demo / "clip"):
        if name in sources:
            assert _same(out / name, converted / name), name
        else:
            assert _same(out / name, demo / "clip" / name), name


# ------------------------------------------------------------------------------------ video


@pytest.fixture(scope="module")
def video(demo, tmp_path_factory) -> Path:
    """The demo clip as an H.264 mp4 at 29.97 frames/s with an AAC audio track, and its
    alignments where faceswap would put them (``clip_alignments.fsa``)."""
    av = pytest.importorskip("av")
    folder = tmp_path_factory.mktemp("video")
    path = folder / "clip.mp4"
    frames = sorted((demo / "clip").glob("*.png"))
    rate = Fraction(30000, 1001)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        first = cv2.imread(str(frames[0]))
        stream.width, stream.height = first.shape[1], first.shape[0]
        stream.pix_fmt = "yuv420p"
        audio = out.add_stream("aac", rate=44100)
        audio.layout = "mono"
        for frame in frames:
            image = av.VideoFrame.from_ndarray(cv2.imread(str(frame)), format="bgr24")
            for packet in stream.encode(image):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
        count = int(44100 * len(frames) / rate)
        tone = (0.2 * np.sin(np.arange(count) * 0.06)).astype(np.float32)
        for start in range(0, count, 1024):
            chunk = av.AudioFrame.from_ndarray(
                tone[None, start : start + 1024], format="flt", layout="mono"
            )
            chunk.sample_rate, chunk.pts = 44100, start
            for packet in audio.encode(chunk):
                out.mux(packet)
        for packet in audio.encode(None):
            out.mux(packet)
    alignments = read_alignments(demo / "clip" / "alignments.fsa")
    entries = {
        frame_key_for_video(path, index): {
            "faces": [face_entry(f.landmarks, box=(f.x, f.y, f.w, f.h)) for f in entry.faces],
            "video_meta": {},
        }
        for index, entry in enumerate(alignments.frames.values())
    }
    write_fsa(folder / "clip_alignments.fsa", entries)
    return path


def test_video_keeps_frame_count_rate_and_audio(video, model, tmp_path):
    import av

    out = tmp_path / "out"
    assert _convert("-i", video, "-o", out, "-m", model, "-w", "ffmpeg") == 0
    assert [p.name for p in out.iterdir()] == ["clip_converted.mp4"]
    with av.open(str(out / "clip_converted.mp4")) as result:
        stream = result.streams.video[0]
        assert stream.average_rate == Fraction(30000, 1001)
        assert stream.codec_context.name == "h264"
        assert len(result.streams.audio) == 1
        decoded = [frame.to_ndarray(format="bgr24") for frame in result.decode(video=0)]
    assert len(decoded) == FRAMES
    # a second run never overwrites a finished video
    assert _convert("-i", video, "-o", out, "-m", model, "-w", "ffmpeg") == 0
    assert sorted(p.name for p in out.iterdir()) == ["clip_converted.mp4", "clip_converted_1.mp4"]


def test_video_frames_as_images_use_the_video_keys(video, model, tmp_path):
    out = tmp_path / "out"
    assert _convert("-i", video, "-o", out, "-m", model, "-R", "2-4") == 0
    assert _frames(out) == ["clip_000002.png", "clip_000003.png", "clip_000004.png"]


def test_a_stopped_video_leaves_no_video(video, model, registry, tmp_path):
    """Ctrl-C in the middle: the writer is aborted, no video (finished or temporary) is left."""
    from fs_core.config.sections import ConvertOptions
    from fs_core.convert.run import ConvertRequest, convert
    from fs_core.convert.swap import FaceSwapper

    options = ConvertOptions(writer="ffmpeg")
    real = FaceSwapper.from_model_dir(model, options, registry)
    calls = []

    class Interrupted:
        batch_size = 4

        def swap_frames(self, items):
            calls.append(len(items))
            if len(calls) == 3:
                raise KeyboardInterrupt
            return real.swap_frames(items)

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        convert(
            ConvertRequest(video, out),
            options,
            registry,
            swapper_factory=Interrupted,
            show_progress=False,
        )
    assert list(out.iterdir()) == []


def test_a_stopped_image_run_keeps_finished_frames(demo, registry, tmp_path):
    from fs_core.config.sections import ConvertOptions
    from fs_core.convert.run import ConvertRequest, convert

    calls = []

    class Interrupted:
        batch_size = 4

        def swap_frames(self, items):
            calls.append(len(items))
            if len(calls) == 3:  # once the writer has finished a frame or two
                for _ in range(100):
                    if _frames(out):
                        break
                    time.sleep(0.05)
                raise KeyboardInterrupt
            return [frame for frame, _ in items]

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        convert(
            ConvertRequest(demo / "clip", out),
            ConvertOptions(),
            registry,
            swapper_factory=Interrupted,
            show_progress=False,
        )
    written = _frames(out)
    assert 0 < len(written) < FRAMES and written == _frames(demo / "clip")[: len(written)]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


# ------------------------------------------------------------------------------- bad input


def _empty_or_missing(folder: Path) -> bool:
    return not folder.exists() or not any(folder.iterdir())


def test_missing_alignments(demo, model, tmp_path, capsys):
    clip = tmp_path / "clip"
    clip.mkdir()
    shutil.copy(demo / "clip" / "clip_000001.png", clip)
    out = tmp_path / "out"
    assert _convert("-i", clip, "-o", out, "-m", model) == 1
    _one_error_line(capsys, str(clip / "alignments.fsa"), "does not exist")
    assert _empty_or_missing(out)


def test_corrupt_alignments(demo, model, tmp_path, capsys):
    bad = tmp_path / "bad.fsa"
    bad.write_bytes(b"this is not zlib data")
    out = tmp_path / "out"
    assert _convert("-i", demo / "clip", "-o", out, "-m", model, "-al", bad) == 1
    _one_error_line(capsys, str(bad))
    assert _empty_or_missing(out)


def test_unwritable_output(demo, model, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert _convert("-i", demo / "clip", "-o", blocker / "out", "-m", model) == 1
    _one_error_line(capsys, "out")


@pytest.mark.parametrize("ranges", [["5"], ["a-b"]])
def test_bad_frame_range(demo, model, tmp_path, capsys, ranges):
    out = tmp_path / "out"
    assert _convert("-i", demo / "clip", "-o", out, "-m", model, "-R", *ranges) == 1
    _one_error_line(capsys, "frame range")
    assert _empty_or_missing(out)


def test_model_folder_that_fails_to_load(demo, tmp_path, capsys):
    empty = tmp_path / "no_model"
    empty.mkdir()
    out = tmp_path / "out"
    assert _convert("-i", demo / "clip", "-o", out, "-m", empty) == 1
    _one_error_line(capsys, str(empty))
    assert _empty_or_missing(out)


def test_unreadable_frame(demo, model, tmp_path, capsys):
    clip = tmp_path / "clip"
    shutil.copytree(demo / "clip", clip)
    (clip / "clip_000002.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    assert _convert("-i", clip, "-o", out, "-m", model) == 1
    _one_error_line(capsys, str(clip / "clip_000002.png"))
    assert "clip_000002.png" not in _frames(out)


def test_missing_input(model, tmp_path, capsys):
    assert _convert("-i", tmp_path / "nothing", "-o", tmp_path / "out", "-m", model) == 1
    _one_error_line(capsys, str(tmp_path / "nothing"))
