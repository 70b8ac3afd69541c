"""``fs convert`` benchmark (a script, not a test): frames/s of the whole convert of a 1080p clip
against the model's own batch inference speed (faces/s) on the same machine.

The clip is synthetic: the demo clip's frames (one face each, rendered at 256 px faces, 480x360)
scaled by 3 and centred on a 1920x1080 canvas, their landmarks moved with them, and written as an
H.264 mp4 (or PNG frames with ``--input frames``) with its alignments file where faceswap puts it.
The model is freshly built (``--model``, default Original, 64 px): convert's speed does not depend
on what the weights learned.

Two numbers, measured in one process after a warm-up:

* **convert frames/s**: ``fs_core.convert.run.convert`` on the whole clip (decode, crop, model,
  mask, colour, warp back, encode), the model already loaded;
* **model faces/s**: the model alone (the side the convert uses), batches of ``convert_batchsize``
  faces already in memory.

With one face per frame, ratio = convert frames/s / model faces/s is the share of the model's speed
the whole pipeline keeps (1.0: decoding, warping and encoding cost nothing that shows).

    python bench/bench_convert.py [--frames 48] [--writer ffmpeg] [--input video|frames]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

WIDTH, HEIGHT, SCALE = 1920, 1080, 3


def cpu_flags() -> str:
    """The CPU model and the vector extensions that matter for TensorFlow and OpenCV."""
    model, flags = "?", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name") and model == "?":
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")
    return f"{model}, {os.cpu_count()} CPUs, flags: {' '.join(f for f in wanted if f in flags)}"


def make_clip(folder: Path, frames: int, as_video: bool) -> Path:
    """The 1080p clip and its alignments (see the module docstring); returns the input path."""
    import cv2
    import numpy as np

    from fs_core.convert.alignments import face_entry, frame_key_for_video, read_alignments
    from fs_core.convert.alignments import write_alignments as write_fsa
    from fs_core.faces.demo import write_demo_data

    demo = folder / "demo"
    write_demo_data(demo, count=2, size=256)
    clip = demo / "clip"
    alignments = read_alignments(clip / "alignments.fsa")
    names = list(alignments.frames)
    offset = np.array([(WIDTH - 480 * SCALE) / 2, (HEIGHT - 360 * SCALE) / 2], np.float32)

    def big(index: int) -> tuple[np.ndarray, dict]:
        name = names[index % len(names)]
        small = cv2.imread(str(clip / name))
        canvas = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        scaled = cv2.resize(small, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_CUBIC)
        x0, y0 = int(offset[0]), int(offset[1])
        canvas[y0 : y0 + scaled.shape[0], x0 : x0 + scaled.shape[1]] = scaled
        faces = [
            face_entry(face.landmarks * SCALE + offset) for face in alignments.frames[name].faces
        ]
        return canvas, {"faces": faces, "video_meta": {}}

    entries = {}
    if as_video:
        import av

        path = folder / "clip1080.mp4"
        with av.open(str(path), "w") as out:
            stream = out.add_stream("libx264", rate=Fraction(25))
            stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
            stream.options = {"crf": "18", "preset": "ultrafast"}
            for index in range(frames):
                canvas, entry = big(index)
                entries[frame_key_for_video(path, index)] = entry
                for packet in stream.encode(av.VideoFrame.from_ndarray(canvas, format="bgr24")):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
        write_fsa(folder / "clip1080_alignments.fsa", entries)
        return path
    path = folder / "frames1080"
    path.mkdir()
    for index in range(frames):
        canvas, entry = big(index)
        name = f"frame_{index + 1:06d}.png"
        cv2.imwrite(str(path / name), canvas)
        entries[name] = entry
    write_fsa(path / "alignments.fsa", entries)
    return path


def save_model(folder: Path, registry, name: str) -> Path:
    """A freshly built model of plugin ``name``, saved as training leaves its folder."""
    from fs_core.config import load_config
    from fs_core.model.build import build_from_config
    from fs_core.model.state import ModelState
    from fs_core.model.weights import save_weights
    from fs_core.training.model_dir import save_model_files

    descriptor = registry.models[name]
    config = load_config(None, {name: descriptor.config_class})
    built = build_from_config(registry, name, config)
    state = ModelState(
        model=name, iterations=1, config=config.stored_sections(name, descriptor.config_class)
    )
    save_model_files(
        folder, state, lambda path: save_weights(path, built.model, model_name=name, iterations=1)
    )
    return folder


def model_faces_per_second(model_dir: Path, registry, batch: int, seconds: float) -> float:
    """The model alone: batches of ``batch`` faces (already in memory) through the side convert
    uses, for about ``seconds`` after a warm-up."""
    import numpy as np

    from fs_core.convert.swap import side_predictor
    from fs_core.preview.trained import load_trained

    trained = load_trained(model_dir, registry, notify=lambda _: None)
    predict = side_predictor(trained.built, "b")
    size = int(trained.built.input_size)
    data = np.random.default_rng(0).random((batch, size, size, 3), dtype=np.float32)
    for _ in range(3):
        predict(data)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        predict(data)
        count += batch
    return count / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--writer", default="ffmpeg")
    parser.add_argument("--input", choices=("video", "frames"), default="video")
    parser.add_argument("--model", default="original")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--jobs", type=int, default=0)
    args = parser.parse_args()

    import attrs

    from fs_core.config import ConvertOptions
    from fs_core.convert.run import ConvertRequest, convert
    from fs_core.convert.swap import FaceSwapper
    from fs_core.plugin_manager import load_registry

    print(cpu_flags())
    registry = load_registry()
    with tempfile.TemporaryDirectory(prefix="bench_convert_") as tmp:
        folder = Path(tmp)
        began = time.perf_counter()
        source = make_clip(folder, args.frames, args.input == "video")
        model_dir = save_model(folder / "model", registry, args.model)
        print(
            f"setup: {args.frames} frames {WIDTH}x{HEIGHT} ({args.input}), model {args.model} "
            f"in {time.perf_counter() - began:.1f} s"
        )
        options = attrs.evolve(ConvertOptions(), writer=args.writer)
        swapper = FaceSwapper.from_model_dir(
            model_dir, options, registry, batch_size=args.batch_size, notify=lambda _: None
        )
        # warm-up: trace the model for full and partial batches on a short range
        warm = attrs.evolve(options, frame_ranges=f"1-{min(args.frames, args.batch_size + 3)}")
        request = ConvertRequest(source, folder / "warm", jobs=args.jobs)
        convert(
            request, warm, registry, lambda: swapper, show_progress=False, notify=lambda _: None
        )
        load_before = os.getloadavg()
        request = ConvertRequest(source, folder / "out", jobs=args.jobs)
        start = time.perf_counter()
        result = convert(
            request, options, registry, lambda: swapper, show_progress=False, notify=lambda _: None
        )
        elapsed = time.perf_counter() - start
        load_after = os.getloadavg()
        fps = result.written / elapsed
        faces = model_faces_per_second(model_dir, registry, args.batch_size, max(5.0, elapsed / 2))
    print(
        f"convert: {result.written} frames ({result.swapped} swapped) with -w {args.writer} "
        f"in {elapsed:.2f} s = {fps:.2f} frames/s"
    )
    print(f"model only: {faces:.2f} faces/s (batch {args.batch_size})")
    print(f"ratio convert/model: {fps / faces:.2f} (one face per frame)")
    print(f"load average 1 min: {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
