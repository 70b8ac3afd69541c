"""The ``fs convert`` driver: which frames, in what order, through which stages.

Everything a user can get wrong is checked before the first frame is written, in the order that
costs least: the input, the alignments file (found where faceswap puts it), the ``-a`` faces
folder, the frame ranges, the output folder (created and probed for writing), the writer's
options, and finally the model. Each problem is one :class:`~fs_core.errors.FsUserError` naming
the file, so a mistake never leaves a half-converted output behind.

Frames are chosen as faceswap chooses them:

* with ``-R``, frames outside every range are skipped, or written unchanged with ``-k``;
* a frame the alignments file does not list is written unchanged (with a notice: the alignments
  may belong to another clip), as is a frame whose face list is empty (or emptied by ``-a``);
* a frame whose output already exists is skipped (the writer's ``done_keys``), so a stopped run
  resumes where it stopped; a video writer reports none, so a video is always redone whole.

Three stages overlap, joined by bounded queues so that memory stays flat however long the clip:
a decoding thread reads frames (PNG decoding and video decoding release the GIL), the calling
thread groups consecutive frames until they hold a model batch of faces and swaps them, and one or
more writer threads encode (several for an image writer, one in frame order for a stream
writer). Ctrl-C (or any error) stops all three: the writer is aborted (a video's temporary file is
deleted; finished image frames stay, for the next run to skip) and the exception goes on to the
CLI, which prints one line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import attrs
import numpy as np
from tqdm import tqdm

from fs_core.convert.swap import FaceSwapper, check_landmark_masks, face_scale_matrix
from fs_core.convert.types import SourceInfo
from fs_core.errors import FsUserError
from fs_core.faces.alignments_file import (
    Alignments,
    FrameFace,
    FrameFaces,
    default_alignments_path,
    read_alignments,
)
from fs_core.faces.pngmeta import read_faceswap_metadata
from fs_core.media.frames import Frame, FrameSource

_log = logging.getLogger("fs.convert")
#: frames waiting between two stages (each up to a frame's worth of memory)
QUEUE_FRAMES = 16
#: most frames one swap call gathers while looking for a batch of faces
MAX_GROUP_FRAMES = 64
#: a -a faces folder that covers no more than this share of the frames gets a warning
_SPARSE_FACES = 1 / 3


class Swapper(Protocol):
    """What the driver needs from :class:`fs_core.convert.swap.FaceSwapper` (a test can pass a
    stand-in): ``swap_frames`` turns (frame, faces) pairs into swapped frames."""

    def swap_frames(self, items: Sequence[tuple[np.ndarray, Sequence[FrameFace]]]) -> list[Any]: ...


@attrs.frozen
class ConvertRequest:
    """What ``fs convert`` was asked to do (the command line, minus the plugin options)."""

    input: Path
    output: Path
    model_dir: Path | None = None
    alignments: Path | None = None
    aligned_dir: Path | None = None
    jobs: int = 0


@attrs.frozen
class ConvertResult:
    """What a run did, for the closing line and for tests."""

    swapped: int = 0
    unchanged: int = 0
    skipped_done: int = 0
    skipped_range: int = 0
    not_listed: int = 0
    seconds: float = 0.0
    outputs: tuple[Path, ...] = ()

    @property
    def written(self) -> int:
        return self.swapped + self.unchanged


# ---------------------------------------------------------------------------------- inputs


def alignments_path(request: ConvertRequest) -> Path:
    """The alignments file as faceswap finds it: ``-p`` as given but always with the ``.fsa``
    extension (a ``.json`` file is faceswap's retired format), else the default location next to
    the input."""
    if request.alignments is None:
        return default_alignments_path(request.input)
    path = Path(request.alignments)
    if path.suffix.lower() == ".json":
        raise FsUserError(
            "JSON alignments are faceswap's retired format; convert them to .fsa with "
            "faceswap's alignments tool",
            path,
        )
    return path if path.suffix == ".fsa" else path.with_suffix(".fsa")


def parse_frame_ranges(text: str | Sequence[str]) -> list[tuple[int, int]]:
    """``"10-20 40-50"`` (or a list of such) as inclusive (start, end) pairs; a range without
    ``-``, or with bounds that are not whole numbers, is an error."""
    items = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    ranges = []
    for item in items:
        start, sep, end = item.strip().partition("-")
        if not sep:
            raise FsUserError(
                f"frame range {item!r} has no '-': give ranges as START-END (e.g. 10-20)"
            )
        try:
            low, high = int(start), int(end)
        except ValueError:
            raise FsUserError(
                f"frame range {item!r} is not START-END with whole numbers (e.g. 10-20)"
            ) from None
        ranges.append((low, high))
    return ranges


def range_filter(
    ranges: Sequence[tuple[int, int]], numbers: Sequence[int | None], source: Path
) -> Callable[[int | None], bool]:
    """A test of frame numbers against ``ranges``, each bound clamped to the input's lowest and
    highest frame number (as faceswap clamps them)."""
    known = [number for number in numbers if number is not None]
    if len(known) != len(numbers):
        raise FsUserError(
            "frame ranges need frame numbers: some frame file names do not end in digits", source
        )
    low, high = min(known), max(known)
    clamped = [(max(low, min(a, high)), max(low, min(b, high))) for a, b in ranges]
    return lambda number: number is not None and any(a <= number <= b for a, b in clamped)


def aligned_faces(folder: Path) -> dict[str, set[int]] | None:
    """The faces of a ``-a`` folder: frame key -> face indices, from each PNG's faceswap header
    (``source_filename``, ``face_index``). None when the folder does not exist (faceswap then
    warns and swaps every face); an error when no face in it has a header."""
    if not folder.is_dir():
        print(
            f"warning: {folder}: the -a folder does not exist; swapping every face", file=sys.stderr
        )
        return None
    accepted: dict[str, set[int]] = {}
    skipped = 0
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() != ".png":
            continue
        try:
            header = read_faceswap_metadata(path)
        except FsUserError:
            header = None
        source = header.get("source") if isinstance(header, dict) else None
        if not isinstance(source, dict):
            skipped += 1
            continue
        name, index = source.get("source_filename"), source.get("face_index")
        if isinstance(name, str) and isinstance(index, int):
            accepted.setdefault(name, set()).add(index)
        else:
            skipped += 1
    if not accepted:
        raise FsUserError(
            "no face in the -a folder has a faceswap header (source frame and face index); "
            "give the folder of faces faceswap extracted",
            folder,
        )
    if skipped:
        print(
            f"warning: {folder}: {skipped} images without a faceswap header ignored",
            file=sys.stderr,
        )
    return accepted


def filter_faces(
    alignments: Alignments, accepted: Mapping[str, set[int]] | None
) -> dict[str, tuple[FrameFace, ...]]:
    """Each listed frame's faces, keeping only those ``accepted`` lists (all when None)."""
    frames: dict[str, tuple[FrameFace, ...]] = {}
    for key, entry in alignments.frames.items():
        faces: tuple[FrameFace, ...] = entry.faces
        if accepted is not None:
            keep = accepted.get(key, set())
            faces = tuple(face for index, face in enumerate(faces) if index in keep)
        frames[key] = faces
    return frames


def prepare_output(output: Path, source: Path) -> None:
    """Create the output folder and prove it can be written, before anything else is done."""
    if output.exists() and not output.is_dir():
        raise FsUserError("the output is a file, not a folder", output)
    with contextlib.suppress(OSError, ValueError):
        if output.resolve() == source.resolve():
            raise FsUserError("the output folder is the input folder; choose another", output)
    try:
        output.mkdir(parents=True, exist_ok=True)
        probe = output / f".fs-convert-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise FsUserError(
            f"cannot write to the output folder: {error.strerror or error}", output
        ) from None


# ---------------------------------------------------------------------------------- plan


@attrs.frozen
class _Job:
    """One frame's fate: swap its ``faces``, write it unchanged, or skip it."""

    index: int
    key: str
    action: str  # "swap" | "unchanged" | "skip"
    faces: tuple[FrameFace, ...] = ()


def plan_frames(
    keys: Iterable[tuple[int, str, int | None]],
    faces: Mapping[str, tuple[FrameFace, ...]],
    in_range: Callable[[int | None], bool] | None,
    keep_unchanged: bool,
    done: set[str],
) -> tuple[list[_Job], dict[str, int]]:
    """What happens to each frame, and the counts for the closing line."""
    jobs = []
    counts = {"skipped_done": 0, "skipped_range": 0, "not_listed": 0}
    for index, key, number in keys:
        frame_faces: tuple[FrameFace, ...] = ()
        if in_range is not None and not in_range(number):
            if not keep_unchanged:
                counts["skipped_range"] += 1
                jobs.append(_Job(index, key, "skip"))
                continue
            action = "unchanged"
        elif key not in faces:
            counts["not_listed"] += 1
            action = "unchanged"
        else:
            frame_faces = faces[key]
            action = "swap" if frame_faces else "unchanged"
        if key in done:
            counts["skipped_done"] += 1
            jobs.append(_Job(index, key, "skip"))
            continue
        jobs.append(_Job(index, key, action, frame_faces))
    return jobs, counts


# ---------------------------------------------------------------------------------- pipeline


class _Stop(Exception):
    """Another stage failed or the user pressed Ctrl-C: leave quietly."""


class _Pipeline:
    """The three stages and what they share: the stop flag and the first error."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.lock = threading.Lock()

    def fail(self, error: BaseException) -> None:
        with self.lock:
            if self.error is None:
                self.error = error
        self.stop.set()

    def put(self, channel: queue.Queue, item: Any) -> None:
        while not self.stop.is_set():
            try:
                channel.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stop

    def get(self, channel: queue.Queue) -> Any:
        while not self.stop.is_set():
            try:
                return channel.get(timeout=0.1)
            except queue.Empty:
                continue
        raise _Stop


_END = object()


class _Steps:
    """How the pipeline drives a swapper. :class:`fs_core.convert.swap.FaceSwapper` has separate
    steps, so the face cutting runs in the decoding thread, the model in the calling thread and
    the masking, colour matching and warping back in a pool of threads (it is thread-safe), all
    overlapping; a swapper with only ``swap_frames`` (a test's stand-in) runs whole groups in
    the calling thread."""

    def __init__(self, swapper: Any) -> None:
        self.swapper = swapper
        self.staged = all(
            callable(getattr(swapper, name, None)) for name in ("prepare", "predict", "patch")
        )

    def prepare(self, job: _Job, image: np.ndarray) -> Any:
        """Decoding thread: check and cut the frame's faces (staged swappers)."""
        if not self.staged:
            return image
        if job.faces:
            check = getattr(self.swapper, "check_faces", None)
            if check is not None:
                check(job.key, image.shape, job.faces)
        return self.swapper.prepare(image, job.faces)

    def predict(self, group: list[tuple[_Job, Any]], patches: bool) -> list[Any]:
        """Calling thread: the model for a group; returns each frame's work for the pool."""
        if self.staged:
            self.swapper.predict([prepared for _, prepared in group])
            return [prepared for _, prepared in group]
        return [result for _, result in _swap_group(self.swapper, group, patches)]

    def finish(self, job: _Job, work: Any, patches: bool) -> Any:
        """Pool thread: the swapped (or unchanged, output-scaled) frame, or the face patches."""
        if not self.staged:
            return work
        if patches:
            return _face_patches(self.swapper, work)
        return self.swapper.patch(work)


def _face_patches(swapper: Any, work: Any) -> tuple[tuple[int, int], list[Any], int]:
    """What the patch writer takes: (frame width, height), each face's 4-channel patch with the
    matrix from the frame into it, and the patch size."""
    size = int(swapper.spec.output_size)
    scale = float(getattr(swapper.options, "face_scale", 0.0))
    patches = [
        (
            swapper.adjusted_face(cut, face, learned),
            face_scale_matrix(cut.matrix, size, scale),
        )
        for cut, face, learned in zip(work.cuts, work.faces, work.learned)
    ]
    frame = work.frame
    return (frame.shape[1], frame.shape[0]), patches, size


def _decode(
    pipe: _Pipeline,
    frames: Iterator[Frame],
    jobs: Mapping[int, _Job],
    steps: _Steps,
    out: queue.Queue,
) -> None:
    try:
        for frame in frames:
            job = jobs.get(frame.index)
            if job is None or job.action == "skip":
                continue
            if frame.image is None:  # pragma: no cover - wanted frames are always decoded
                raise RuntimeError(f"frame {frame.key} was not decoded")
            pipe.put(out, (job, steps.prepare(job, frame.image)))
        pipe.put(out, _END)
    except _Stop:
        pass
    except BaseException as error:
        pipe.fail(error)


def _collect(
    pipe: _Pipeline, writer: Any, channel: queue.Queue, done: Callable[[str], None]
) -> None:
    """The frames' results in order: a stream writer writes them here (one thread, frame
    order); an image writer has already written them in the pool."""
    try:
        patches = bool(getattr(writer, "wants_patches", False))
        while True:
            item = pipe.get(channel)
            if item is _END:
                return
            job, future = item
            result = future.result()
            if not getattr(writer, "concurrent", False):
                if patches:
                    writer.write_patches(job.index, job.key, *result)
                else:
                    writer.write(job.index, job.key, result)
            done(job.action)
    except _Stop:
        pass
    except BaseException as error:
        pipe.fail(error)


def _swap_group(
    swapper: Any, group: list[tuple[_Job, np.ndarray]], patches: bool
) -> list[tuple[_Job, Any]]:
    """Swap the frames of ``group`` that have faces, in one call (the swapper batches their
    faces across frames); the others pass through as they are."""
    wanted = [(job, image) for job, image in group if job.action == "swap"]
    check = getattr(swapper, "check_faces", None)
    if check is not None:
        for job, image in wanted:
            check(job.key, image.shape, job.faces)
    items = [(image, job.faces) for job, image in wanted]
    if patches:
        results = swapper.swap_patches(items) if items else []
        size = int(swapper.output_size)
        by_job = {
            id(job): ((image.shape[1], image.shape[0]), result, size)
            for (job, image), result in zip(wanted, results)
        }
        return [
            (job, by_job.get(id(job), ((image.shape[1], image.shape[0]), [], size)))
            for job, image in group
        ]
    results = swapper.swap_frames(items) if items else []
    swapped = {id(job): result for (job, _), result in zip(wanted, results)}
    return [(job, swapped.get(id(job), image)) for job, image in group]


def _batch_size(swapper: Any) -> int:
    for name in ("batch_size", "convert_batchsize"):
        value = getattr(swapper, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 16


def _model_stage(
    pipe: _Pipeline,
    decoded: queue.Queue,
    submit: Callable[[_Job, Any], None],
    steps: _Steps,
    batch: int,
    patches: bool,
) -> None:
    """The calling thread: gather consecutive frames until they hold a batch of faces, run the
    model on them, and hand each frame on in order."""
    group: list[tuple[_Job, Any]] = []
    group_faces = 0
    end = False
    while not end:
        item = pipe.get(decoded)
        if item is _END:
            end = True
        else:
            group.append(item)
            group_faces += len(item[0].faces)
        if group and (end or group_faces >= batch or len(group) >= MAX_GROUP_FRAMES):
            for (job, _), work in zip(group, steps.predict(group, patches)):
                submit(job, work)
            group, group_faces = [], 0


def run_pipeline(
    source: FrameSource,
    jobs: Sequence[_Job],
    swapper: Any,
    writer: Any,
    threads: int,
    progress: Callable[[str], None],
) -> None:
    """Decode, swap and write the frames of ``jobs``, the stages overlapping (see the module
    docstring)."""
    active = {job.index: job for job in jobs if job.action != "skip"}
    if not active:
        return
    pipe = _Pipeline()
    steps = _Steps(swapper)
    patches = bool(getattr(writer, "wants_patches", False))
    concurrent = bool(getattr(writer, "concurrent", False))
    decoded: queue.Queue = queue.Queue(QUEUE_FRAMES)
    finished: queue.Queue = queue.Queue(QUEUE_FRAMES + max(1, threads))
    frames = source.frames(wanted=lambda index: index in active, stop=max(active) + 1)
    workers = [
        threading.Thread(target=target, args=args, name=name, daemon=True)
        for target, args, name in (
            (_decode, (pipe, frames, active, steps, decoded), "convert-decode"),
            (_collect, (pipe, writer, finished, progress), "convert-write"),
        )
    ]

    def finish(job: _Job, work: Any) -> Any:
        if pipe.stop.is_set():
            raise _Stop
        result = steps.finish(job, work, patches)
        if concurrent:
            if patches:
                writer.write_patches(job.index, job.key, *result)
            else:
                writer.write(job.index, job.key, result)
            return None
        return result

    pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="convert-patch")
    for worker in workers:
        worker.start()
    try:
        _model_stage(
            pipe,
            decoded,
            lambda job, work: pipe.put(finished, (job, pool.submit(finish, job, work))),
            steps,
            _batch_size(swapper),
            patches,
        )
        pipe.put(finished, _END)
        while workers[1].is_alive() and not pipe.stop.is_set():
            workers[1].join(0.1)
    except _Stop:
        pass
    except BaseException as error:  # Ctrl-C lands here, in the main thread
        pipe.fail(error)
    if pipe.error is not None:
        pipe.stop.set()
    pool.shutdown(wait=True, cancel_futures=True)
    for worker in workers:
        worker.join(5.0)
    if pipe.error is not None:
        raise pipe.error


# ---------------------------------------------------------------------------------- driver


def _select(
    request: ConvertRequest,
    options: Any,
    path: Path,
    keys: Sequence[tuple[int, str, int | None]],
    info: SourceInfo,
) -> tuple[dict[str, tuple[FrameFace, ...]], Callable[[int | None], bool] | None]:
    """The faces of each listed frame (after ``-a``) and the test of ``-R``."""
    alignments = read_alignments(path, video=request.input if info.is_video else None)
    accepted = aligned_faces(request.aligned_dir) if request.aligned_dir is not None else None
    faces = filter_faces(alignments, accepted)
    if accepted is not None:
        covered = sum(1 for _, key, _ in keys if faces.get(key))
        if covered <= len(keys) * _SPARSE_FACES:
            print(
                f"warning: the -a faces cover only {covered} of {len(keys)} frames",
                file=sys.stderr,
            )
    ranges = parse_frame_ranges(getattr(options, "frame_ranges", "") or "")
    in_range = (
        range_filter(ranges, [number for _, _, number in keys], request.input) if ranges else None
    )
    return faces, in_range


def convert(
    request: ConvertRequest,
    options: Any,
    registry: Any,
    swapper_factory: Callable[[], Any] | None = None,
    show_progress: bool = True,
    notify: Callable[[str], None] = print,
    progress: Callable[[int, int], None] | None = None,
) -> ConvertResult:
    """Run ``fs convert``. ``swapper_factory`` makes the swapper once every input has been
    checked (loading a model is the slow part); by default the model of ``request.model_dir``.
    ``progress(done, total)`` hears of every frame written (from a writer thread), and once with
    0 before the model loads, so a watcher knows the total early.
    """
    started = time.perf_counter()
    source = FrameSource(request.input)
    info = source.info
    path = alignments_path(request)
    keys = source.keys()
    faces, in_range = _select(request, options, path, keys, info)

    check_landmark_masks(faces, str(getattr(options, "mask_type", "none")), path)
    keep = bool(getattr(options, "keep_unchanged", False))

    descriptor = _writer_descriptor(registry, options)
    prepare_output(request.output, request.input)
    done = set(descriptor.done_keys(request.output, info, options) or ())
    jobs, counts = plan_frames(keys, faces, in_range, keep, done)
    if counts["not_listed"]:
        notify(
            f"note: {counts['not_listed']} frames are not in {path.name}; they are written "
            "unchanged (are these the right alignments?)"
        )
    if counts["skipped_done"]:
        notify(f"resuming: {counts['skipped_done']} frames already converted are skipped")
    todo = [job for job in jobs if job.action != "skip"]
    if not todo:
        return ConvertResult(
            skipped_done=counts["skipped_done"],
            skipped_range=counts["skipped_range"],
            not_listed=counts["not_listed"],
            seconds=time.perf_counter() - started,
        )

    if progress is not None:
        progress(0, len(todo))
    if swapper_factory is None:
        swapper_factory = _model_swapper(request, options, registry)
    swapper = swapper_factory()
    # a partial selection of a video must not carry the whole video's audio (it would drift)
    writer_info = info
    if info.audio and any(job.action == "skip" for job in jobs):
        writer_info = attrs.evolve(info, audio=False)
    writer = descriptor.open(request.output, writer_info, options)
    tally = {"swap": 0, "unchanged": 0}
    lock = threading.Lock()
    bar = _progress_bar(len(todo), show_progress)

    def one_done(action: str) -> None:
        with lock:
            tally[action] = tally.get(action, 0) + 1
            bar.update(1)
            if progress is not None:
                progress(sum(tally.values()), len(todo))

    threads = request.jobs if request.jobs > 0 else min(4, os.cpu_count() or 1)
    try:
        run_pipeline(source, jobs, swapper, writer, threads, one_done)
    except BaseException:
        with contextlib.suppress(Exception):
            writer.abort()
        bar.close()
        raise
    bar.close()
    writer.close()
    outputs = tuple(path for path in (getattr(writer, "target", None),) if isinstance(path, Path))
    return ConvertResult(
        swapped=tally["swap"],
        unchanged=tally["unchanged"],
        seconds=time.perf_counter() - started,
        outputs=outputs,
        skipped_done=counts["skipped_done"],
        skipped_range=counts["skipped_range"],
        not_listed=counts["not_listed"],
    )


def _writer_descriptor(registry: Any, options: Any) -> Any:
    writers = registry.convert_writers
    name = getattr(options, "writer", "opencv")
    if name not in writers:
        raise FsUserError(
            f"unknown writer {name!r}; installed writers: {', '.join(sorted(writers))}"
        )
    return writers[name]


def _model_swapper(request: ConvertRequest, options: Any, registry: Any) -> Callable[[], Any]:
    def make() -> Any:
        if request.model_dir is None:
            raise FsUserError("no model folder given (-m)")
        return FaceSwapper.from_model_dir(Path(request.model_dir), options, registry)

    return make


def _progress_bar(total: int, enabled: bool) -> Any:
    return tqdm(
        total=total,
        desc="Converting",
        unit="frame",
        file=sys.stderr,
        disable=not (enabled and sys.stderr.isatty()),
        leave=False,
        smoothing=0.1,
    )


__all__ = [
    "ConvertRequest",
    "ConvertResult",
    "FrameFaces",
    "SourceInfo",
    "alignments_path",
    "convert",
    "parse_frame_ranges",
]
