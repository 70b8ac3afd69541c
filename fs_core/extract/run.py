"""``fs extract``: find the faces in a folder of frames or a video, and write them as faceswap
writes them -- aligned face PNGs with faceswap's header in the output folder, and the alignments
file (``.fsa``, version 2.4) beside the frames or the video, which ``fs convert`` and faceswap
read.

One frame at a time: decode (:mod:`fs_core.media.frames`), detect and place 68 landmarks (dlib,
:mod:`fs_core.extract.models`), drop faces outside the size limits, cut the head-centred face
(:func:`fs_core.faces.alignment.extract_face`, faceswap's geometry) and write it with its header
(:mod:`fs_core.faces.header`), with the landmark masks ``-M`` names (``components`` and
``extended`` unless told otherwise) stored in the header and the alignments file as faceswap's
extract stored them (:mod:`fs_core.faces.landmark_store`): faceswap up to 3.0 trains and converts
only with a stored mask. fs, and later faceswap, draw these masks from the landmarks instead and
do not read the stored copies.

Resuming (:mod:`fs_core.extract.existing`): the alignments file is saved every
:data:`SAVE_SECONDS`, on any stop and at the end, always after the faces it lists; running the
same command again skips the frames it holds and does not write again a face already in the
output folder.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from fs_core.errors import FsUserError
from fs_core.extract import existing
from fs_core.extract.identity import IdentityFilter
from fs_core.extract.models import FaceFinder, to_rgb
from fs_core.faces import alignment as al
from fs_core.faces.alignments_file import (
    default_alignments_path,
    frame_key_for_video,
    read_alignments,
    write_alignments,
)
from fs_core.faces.header import face_file_name, face_header, fsa_face
from fs_core.faces.landmark_store import landmark_mask_entries
from fs_core.faces.pngmeta import write_faceswap_png
from fs_core.faces.prepare import LANDMARK_MASKS
from fs_core.faces.read import read_face
from fs_core.media.frames import Frame, FrameSource, frame_number

#: the alignments file is saved at least this often while a run goes on (seconds)
SAVE_SECONDS = 30.0
#: faces are extracted as faceswap extracts them: head-centred, the whole crop
CENTERING = "head"
#: the masks ``-M`` can store with each face (faceswap's landmark maskers); all by default
MASKERS: tuple[str, ...] = LANDMARK_MASKS


def maskers_from_flag(names: Sequence[str] | None) -> tuple[str, ...]:
    """The masks to store for ``-M NAME...``: all of :data:`MASKERS` when the flag is absent,
    none for ``-M none``; a name fs cannot make is refused in one line that lists those it can."""
    if names is None:
        return MASKERS
    lowered = [name.lower() for name in names]
    if lowered == ["none"]:
        return ()
    unknown = [name for name, low in zip(names, lowered, strict=True) if low not in MASKERS]
    if unknown:
        raise FsUserError(
            f"-M/--masker: fs cannot make the mask {', '.join(map(repr, unknown))}; it makes "
            f"{', '.join(MASKERS)} (or -M none for no stored mask)"
        )
    return tuple(dict.fromkeys(lowered))


@attrs.frozen
class ExtractRequest:
    """What to extract (the CLI flags). ``size`` is in pixels; ``min_size``/``max_size`` are
    percentages of the frame's shorter side that the longer edge of the detector's box must
    reach / not pass (0: no limit), as faceswap's ``-m``/``-x`` measure a face."""

    input: Path
    output: Path
    alignments: Path | None = None
    detector: str = "hog"
    upsample: int = 0
    min_size: int = 0
    max_size: int = 0
    size: int = 512
    every: int = 1
    skip_existing: bool = False
    skip_faces: bool = False
    filters: tuple[Path, ...] = ()
    nfilters: tuple[Path, ...] = ()
    threshold: float = 0.6
    maskers: tuple[str, ...] = MASKERS
    progress: bool = True

    def settings(self) -> dict[str, Any]:
        """What the faces depend on: a resumed run must use the same."""
        return {
            "detector": self.detector,
            "upsample": self.upsample,
            "min_size": self.min_size,
            "max_size": self.max_size,
            "size": self.size,
            "every": self.every,
            "filters": sorted(str(path) for path in self.filters),
            "nfilters": sorted(str(path) for path in self.nfilters),
            "threshold": self.threshold,
            "maskers": list(self.maskers),
        }


@attrs.define
class ExtractSummary:
    """What a run did. ``seconds`` holds the time spent per stage (decode, detect, landmarks,
    identity, write), for the benchmark and the closing line."""

    alignments: Path
    frames: int = 0
    processed: int = 0
    skipped: int = 0
    faces: int = 0
    kept_faces: int = 0
    without_faces: int = 0
    unreadable: int = 0
    too_small: int = 0
    too_large: int = 0
    filtered: int = 0
    resumed: bool = False
    #: wall-clock seconds of the frame loop (models loaded, frames listed)
    elapsed: float = 0.0
    seconds: dict[str, float] = attrs.Factory(dict)

    def add_time(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds


def check_request(request: ExtractRequest) -> None:
    """Refuse impossible settings in one line, before anything is read."""
    if request.size < 64:
        raise FsUserError(f"-z/--size must be at least 64 px, got {request.size}")
    if request.every < 1:
        raise FsUserError(f"-N/--extract-every-n must be at least 1, got {request.every}")
    if not 0 <= request.min_size <= 100:
        raise FsUserError(f"-m/--min-size must be 0 (off) to 100 percent, got {request.min_size}")
    if not 0 <= request.max_size <= 500:
        raise FsUserError(f"-x/--max-size must be 0 (off) to 500 percent, got {request.max_size}")
    if request.max_size and request.max_size < request.min_size:
        raise FsUserError(
            f"-x/--max-size ({request.max_size}) is below -m/--min-size ({request.min_size})"
        )
    if not 0 <= request.upsample <= 3:
        raise FsUserError(f"--upsample must be 0 to 3, got {request.upsample}")
    if not 0.0 < request.threshold < 2.0:
        raise FsUserError(f"-l/--ref-threshold must be between 0 and 2, got {request.threshold}")
    maskers_from_flag(request.maskers or ["none"])
    if request.output.exists() and not request.output.is_dir():
        raise FsUserError("the output exists and is not a folder", request.output)
    if request.input.is_dir() and existing.same_path(request.input, request.output):
        raise FsUserError(
            "the output folder is the frames folder (the faces would become frames); "
            "choose another",
            request.output,
        )


class _Run:
    """One extract: the state that the frame loop updates and the alignments file saves."""

    def __init__(self, request: ExtractRequest, source: FrameSource, alignments: Path) -> None:
        self.request = request
        self.source = source
        self.alignments = alignments
        self.entries: dict[str, dict[str, Any]] = {}
        self.keys = [key for _, key, _ in source.keys()]
        self.position = {key: index for index, key in enumerate(self.keys)}
        self.summary = ExtractSummary(alignments, frames=len(self.keys))
        self.dirty = False
        self.saved_at = time.monotonic()
        self.on_disk: dict[str, dict[int, existing.FaceFile]] = {}

    def key_of(self, index: int) -> str:
        if self.source.is_video:
            return frame_key_for_video(self.source.path, index)
        return self.keys[index]

    def _order(self, key: str) -> tuple[int, int, str]:
        if key in self.position:
            return (0, self.position[key], key)
        number = frame_number(key) if self.source.is_video else None
        return (1 if number is None else 0, number or 0, key)

    def save(self) -> None:
        """Write the alignments file (frame order), if anything changed since the last save."""
        if self.dirty:
            ordered = dict(sorted(self.entries.items(), key=lambda item: self._order(item[0])))
            write_alignments(self.alignments, ordered)
            self.dirty = False
        self.saved_at = time.monotonic()

    def maybe_save(self) -> None:
        if time.monotonic() - self.saved_at >= SAVE_SECONDS:
            self.save()


def _earlier(run: _Run, resume: bool) -> set[str]:
    """Load what an earlier run left; return the keys of the frames to skip."""
    request = run.request
    done: set[str] = set()
    if run.alignments.exists():
        if not (resume or request.skip_existing):
            raise FsUserError(
                "the alignments file exists: pass -s to keep it and extract only the frames "
                "it does not list, or move it away to extract afresh",
                run.alignments,
            )
        video = run.source.path if run.source.is_video else None
        stored = read_alignments(run.alignments, video=video)
        for key, record in stored.frames.items():
            run.entries[key] = _with_landmark_masks(
                existing.entry_from_record(record), request.maskers
            )
        done.update(stored.frames)
    run.on_disk = existing.faces_by_frame(request.output)
    if request.skip_faces:  # -e: a frame with a face in the folder is done
        for key, faces in run.on_disk.items():
            if key in run.position and key not in done:
                run.entries[key] = _entry_from_faces(faces)
                run.dirty = True
                done.add(key)
    elif not resume:
        clash = sorted(key for key in run.on_disk if key in run.position and key not in done)
        if clash:
            example = face_file_name(clash[0], min(run.on_disk[clash[0]]))
            raise FsUserError(
                f"the folder already holds faces of frames to extract (e.g. {example}): pass -e "
                "to skip those frames, or choose another output folder",
                request.output,
            )
    return done


def _with_landmark_masks(entry: dict[str, Any], maskers: Sequence[str]) -> dict[str, Any]:
    """``entry`` with its faces' landmark masks put back: reading an alignments file drops them
    (later faceswap ignores them), so a resumed run draws them again from the same landmarks."""
    for face in entry["faces"]:
        masks = landmark_mask_entries(np.asarray(face["landmarks_xy"], np.float32), maskers)
        for name, mask in masks.items():
            matrix = np.asarray(mask["affine_matrix"], np.float64)[:2]
            face["mask"][name] = dict(mask, affine_matrix=matrix.tolist())
    return entry


def _entry_from_faces(faces: Mapping[int, existing.FaceFile]) -> dict[str, Any]:
    """A frame's alignments entry rebuilt from its face PNGs' headers (``-e``)."""
    entry = []
    for index in sorted(faces):
        face = faces[index]
        try:
            image = read_face(face.path).image
        except FsUserError:
            image = None
        entry.append(fsa_face(face.header, image))
    return {"faces": entry, "video_meta": {}}


def _percent(box: tuple[int, int, int, int], image: np.ndarray) -> float:
    """The box's longer edge as a percentage of the frame's shorter side (faceswap's measure)."""
    return 100.0 * max(box[2], box[3]) / min(image.shape[:2])


class _Extractor:
    """Finds, filters, cuts and writes the faces of one frame."""

    def __init__(
        self, request: ExtractRequest, finder: FaceFinder, identity: IdentityFilter | None
    ) -> None:
        self.request = request
        self.finder = finder
        self.identity = identity

    def frame(self, run: _Run, frame: Frame) -> None:
        assert frame.image is not None
        request, summary = self.request, run.summary
        image = frame.image
        start = time.perf_counter()
        rgb = to_rgb(image)
        boxes = self.finder.boxes(rgb)
        summary.add_time("detect", time.perf_counter() - start)
        faces: list[tuple[tuple[int, int, int, int], np.ndarray]] = []
        for box in boxes:
            percent = _percent(box, image)
            if request.min_size and percent < request.min_size:
                summary.too_small += 1
                continue
            if request.max_size and percent > request.max_size:
                summary.too_large += 1
                continue
            start = time.perf_counter()
            landmarks = self.finder.landmarks(rgb, box)
            summary.add_time("landmarks", time.perf_counter() - start)
            faces.append((box, landmarks))
        if self.identity is not None and faces:
            start = time.perf_counter()
            kept = [face for face in faces if self.identity.keep(rgb, face[1])]
            summary.filtered += len(faces) - len(kept)
            faces = kept
            summary.add_time("identity", time.perf_counter() - start)
        start = time.perf_counter()
        entries = [
            self._write(run, frame.key, index, box, points, image)
            for index, (box, points) in enumerate(faces)
        ]
        summary.add_time("write", time.perf_counter() - start)
        run.entries[frame.key] = {"faces": entries, "video_meta": {}}
        run.dirty = True
        summary.processed += 1
        summary.faces += len(entries)
        if not entries:
            summary.without_faces += 1

    def _write(
        self,
        run: _Run,
        key: str,
        index: int,
        box: tuple[int, int, int, int],
        landmarks: np.ndarray,
        image: np.ndarray,
    ) -> dict[str, Any]:
        """Cut face ``index`` of frame ``key`` and write it, unless an earlier run of this
        extract already wrote the same face; return its alignments entry."""
        request = self.request
        dims = (int(image.shape[0]), int(image.shape[1]))
        # crop and draw the masks from the landmarks as stored (float32), as every reader will
        points = np.asarray(np.asarray(landmarks, np.float32), np.float64)
        masks = landmark_mask_entries(points, request.maskers)
        header = face_header(landmarks, box, masks, key, index, dims, run.source.is_video)
        face, _matrix = al.extract_face(image, points, request.size, CENTERING, 1.0)
        earlier = run.on_disk.get(key, {}).get(index)
        same = earlier is not None and np.array_equal(
            np.asarray(earlier.header["alignments"]["landmarks_xy"], np.float32),
            np.asarray(landmarks, np.float32),
        )
        if not same:
            write_faceswap_png(request.output / face_file_name(key, index), face, header)
            run.summary.kept_faces += 1
        return fsa_face(header, face)


def _progress(request: ExtractRequest, total: int) -> Any:
    from tqdm import tqdm  # noqa: PLC0415 (only when a bar is shown)

    return tqdm(
        total=total, unit="frame", disable=not request.progress, dynamic_ncols=True, leave=True
    )


def extract(
    request: ExtractRequest, log: Callable[[str], None] = lambda line: None
) -> ExtractSummary:
    """Run ``request`` (see the module docstring); return what it did. ``log`` receives the
    lines worth telling the user before the frames are read (a resumed run, for instance)."""
    check_request(request)
    finder = FaceFinder(request.detector, request.upsample)
    identity = IdentityFilter.build(finder, request.filters, request.nfilters, request.threshold)
    source = FrameSource(request.input)
    alignments = Path(request.alignments or default_alignments_path(request.input))
    run = _Run(request, source, alignments)
    marker = existing.read_marker(request.output)
    here = existing.Marker(
        str(request.input.resolve()), str(alignments.resolve()), request.settings(), False
    )
    resume = bool(
        marker
        and not marker.complete
        and existing.same_path(marker.input, request.input)
        and existing.same_path(marker.alignments, alignments)
    )
    if resume and marker is not None and dict(marker.settings) != here.settings:
        raise FsUserError(
            "the folder holds an interrupted extract of this input with other settings "
            f"({marker.settings}); run it again with the same flags, or choose another "
            "output folder",
            request.output,
        )
    done = _earlier(run, resume)
    run.summary.resumed = resume
    if resume:
        log(f"continuing an interrupted extract: {len(done)} frames already done")
    try:
        request.output.mkdir(parents=True, exist_ok=True)
        existing.write_marker(request.output, here)
    except OSError as error:
        raise FsUserError(
            f"cannot write the output folder: {error.strerror or error}", request.output
        ) from None
    extractor = _Extractor(request, finder, identity)

    def wanted(index: int) -> bool:
        return index % request.every == 0 and run.key_of(index) not in done

    def unreadable(frame: Frame, error: FsUserError) -> None:
        run.summary.unreadable += 1
        bar.write(f"skipped: {error.one_line()}")
        bar.update(1)

    bar = _progress(request, run.summary.frames)
    began = time.perf_counter()
    try:
        clock = time.perf_counter()
        for frame in source.frames(wanted, unreadable=unreadable):
            run.summary.add_time("decode", time.perf_counter() - clock)
            if frame.image is None:
                if frame.key in done:
                    run.summary.skipped += 1
            else:
                extractor.frame(run, frame)
                run.maybe_save()
            bar.update(1)
            bar.set_postfix(faces=run.summary.faces, refresh=False)
            clock = time.perf_counter()
    finally:
        bar.close()
        run.summary.elapsed = time.perf_counter() - began
        run.save()  # whatever happened, the frames done so far are kept
    existing.write_marker(request.output, attrs.evolve(here, complete=True))
    return run.summary


def stage_shares(summary: ExtractSummary) -> dict[str, float]:
    """Each stage's share of the time the stages took (0-1)."""
    total = sum(summary.seconds.values()) or 1.0
    return {stage: seconds / total for stage, seconds in summary.seconds.items()}


__all__ = ["ExtractRequest", "ExtractSummary", "extract", "stage_shares"]
