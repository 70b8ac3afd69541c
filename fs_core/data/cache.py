"""Faces decoded and prepared once, at process size, as uint8 arrays.

Decoding a PNG and cropping it costs far more than augmenting it, and the loader shares the same CPU
cores as the train step, so each face is read and prepared once when training starts (in worker
processes for large sets, see :mod:`fs_core.parallel`, else a thread pool) and kept as contiguous
uint8 arrays. When a set would not fit the memory budget, the cache streams instead: it reads and
prepares faces when a batch asks for them, and says so in one line.

*How* a face is read and prepared is injected: ``prepare(path) -> PreparedFace`` (anything with
``image`` (P, P, 3) uint8, ``masks`` (P, P, K) uint8 or None and ``landmarks`` (68, 2) float32 or
None). :func:`default_prepare` builds it from :mod:`fs_core.faces`; tests pass their own.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

import attrs
import numpy as np
from tqdm import tqdm

from fs_core.errors import FsUserError
from fs_core.parallel import map_in_processes, use_processes

PrepareFn = Callable[[str], Any]

#: Each side's cache may take this fraction of the memory available at start; two sides then leave
#: half of it for TensorFlow and the rest of the process.
DEFAULT_MEMORY_FRACTION = 0.25
LANDMARK_COUNT = 68


@attrs.frozen
class PrepareFromFile:
    """``path -> PreparedFace`` using :func:`fs_core.faces.read.read_face` and
    :func:`fs_core.faces.prepare.prepare_face` with ``spec`` (a ``PrepareSpec``). A class rather
    than a closure so that worker processes can be sent it."""

    spec: Any

    def __call__(self, path: str) -> Any:
        from fs_core.faces.prepare import prepare_face  # noqa: PLC0415 (OpenCV: data.cache loads without it)
        from fs_core.faces.read import read_face  # noqa: PLC0415 (OpenCV: data.cache loads without it)

        return prepare_face(read_face(path), self.spec, path)


def default_prepare(spec: Any) -> PrepareFn:
    return PrepareFromFile(spec)


def available_memory() -> int:
    """Bytes of memory the system can still give out (MemAvailable; total memory as a fallback)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def default_memory_budget() -> int:
    return int(available_memory() * DEFAULT_MEMORY_FRACTION)


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


class FaceCache:
    """One side's faces at process size ``size``: in memory, or streamed when over budget.

    ``paths``: the face files (sorted, as the face set lists them). ``prepare``: the injected
    ``path -> PreparedFace``. ``mask_names`` names the K mask channels ``prepare`` returns (every
    face must give the same K). ``source`` (the folder) names the set in messages. The first face is
    prepared at once in both modes, so an unreadable set fails before training starts, and it fixes
    whether the set has landmarks. Errors from ``prepare`` (``FsUserError``) propagate unchanged.
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike],
        size: int,
        prepare: PrepareFn,
        *,
        mask_names: Sequence[str] = (),
        memory_budget: int | None = None,
        workers: int | None = None,
        source: str | os.PathLike | None = None,
        progress: bool = True,
    ) -> None:
        self.paths = [os.fspath(path) for path in paths]
        self.size = int(size)
        self.mask_names = tuple(mask_names)
        self.source = os.fspath(source) if source is not None else None
        self._prepare = prepare
        self._workers = workers or default_workers()
        self._progress = progress
        self._lock = threading.Lock()
        if not self.paths:
            raise FsUserError("no face images to train on", self.source)

        first = self._checked(0)
        self.has_landmarks = first.landmarks is not None
        budget = default_memory_budget() if memory_budget is None else memory_budget
        self.streaming = self.estimated_bytes() > budget
        self._images: np.ndarray | None = None
        self._masks: np.ndarray | None = None
        self._landmarks: np.ndarray | None = None
        if self.streaming:
            print(
                f"{self.source or 'faces'}: {len(self)} faces need about "
                f"{self.estimated_bytes() / 2**30:.1f} GiB, over the {budget / 2**30:.1f} GiB "
                "memory budget: reading them from disk as training goes (slower)",
                file=sys.stderr,
            )
        else:
            self._load_all(first)

    # ------------------------------------------------------------------ facts

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def mask_count(self) -> int:
        return len(self.mask_names)

    def estimated_bytes(self) -> int:
        """Memory the whole set takes cached: images, masks and landmarks."""
        per_face = self.size * self.size * (3 + self.mask_count)
        if self.has_landmarks:
            per_face += LANDMARK_COUNT * 2 * 4
        return per_face * len(self)

    # ------------------------------------------------------------------ reading

    def gather(
        self, indices: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Fresh copies (augmenters write in place) of the faces at ``indices``: images (n, P, P,
        3), masks (n, P, P, K) or None, landmarks (n, 68, 2) float32 or None."""
        indices = np.asarray(indices, np.int64)
        if not self.streaming:
            assert self._images is not None  # loaded in __init__ when not streaming
            return (
                self._images[indices],
                None if self._masks is None else self._masks[indices],
                None if self._landmarks is None else self._landmarks[indices],
            )
        faces = [self._checked(int(index)) for index in indices]
        images = (
            np.stack([face.image for face in faces])
            if faces
            else np.empty((0, self.size, self.size, 3), np.uint8)
        )
        masks = np.stack([face.masks for face in faces]) if self.mask_count and faces else None
        landmarks = (
            np.stack([face.landmarks for face in faces]).astype(np.float32)
            if self.has_landmarks and faces
            else None
        )
        return images, masks, landmarks

    def landmarks_table(self) -> np.ndarray | None:
        """All faces' landmarks (N, 68, 2) float32, or None for a set without them. A streaming
        cache reads every face once for this (only warp-to-landmarks asks) and keeps the small
        table."""
        if not self.has_landmarks:
            return None
        with self._lock:
            if self._landmarks is None:
                table = np.empty((len(self), LANDMARK_COUNT, 2), np.float32)

                def keep(index: int, face: Any) -> None:
                    table[index] = face.landmarks

                self._each_face(range(len(self)), keep, "Reading landmarks")
                self._landmarks = table
            return self._landmarks

    def start(self, order: Iterable[int] | None = None) -> None:
        """Nothing to start: every face is loaded (or streamed) already. The loader calls it on
        any face source (see :class:`fs_core.data.background.BackgroundFaces`)."""

    def resume(self) -> None:
        """Nothing held back (see :meth:`start`)."""

    def close(self) -> None:
        """Nothing to stop (see :meth:`start`)."""

    # ------------------------------------------------------------------ internals

    def _load_all(self, first: Any) -> None:
        count, size = len(self), self.size
        images = self._images = np.empty((count, size, size, 3), np.uint8)
        self._masks = (
            np.empty((count, size, size, self.mask_count), np.uint8) if self.mask_count else None
        )
        self._landmarks = (
            np.empty((count, LANDMARK_COUNT, 2), np.float32) if self.has_landmarks else None
        )

        def store(index: int, face: Any) -> None:
            images[index] = face.image
            if self._masks is not None:
                self._masks[index] = face.masks
            if self._landmarks is not None:
                self._landmarks[index] = face.landmarks

        store(0, first)
        self._each_face(range(1, count), store, "Loading faces")

    def _each_face(self, indices: range, handle: Callable[[int, Any], None], what: str) -> None:
        """Prepare the faces at ``indices`` in a thread pool, passing each to ``handle``; the first
        error stops the rest and is raised as it was."""
        if not len(indices):
            return
        label = f"{what} {os.path.basename(self.source)}" if self.source else what
        bar = tqdm(
            total=len(indices),
            desc=label,
            unit="face",
            file=sys.stderr,
            delay=2.0,
            disable=not self._progress,
            leave=False,
        )
        if use_processes(len(indices)) and isinstance(self._prepare, PrepareFromFile):
            paths = [self.paths[i] for i in indices]
            # header parsing holds the GIL: processes, not threads (fs_core.parallel); closing
            # stops the workers at once when a face fails its check
            with bar, contextlib.closing(map_in_processes(self._prepare, paths, 32)) as faces:
                for index, face in zip(indices, faces):
                    handle(index, self._check(index, face))
                    bar.update()
            return

        def work(index: int) -> None:
            handle(index, self._checked(index))

        with ThreadPoolExecutor(self._workers, thread_name_prefix="fs-cache") as pool, bar:
            futures = [pool.submit(work, index) for index in indices]
            try:
                for future in as_completed(futures):
                    future.result()
                    bar.update()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def _checked(self, index: int) -> Any:
        """``prepare`` one face and check it has the shapes every other face has."""
        return self._check(index, self._prepare(self.paths[index]))

    def _check(self, index: int, face: Any) -> Any:
        return check_face(
            face,
            self.paths[index],
            self.size,
            self.mask_names,
            None if index == 0 else self.has_landmarks,
        )


def check_face(
    face: Any,
    path: str,
    size: int,
    mask_names: tuple[str, ...],
    has_landmarks: bool | None,
) -> Any:
    """``face`` (a prepared face of ``path``) if it has the shapes every face of its set has:
    image uint8 (size, size, 3), one mask channel per name of ``mask_names``, and landmarks when
    ``has_landmarks`` (None: the set's first face, which decides it) says the set has them."""
    image = np.asarray(face.image)
    if image.shape != (size, size, 3) or image.dtype != np.uint8:
        raise ValueError(
            f"prepare({path!r}) gave an image {image.dtype} {image.shape}, "
            f"expected uint8 {(size, size, 3)}"
        )
    if mask_names:
        masks = face.masks
        if masks is None or masks.shape != (size, size, len(mask_names)):
            got = "none" if masks is None else f"shape {masks.shape}"
            raise FsUserError(
                f"the face has masks {got}, expected {len(mask_names)} ({', '.join(mask_names)})",
                path,
            )
    if has_landmarks is not None and (face.landmarks is not None) != has_landmarks:
        this, first = ("has", "does not") if face.landmarks is not None else ("has no", "does")
        raise FsUserError(
            f"this face {this} landmarks but the first face of its set {first}; "
            "do not mix plain face crops with extracted faces",
            path,
        )
    return face
