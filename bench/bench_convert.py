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
        [--format png|jpg] [--preset medium] [--profile] [--cprofile FILE]

``--profile`` times each stage of the timed convert (see :class:`StageClock`); ``--cprofile``
writes a cProfile of the calling thread's run (the model stage; the other threads are covered by
``--profile``).
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


class StageClock:
    """Wall and CPU seconds spent in each stage of a convert, from wrappers put around the
    stages' functions for the timed run only.

    Wall time of a stage includes waiting for the GIL and for cores (2 shared cores: threads
    queue for them), CPU time (``time.thread_time``) only the work itself; their difference shows
    contention. Queue waits are split by thread: a stage that waits long for its input is fed too
    slowly, one that waits long to put its output is held up further down.
    """

    def __init__(self) -> None:
        import threading

        self.lock = threading.Lock()
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.undo: list[tuple[object, str, object]] = []

    def add(self, label: str, wall: float, cpu: float) -> None:
        with self.lock:
            self.wall[label] = self.wall.get(label, 0.0) + wall
            self.cpu[label] = self.cpu.get(label, 0.0) + cpu
            self.calls[label] = self.calls.get(label, 0) + 1

    def wrap(self, owner: object, name: str, label: str | None = None) -> None:
        """Time every call of ``owner.name`` (a class or module attribute) as ``label``; the
        label may hold ``{thread}``, replaced by the calling thread's short name."""
        import functools
        import threading

        original = getattr(owner, name)
        text = label or name

        @functools.wraps(original)
        def timed(*args, **kwargs):
            where = threading.current_thread().name.split("_")[0].replace("convert-", "")
            where = "model" if where == "MainThread" else where
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.add(
                    text.format(thread=where),
                    time.perf_counter() - wall,
                    time.thread_time() - cpu,
                )

        self.undo.append((owner, name, original))
        setattr(owner, name, timed)

    def wrap_iterator(self, owner: object, name: str, label: str) -> None:
        """Time each ``next()`` of the iterators ``owner.name`` returns (a frame decoder)."""
        original = getattr(owner, name)
        clock = self

        def timed(*args, **kwargs):
            iterator = original(*args, **kwargs)
            while True:
                wall, cpu = time.perf_counter(), time.thread_time()
                try:
                    item = next(iterator)
                except StopIteration:
                    return
                finally:
                    clock.add(label, time.perf_counter() - wall, time.thread_time() - cpu)
                yield item

        self.undo.append((owner, name, original))
        setattr(owner, name, timed)

    def restore(self) -> None:
        for owner, name, original in reversed(self.undo):
            setattr(owner, name, original)
        self.undo.clear()

    def install(self) -> None:
        """The stages of ``fs convert``: decode (source), prepare/predict/patch (swapper) and
        patch's parts, encode (writers), and the waits between them."""
        from concurrent.futures import Future

        from fs_core.convert import run, swap, writers
        from fs_core.media import frames as source
        from fs_core.media.frames import FrameSource

        self.wrap_iterator(FrameSource, "_video_frames", "decode video")
        self.wrap(source, "read_frame_file", "decode image")
        self.wrap(swap.FaceSwapper, "prepare", "prepare (cut faces)")
        self.wrap(swap.FaceSwapper, "predict", "predict (model)")
        self.wrap(swap.FaceSwapper, "patch", "patch (whole)")
        self.wrap(swap.FaceSwapper, "adjusted_face", "  patch: mask+colour")
        self.wrap(swap, "make_mask", "    mask")
        self.wrap(swap, "warp_faces", "  patch: warp back")
        self.wrap(swap, "composite", "  patch: composite")
        self.wrap(writers.VideoWriter, "write", "encode (video)")
        self.wrap(writers.ImageWriter, "write", "encode+write (image)")
        self.wrap(run._Pipeline, "get", "wait get [{thread}]")
        self.wrap(run._Pipeline, "put", "wait put [{thread}]")
        self.wrap(Future, "result", "wait patch result [{thread}]")

    def report(self, elapsed: float) -> str:
        lines = [f"{'stage':34s} {'wall s':>8s} {'cpu s':>8s} {'calls':>6s} {'ms/call':>8s}"]
        for label in self.wall:
            wall, cpu, calls = self.wall[label], self.cpu[label], self.calls[label]
            lines.append(
                f"{label:34s} {wall:8.2f} {cpu:8.2f} {calls:6d} {1000 * wall / calls:8.1f}"
            )
        lines.append(f"{'(elapsed)':34s} {elapsed:8.2f}")
        return "\n".join(lines)


def make_clip(folder: Path, frames: int, as_video: bool) -> Path:
    """The 1080p clip and its alignments (see the module docstring); returns the input path."""
    import cv2
    import numpy as np

    from fs_core.faces.alignments_file import face_entry, frame_key_for_video, read_alignments
    from fs_core.faces.alignments_file import write_alignments as write_fsa
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
    from fs_core.folder.model_files import save_model_files
    from fs_core.model.build import build_from_config
    from fs_core.model.state import ModelState
    from fs_core.model.weights import save_weights

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
    from fs_core.inference.trained import load_trained

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


def stage_costs(source: Path, swapper, options, folder: Path, writers: list) -> str:
    """Each stage run alone over the whole clip, one after the other: wall and process CPU
    (all threads: OpenCV's, FFmpeg's and TensorFlow's pools included) per frame. On 2 cores the
    CPU a stage needs is what it takes from the model when they overlap, whatever the threads."""
    import attrs

    from fs_core.faces.alignments_file import default_alignments_path, read_alignments
    from fs_core.media.frames import FrameSource

    rows = []

    def timed(label: str, work) -> object:
        start, cpu = time.perf_counter(), os.times()
        value = work()
        used = os.times()
        busy = (used.user - cpu.user) + (used.system - cpu.system)
        rows.append((label, time.perf_counter() - start, busy))
        return value

    frames_in = FrameSource(source)
    alignments = read_alignments(
        default_alignments_path(source), video=source if frames_in.info.is_video else None
    )
    frames = timed("decode", lambda: [frame for frame in frames_in.frames()])
    count = len(frames)
    jobs = timed(
        "prepare (cut faces)",
        lambda: [
            swapper.prepare(frame.image, alignments.frames[frame.key].faces) for frame in frames
        ],
    )
    batch = swapper.batch_size
    timed(
        "predict (model)",
        lambda: [swapper.predict(jobs[i : i + batch]) for i in range(0, count, batch)],
    )
    swapped = timed("patch", lambda: [swapper.patch(job) for job in jobs])
    for name, option in writers:
        settings = attrs.evolve(options, **option)
        out = folder / f"stage_{name.replace(' ', '_')}"
        out.mkdir()

        def encode(settings=settings, out=out) -> None:
            from fs_core.plugin_manager import load_registry

            writer = (
                load_registry().convert_writers[settings.writer].open(out, frames_in.info, settings)
            )
            for index, (frame, image) in enumerate(zip(frames, swapped)):
                writer.write(index, frame.key, image)
            writer.close()

        timed(f"encode {name}", encode)
    lines = [f"{'stage (alone)':28s} {'wall ms/frame':>14s} {'CPU ms/frame':>13s}"]
    for label, wall, busy in rows:
        lines.append(f"{label:28s} {1000 * wall / count:14.1f} {1000 * busy / count:13.1f}")
    return "\n".join(lines)


def timed_convert(args, source, swapper, options, registry, model_dir, folder) -> dict:
    """The timed convert (stage clock or cProfile on when asked), between two measurements of
    the model alone, which are averaged: the load of other work on a shared machine drifts."""
    from fs_core.convert.run import ConvertRequest, convert

    before = model_faces_per_second(model_dir, registry, args.batch_size, 4.0)
    load_before = os.getloadavg()
    clock = StageClock()
    if args.profile:
        clock.install()
    profiler = None
    if args.cprofile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    request = ConvertRequest(source, folder / "out", jobs=args.jobs)
    start, cpu = time.perf_counter(), os.times()
    result = convert(
        request, options, registry, lambda: swapper, show_progress=False, notify=lambda _: None
    )
    elapsed = time.perf_counter() - start
    used = os.times()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.cprofile)
    clock.restore()
    load_after = os.getloadavg()
    after = model_faces_per_second(model_dir, registry, args.batch_size, 4.0)
    return {
        "result": result,
        "elapsed": elapsed,
        "busy": (used.user - cpu.user) + (used.system - cpu.system),
        "clock": clock,
        "before": before,
        "after": after,
        "load_before": load_before,
        "load_after": load_after,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--writer", default="ffmpeg")
    parser.add_argument("--input", choices=("video", "frames"), default="video")
    parser.add_argument("--model", default="original")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--jobs", type=int, default=0)
    parser.add_argument("--format", default="png", help="opencv writer: png, jpg ...")
    parser.add_argument("--preset", default="medium", help="ffmpeg writer: the x264 preset")
    parser.add_argument("--profile", action="store_true", help="time each stage")
    parser.add_argument("--cprofile", type=Path, help="write a cProfile of the calling thread")
    parser.add_argument(
        "--stages", action="store_true", help="also time each stage alone (CPU per frame)"
    )
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
        options = attrs.evolve(
            ConvertOptions(),
            writer=args.writer,
            writer_format=args.format,
            video_preset=args.preset,
        )
        swapper = FaceSwapper.from_model_dir(
            model_dir, options, registry, batch_size=args.batch_size, notify=lambda _: None
        )
        # warm-up: trace the model for full and partial batches on a short range
        warm = attrs.evolve(options, frame_ranges=f"1-{min(args.frames, args.batch_size + 3)}")
        request = ConvertRequest(source, folder / "warm", jobs=args.jobs)
        convert(
            request, warm, registry, lambda: swapper, show_progress=False, notify=lambda _: None
        )
        if args.stages:
            print(
                stage_costs(
                    source,
                    swapper,
                    options,
                    folder,
                    [
                        ("ffmpeg medium", {"writer": "ffmpeg", "video_preset": "medium"}),
                        ("ffmpeg veryfast", {"writer": "ffmpeg", "video_preset": "veryfast"}),
                        ("opencv png", {"writer": "opencv", "writer_format": "png"}),
                        ("opencv jpg", {"writer": "opencv", "writer_format": "jpg"}),
                    ],
                )
            )
        timing = timed_convert(args, source, swapper, options, registry, model_dir, folder)
    result, elapsed, busy = timing["result"], timing["elapsed"], timing["busy"]
    before, after = timing["before"], timing["after"]
    fps = result.written / elapsed
    faces = (before + after) / 2
    what = f"-w {args.writer}" + (
        f" ({args.preset})" if args.writer == "ffmpeg" else f" ({args.format})"
    )
    print(
        f"convert: {result.written} frames ({result.swapped} swapped) with {what} "
        f"in {elapsed:.2f} s = {fps:.2f} frames/s; process CPU {busy:.1f} s "
        f"({busy / elapsed:.2f} cores)"
    )
    if args.profile:
        print(timing["clock"].report(elapsed))
    print(
        f"model only: {faces:.2f} faces/s (batch {args.batch_size}; "
        f"{before:.2f} before, {after:.2f} after)"
    )
    print(f"ratio convert/model: {fps / faces:.2f} (one face per frame)")
    print(
        f"load average 1 min: {timing['load_before'][0]:.2f} before, "
        f"{timing['load_after'][0]:.2f} after"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
