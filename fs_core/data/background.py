"""One side's faces, made ready while training runs: from the face cache, or prepared once.

Preparing 10,000 faces takes most of half a minute on a 2-core machine, and training needs 16 of
them for its first step. So training starts at once, and the faces are made ready in the
background *in the order the batches will ask for them*: :meth:`BackgroundFaces.start` is given
the loader's draw order (the rest of the sampler's current epoch, then the others), and
:meth:`~BackgroundFaces.gather` waits until every face it is asked for is ready. The batches are
therefore exactly the batches of a run that loaded every face first (the same seed gives the same
batches), a batch never holds a face that is not loaded yet, and the first one waits only for its
own faces. Until training's first step is done (it traces the model: seconds of Python that
preparing faces beside it would slow down) only the first :data:`HEAD` faces are made ready
(:meth:`BackgroundFaces.resume`). Preparing runs far ahead of training (hundreds of faces a second
against tens), so after the first batch training does not wait.

A face is made ready in one of two ways:

* *from the face cache* (:mod:`fs_core.data.store`): its file is read and hashed, and the row the
  cache holds for the digest its name had is used only if the bytes still have that digest; the
  row is checked against its CRC and copied (a damaged row, or a changed file, is prepared again);
* *prepared*: :class:`LoadFace` reads the file once, hashes it, parses its header once, checks it
  against the face set's kind (the set's facts come from headers read before, see
  :mod:`fs_core.data.scan`: a face without a header among extracted faces is left out, a face of
  another kind stops training naming it) and prepares it; in worker processes for large sets
  (:mod:`fs_core.parallel`).

A face that cannot be read stops training with the one-line error that names it, as the check
before training did. When every face is ready the face cache is written; when training stops
first, the faces prepared by then are added to it. The next run over the same files starts from
there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import attrs
import numpy as np

from fs_core.data.cache import (
    LANDMARK_COUNT,
    FaceCache,
    check_face,
    default_memory_budget,
    default_prepare,
)
from fs_core.data.store import FaceStore, PreparedRows, StoredIndex, file_digest
from fs_core.errors import FsUserError
from fs_core.faces.faceset import FaceHeader, header_from_metadata, index_faceset, is_png
from fs_core.faces.pngmeta import faceswap_metadata_from_bytes
from fs_core.faces.prepare import prepare_face
from fs_core.faces.read import face_from_bytes
from fs_core.parallel import use_processes, worker_count, worker_pool

#: sets this large are made ready while training runs; smaller ones before it starts
LOAD_WHILE_TRAINING_MIN = 1000
#: faces made ready before training's first step is done (:meth:`BackgroundFaces.resume`): more
#: than the batches the loader builds ahead at start draw
HEAD = 256
#: faces copied from the face cache at a time (the first chunk holds the first batches' faces)
CACHE_CHUNK = 64
#: faces a worker process is handed at a time: small, so the first batch's faces come back soon
CHUNK = 8
#: how much lower the preparing processes' CPU priority is: training (tracing its step first)
#: goes first, and they take what it leaves; they still prepare faces far faster than it uses them
NICE = 5
#: landmarks given to faces that are not trained on, so no nearest-face search picks them
_FAR = 1e9
_log = logging.getLogger("fs.data")


class LoadedFace(NamedTuple):
    """What :class:`LoadFace` found: the file's ``digest`` and ``header``, and its prepared
    ``face``, or None when the face is left out (no faceswap header in a folder of extracted
    faces)."""

    digest: str
    header: FaceHeader
    face: Any


@attrs.frozen
class LoadFace:
    """``path -> LoadedFace`` for a face set of kind ``extracted`` (faces with a faceswap header)
    cropped as ``centering`` says. A class rather than a closure so worker processes can be sent
    it."""

    spec: Any
    extracted: bool
    centering: str | None = None
    #: the set's landmark point counts (68, 98, 4): 4-point faces may not join the others
    points: frozenset = frozenset()

    def __call__(self, path: str) -> LoadedFace:
        return self.from_bytes(_read(path), path)

    def from_bytes(self, data: bytes, path: str) -> LoadedFace:
        """:meth:`__call__` for a file already read."""
        digest = file_digest(data)
        metadata = (faceswap_metadata_from_bytes(data, path) or {}) if is_png(data, path) else {}
        header = header_from_metadata(metadata, path)
        if self.extracted and not header.extracted:
            return LoadedFace(digest, header, None)
        self._check_kind(header, path)
        return LoadedFace(
            digest, header, prepare_face(face_from_bytes(data, path, metadata), self.spec, path)
        )

    def _check_kind(self, header: FaceHeader, path: str) -> None:
        if header.extracted and not self.extracted:
            raise FsUserError(
                "this face has a faceswap header (an extracted face) but the other faces of "
                "its folder are plain crops: keep one kind of face per folder",
                path,
            )
        if self.extracted and self.centering and header.centering != self.centering:
            raise FsUserError(
                f"this face is cropped {_cropped(header.centering)} but the other faces of its "
                f"folder are cropped {_cropped(self.centering)}, which is framed differently: "
                "keep one kind per folder (or re-extract the old faces)",
                path,
            )
        if self.extracted and self.points and (header.points == 4) != (4 in self.points):
            kinds = ("4-point landmarks", "facial landmarks (68 or 98 points)")
            this, others = kinds if header.points == 4 else kinds[::-1]
            raise FsUserError(
                f"this face has {this} but the other faces of its folder have {others}: keep "
                "one kind per folder",
                path,
            )


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as err:
        raise FsUserError(f"cannot read the file: {err.strerror or err}", path) from err


def _cropped(centering: str) -> str:
    if centering == "legacy":
        return "legacy-centred (extracted before faceswap 2.0)"
    return f"{centering}-centred"


class BackgroundFaces:
    """One side's faces (``faces``: a :class:`~fs_core.faces.faceset.FaceSet`, usually a
    :class:`~fs_core.data.scan.ScannedFaceSet`) prepared as ``spec`` says, made ready in the
    background (see the module docstring); read like :class:`~fs_core.data.cache.FaceCache`.

    ``store``: the folder's face cache (None: off). ``load``: ``path -> LoadedFace`` (default
    :class:`LoadFace`; tests pass their own). ``processes``: whether faces are prepared in worker
    processes (default: for sets of :data:`fs_core.parallel.PROCESS_MIN_ITEMS` or more), and
    ``workers`` how many (default: one per core).
    The first face is read at once, so a set that cannot be read at all fails before training.
    """

    streaming = False

    def __init__(
        self,
        faces: Any,
        spec: Any,
        *,
        store: FaceStore | None = None,
        load: Callable[[str], LoadedFace] | None = None,
        processes: bool | None = None,
        workers: int | None = None,
    ) -> None:
        self.paths = [os.fspath(path) for path in faces.paths]
        self.size = int(spec.size)
        self.mask_names = tuple(spec.mask_names)
        self.source = os.fspath(faces.folder)
        if not self.paths:
            raise FsUserError("no face images to train on", self.source)
        count = len(self.paths)
        self._spec = spec
        self._store = store
        self._faces = faces
        self._load = load or LoadFace(
            spec,
            bool(faces.has_landmarks),
            faces.centering,
            frozenset(getattr(faces, "landmark_points", ())),
        )
        self._processes = processes
        self._workers = workers
        # the digest each face's content is expected to have ("" unknown), and the one it was
        # found to have when it was made ready
        self._expected: list[str] = list(getattr(faces, "digests", ())) or [""] * count
        self._digests: list[str | None] = [None] * count
        self._headers: dict[str, FaceHeader] = dict(getattr(faces, "headers", {}) or {})
        self._stored: PreparedRows | None = None
        if store is not None and any(self._expected):
            self._stored = store.read_rows(spec, self.size, self.mask_count)
        rows = self._stored.rows if self._stored is not None else {}
        self._rows = [rows.get(digest) if digest else None for digest in self._expected]
        #: faces expected from the face cache (by their files' names); ``copied``: those that were
        self.from_cache = sum(row is not None for row in self._rows)
        self.copied = 0
        self._damaged = 0
        self._ready = np.zeros(count, bool)
        self._skipped = np.zeros(count, bool)
        self._head = np.zeros(count, bool)  # made ready before training's first step is done
        self._resumed = threading.Event()
        self._condition = threading.Condition()
        self._error: BaseException | None = None
        self._stopping = False
        self._persisted = False
        self._thread: threading.Thread | None = None
        self._prepared = 0
        self._started_at = 0.0
        self.has_landmarks = False
        self._first_face()

    # ------------------------------------------------------------------ facts

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def mask_count(self) -> int:
        return len(self.mask_names)

    @property
    def loaded(self) -> bool:
        """Whether every face is ready (or left out)."""
        with self._condition:
            return bool((self._ready | self._skipped).all())

    def estimated_bytes(self) -> int:
        return estimated_bytes(len(self), self.size, self.mask_count, self.has_landmarks)

    # ------------------------------------------------------------------ set-up

    def _first_face(self) -> None:
        """Decide whether the set has landmarks, as :class:`~fs_core.data.cache.FaceCache` does:
        from the face cache when it holds faces of the set, else from the first face, read now (so
        a set that cannot be read fails before training), and make the arrays."""
        if self._stored is not None and any(row is not None for row in self._rows):
            self.has_landmarks = self._stored.landmarks is not None
            self._allocate()
            return
        for index, path in enumerate(self.paths):
            loaded = self._load(path)
            if loaded.face is None:
                self._skip(index, loaded)
                continue
            face = check_face(loaded.face, path, self.size, self.mask_names, None)
            self.has_landmarks = face.landmarks is not None
            self._allocate()
            self._keep(index, loaded)
            return
        raise FsUserError("none of the images has a faceswap header", self.source)

    def _allocate(self) -> None:
        count, size = len(self), self.size
        self._images = np.empty((count, size, size, 3), np.uint8)
        self._masks = (
            np.empty((count, size, size, self.mask_count), np.uint8) if self.mask_count else None
        )
        self._landmarks = (
            np.full((count, LANDMARK_COUNT, 2), _FAR, np.float32) if self.has_landmarks else None
        )

    def describe(self, while_training: bool) -> str:
        """The start-up line: how many faces, how many from the face cache, how many to prepare."""
        count, cached = len(self), self.from_cache
        name = os.path.basename(self.source) or self.source
        where = "the face cache is off" if self._store is None else f"{cached} from the face cache"
        todo = count - cached
        when = " while training runs" if while_training else ""
        then = f", {todo} to prepare{when}" if todo and self._store is not None else ""
        return f"Faces {name}: {count} ({where}{then})"

    # ------------------------------------------------------------------ making faces ready

    def start(self, order: Iterable[int] | None = None) -> None:
        """Make the faces ready in ``order`` (every index once; default: as listed), in a
        background thread. Only the first call counts."""
        with self._condition:
            if self._thread is not None or self._stopping:
                return
            wanted = np.arange(len(self)) if order is None else np.asarray(list(order), np.int64)
            self._started_at = time.perf_counter()
            self._thread = threading.Thread(
                target=self._run, args=(wanted,), name="fs-faces", daemon=True
            )
            self._thread.start()

    def _run(self, order: np.ndarray) -> None:
        todo = [int(i) for i in order if not (self._ready[i] or self._skipped[i])]
        self._head[todo[:HEAD]] = True
        cached = [i for i in todo if self._rows[i] is not None]
        files = [i for i in todo if self._rows[i] is None]
        helper = None
        try:
            if cached:
                helper = threading.Thread(
                    target=self._guarded,
                    args=(self._from_cache, cached),
                    name="fs-faces-cache",
                    daemon=True,
                )
                helper.start()
            self._prepare(files)
            if helper is not None:
                helper.join()
            if bool((self._ready | self._skipped).all()):  # else close() writes what is ready
                self._finish()
        except BaseException as error:  # handed to the batches that wait
            self._fail(error)
        finally:
            if helper is not None:
                helper.join()

    def _guarded(self, work: Callable[[list[int]], None], indices: list[int]) -> None:
        try:
            work(indices)
        except BaseException as error:
            self._fail(error)

    def _fail(self, error: BaseException) -> None:
        with self._condition:
            if self._error is None and not self._stopping:
                self._error = error
            self._stopping = True
            self._condition.notify_all()

    def _from_cache(self, indices: list[int]) -> None:
        """Make the faces at ``indices`` ready from the face cache, a chunk at a time: each file is
        read and hashed, and its row is used only if the bytes still have the row's digest (and
        the row its CRC); a face whose file changed, or whose row is damaged, is prepared again."""
        assert self._stored is not None
        head = [i for i in indices if self._head[i]]
        ordered = head + [i for i in indices if not self._head[i]]
        for start in range(0, len(ordered), CACHE_CHUNK):
            if start >= len(head) and not self._after_first_step():
                return
            if self._stopping:
                return
            unchanged, changed = [], []
            for index in ordered[start : start + CACHE_CHUNK]:
                data = _read(self.paths[index])
                if file_digest(data) == self._expected[index]:
                    unchanged.append(index)
                else:
                    changed.append((index, data))
            for index in self._copy_rows(np.asarray(unchanged, np.int64)):
                changed.append((index, _read(self.paths[index])))
            for index, data in changed:
                self._keep(index, self._load_bytes(index, data))

    def _copy_rows(self, indices: np.ndarray) -> list[int]:
        """Copy the cached rows of the faces at ``indices`` (whose files have the rows' digests)
        into place; returns the faces whose rows are damaged (said once per set)."""
        assert self._stored is not None
        rows = [self._rows[i] for i in indices]
        images, masks, landmarks, good = self._stored.verified(rows)
        ready = indices[good]
        self._images[ready] = images[good]
        if self._masks is not None:
            self._masks[ready] = masks[good]
        if self._landmarks is not None:
            self._landmarks[ready] = landmarks[good]
        with self._condition:
            for index in ready:
                self._digests[index] = self._expected[index]
            self._ready[ready] = True
            self.copied += len(ready)
            self._condition.notify_all()
        damaged = [int(i) for i in indices[~good]]
        if damaged and not self._damaged:
            _log.warning(
                "%s: faces in the face cache are damaged; preparing them again", self.source
            )
        self._damaged += len(damaged)
        return damaged

    def _load_bytes(self, index: int, data: bytes) -> LoadedFace:
        if isinstance(self._load, LoadFace):
            return self._load.from_bytes(data, self.paths[index])
        return self._load(self.paths[index])

    def _prepare(self, indices: list[int], processes: bool | None = None) -> None:
        """Prepare the faces at ``indices``: those of the head first, the rest once training's
        first step is done (see :meth:`resume`)."""
        if not indices:
            return
        head = [i for i in indices if self._head[i]]
        parts = [head, [i for i in indices if not self._head[i]]]
        parallel = self._processes if processes is None else processes
        if parallel is None:
            parallel = use_processes(len(indices)) and isinstance(self._load, LoadFace)
        if not parallel:
            for number, part in enumerate(parts):
                if number and part and not self._after_first_step():
                    return
                for index in part:
                    if self._stopping:
                        return
                    self._keep(index, self._load(self.paths[index]))
            return
        with worker_pool(self._workers, NICE) as pool:
            for number, part in enumerate(parts):
                if number and part and not self._after_first_step():
                    return
                results = pool.map(self._load, [self.paths[i] for i in part], chunksize=CHUNK)
                for index, loaded in zip(part, results):
                    if self._stopping:
                        return  # leaving the pool drops the work not started
                    self._keep(index, loaded)

    def _after_first_step(self) -> bool:
        """Wait until :meth:`resume` (or a batch asking for a face beyond the head); False when
        the faces stop being made ready meanwhile."""
        while not self._resumed.wait(0.5):
            if self._stopping:
                return False
        return not self._stopping

    def resume(self) -> None:
        """Training's first step is done: make the rest of the faces ready. Until then only the
        :data:`HEAD` faces the first batches draw are, so the step's tracing (a few seconds of
        Python) does not share the CPU with preparing faces, which would slow it down, the more
        the busier the machine."""
        self._resumed.set()

    def _skip(self, index: int, loaded: LoadedFace) -> None:
        """Mark a face left out (no faceswap header in a folder of extracted faces)."""
        self._digests[index] = loaded.digest
        self._headers[loaded.digest] = loaded.header
        with self._condition:
            self._skipped[index] = True
            self._condition.notify_all()

    def _keep(self, index: int, loaded: LoadedFace) -> None:
        """Put one prepared face in its row, checked as every face of the set is."""
        if loaded.face is None:
            self._skip(index, loaded)
            return
        path = self.paths[index]
        face = check_face(loaded.face, path, self.size, self.mask_names, self.has_landmarks)
        self._digests[index] = loaded.digest
        self._headers[loaded.digest] = loaded.header
        self._images[index] = face.image
        if self._masks is not None:
            self._masks[index] = face.masks
        if self._landmarks is not None:
            self._landmarks[index] = face.landmarks
        with self._condition:
            self._ready[index] = True
            self._prepared += 1
            self._condition.notify_all()

    def _finish(self) -> None:
        """Every face is ready: the checks only the whole set allows, then the face cache."""
        skipped = [self.paths[i] for i in np.flatnonzero(self._skipped)]
        if skipped:
            kept = len(self) - len(skipped)
            named = ", ".join(os.path.basename(p) for p in skipped[:5])
            more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
            if kept < len(skipped) + len(getattr(self._faces, "skipped", ())):
                raise FsUserError(
                    f"the folder mixes {kept} faceswap-extracted faces and {len(skipped)} "
                    f"images without a faceswap header, e.g. {named}: keep one kind of face per "
                    "folder",
                    self.source,
                )
            _log.warning(
                "\n%s: skipping %d image(s) without a faceswap header in a folder of extracted "
                "faces: %s%s",
                self.source,
                len(skipped),
                named,
                more,
            )
        if self._prepared:
            _log.info(
                "\nFaces %s: %d prepared in %.1f s",
                os.path.basename(self.source) or self.source,
                self._prepared,
                time.perf_counter() - self._started_at,
            )
        try:
            self._persist()
        except Exception as error:  # the face cache is a convenience: training goes on without it
            _log.warning("%s: could not write the face cache (%s)", self.source, error)

    # ------------------------------------------------------------------ the face cache

    def _persist(self) -> None:
        """Write to the face cache what this run learnt, once: every face ready, when all are
        (dropping the rows of files no longer there); when training stopped first, the faces
        prepared so far added to what the cache held (nothing when none were prepared: the cache
        already holds at least what this run used)."""
        with self._condition:
            if self._persisted or self._store is None:
                return
            self._persisted = True
            ready = np.flatnonzero(self._ready)
            complete = bool((self._ready | self._skipped).all())
        digests = [str(self._digests[i]) for i in ready]
        stored = self._stored
        if complete:
            kept = set(stored.rows) if stored is not None else set()
            if not self._prepared and not self._damaged and set(digests) == kept:
                return  # the cache holds exactly these faces
            every = len(ready) == len(self)  # no copy then: the arrays are written as they are
            images = self._images if every else self._images[ready]
            masks = self._masks if every or self._masks is None else self._masks[ready]
            landmarks = (
                self._landmarks if every or self._landmarks is None else self._landmarks[ready]
            )
        else:
            if not self._prepared:
                return
            images, masks, landmarks, digests = self._merged(ready, digests)
        self._store.write(self._spec, self._index(), digests, images, masks, landmarks)

    def _merged(
        self, ready: np.ndarray, digests: list[str]
    ) -> tuple[np.ndarray, Any, Any, list[str]]:
        """The faces ready, with the cache's other rows (those that pass their CRC)."""
        ours = set(digests)
        stored = self._stored
        others = stored.rows if stored is not None else {}
        rows = [row for digest, row in others.items() if digest not in ours]
        images = self._images[ready]
        masks = None if self._masks is None else self._masks[ready]
        landmarks = None if self._landmarks is None else self._landmarks[ready]
        if stored is not None and rows:
            more, more_masks, more_landmarks, good = stored.verified(rows)
            images = np.concatenate([images, more[good]])
            if masks is not None:
                masks = np.concatenate([masks, more_masks[good]])
            if landmarks is not None:
                landmarks = np.concatenate([landmarks, more_landmarks[good]])
            inverse = {row: digest for digest, row in others.items()}
            digests = digests + [inverse[row] for row, ok in zip(rows, good) if ok]
        return images, masks, landmarks, digests

    def _index(self) -> StoredIndex:
        """What the face cache's index should say: the headers known, and each file's digest (as
        found this run, else as expected)."""
        names = dict(getattr(self._faces, "names", {}) or {})
        for path, digest in zip(self.paths, self._digests):
            if digest:
                names[os.path.basename(path)] = digest
        return StoredIndex(dict(self._headers), names)

    def finish_loading(self) -> None:
        """Make every face ready now, in this thread's time: errors (a face that cannot be read, a
        folder of mixed kinds) are raised here, and the face cache is written before it returns."""
        self.start()
        self.resume()
        assert self._thread is not None
        self._thread.join()
        with self._condition:
            if self._error is not None:
                raise self._error

    # ------------------------------------------------------------------ reading

    def _wait(self, indices: np.ndarray, resolved: bool) -> None:
        """Block until the faces at ``indices`` are ready (``resolved``: or left out)."""
        if self._thread is None:
            self.start()
        with self._condition:
            while True:
                if self._error is not None:
                    raise self._error
                done = self._ready[indices] | (self._skipped[indices] if resolved else False)
                if bool(np.all(done)):
                    return
                if not resolved and bool(np.any(self._skipped[indices])):
                    raise ValueError("asked for a face that is left out (ask usable() first)")
                if not bool(np.all(done | self._head[indices])):
                    self._resumed.set()  # a face beyond the head is needed now
                if self._stopping:
                    raise RuntimeError(f"the faces of {self.source} are no longer being loaded")
                self._condition.wait(0.5)

    def usable(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Which of the faces at ``indices`` are trained on (not left out); waits until each is
        known."""
        indices = np.asarray(indices, np.int64)
        self._wait(indices, resolved=True)
        return ~self._skipped[indices]

    def gather(
        self, indices: Sequence[int] | np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Copies of the faces at ``indices``, as :meth:`FaceCache.gather`; waits until each is
        ready."""
        indices = np.asarray(indices, np.int64)
        self._wait(indices, resolved=False)
        return (
            self._images[indices],
            None if self._masks is None else self._masks[indices],
            None if self._landmarks is None else self._landmarks[indices],
        )

    def landmarks_table(self) -> np.ndarray | None:
        """All faces' landmarks (N, 68, 2) float32, or None; waits until every face is known (faces
        left out get far-away landmarks, so a nearest-face search never picks them)."""
        if self._landmarks is None:
            return None
        self._wait(np.arange(len(self)), resolved=True)
        return self._landmarks

    # ------------------------------------------------------------------ shutting down

    def close(self) -> None:
        """Stop making faces ready and write the ones ready to the face cache."""
        with self._condition:
            first = not self._stopping
            self._stopping = True
            self._condition.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()
        if not (first or self._error is not None):
            return
        complete = bool((self._ready | self._skipped).all())
        if not complete and self._prepared and self._store is not None:
            _log.info(
                "Faces %s: %d prepared before training stopped; the face cache keeps them",
                os.path.basename(self.source) or self.source,
                self._prepared,
            )
        with contextlib.suppress(Exception):  # never hide why training stopped
            self._persist()


def estimated_bytes(count: int, size: int, mask_count: int, landmarks: bool) -> int:
    """Memory ``count`` prepared faces take: images, masks and landmarks."""
    per_face = size * size * (3 + mask_count) + (LANDMARK_COUNT * 2 * 4 if landmarks else 0)
    return per_face * count


def open_side(
    faces: Any,
    spec: Any,
    *,
    memory_budget: int | None = None,
    workers: int | None = None,
) -> FaceCache | BackgroundFaces:
    """One side's faces for the loader.

    Usually a :class:`BackgroundFaces` with the folder's face cache, made ready while training
    runs for sets of :data:`LOAD_WHILE_TRAINING_MIN` faces or more, and before it starts for
    smaller ones (a second or two; a bad face is then reported before training, as always). A set
    over ``memory_budget`` (default :func:`~fs_core.data.cache.default_memory_budget`) is a
    streaming :class:`~fs_core.data.cache.FaceCache` instead, which reads faces as batches ask for
    them (and needs every header first: a provisional set is indexed in full then). ``workers``:
    how many processes prepare a side's faces (default: half the cores, as both sides are
    prepared at once), or threads read them when streaming."""
    budget = default_memory_budget() if memory_budget is None else memory_budget
    wanted = estimated_bytes(len(faces), spec.size, len(spec.mask_names), faces.has_landmarks)
    if wanted <= budget:
        # both sides are prepared at once: half the cores each
        share = max(1, worker_count() // 2)
        side = BackgroundFaces(
            faces, spec, store=FaceStore.for_folder(faces.folder), workers=workers or share
        )
        while_training = len(side) >= LOAD_WHILE_TRAINING_MIN
        _log.info(side.describe(while_training))
        if not while_training:
            side.finish_loading()
        return side
    if getattr(faces, "provisional", False):
        faces = index_faceset(faces.folder)
    return FaceCache(
        faces.paths,
        spec.size,
        default_prepare(spec),
        mask_names=tuple(spec.mask_names),
        memory_budget=budget,
        workers=workers,
        source=faces.folder,
    )
