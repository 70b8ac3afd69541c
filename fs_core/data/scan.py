"""Start-up scan of a face folder: which faces, and what they provide, without reading them twice.

:func:`fs_core.faces.faceset.index_faceset` parses every face's header before training, and the
face cache then reads and parses every face again: about a third of a cold start with 2 x 10,000
faces. The scan avoids both passes where it can, and runs from the moment ``fs train`` has its
arguments, while TensorFlow is still being imported (:func:`start_scans`: in a worker process for
large folders):

* when the folder's face cache (:mod:`fs_core.data.store`) has an index, the face set is decided
  from the headers the index holds for the files' names (the digest each name's content had when
  the cache last read it), and the few files it does not know by name (up to
  :data:`PARSE_AT_START`) have their headers read now. Nothing is hashed here (hashing 10,000
  files takes about a second, which the first iteration would wait for): each face's content is
  hashed when it is made ready, and a face whose bytes no longer have the expected digest is
  prepared again and checked like a new one, so the set is ``provisional`` in this case too;
* otherwise (a first run, or a folder mostly new) only :data:`SAMPLE` headers spread over the
  folder are parsed, the face set's facts come from them, and the set is marked ``provisional``:
  each remaining face is checked against those facts when it is read for training (see
  :class:`fs_core.data.background.BackgroundFaces`), which parses its header once, in the same
  read that prepares it. A sample that shows a folder of mixed kinds falls back to reading every
  header first, so that folder is treated exactly as before.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import attrs

from fs_core.data.store import FaceStore, StoredIndex, file_digest
from fs_core.errors import FsUserError
from fs_core.faces.faceset import (
    FaceHeader,
    FaceSet,
    faceset_from_headers,
    header_from_bytes,
    index_faceset,
    list_images,
)
from fs_core.parallel import use_processes

#: headers parsed for a provisional face set (spread evenly over the folder)
SAMPLE = 64
#: unknown headers (new or changed files) parsed during the scan; more make the set provisional
PARSE_AT_START = 500


@attrs.frozen
class ScannedFaceSet(FaceSet):
    """A :class:`~fs_core.faces.faceset.FaceSet` from the start-up scan.

    ``digests``: per path, the digest its content is expected to have ("" when not known; empty
    when nothing is known): what the file had when the cache last read it, or what it has now
    when the scan read it. ``headers``: what is known of the headers, by digest; ``names``: file
    name -> expected digest (both for the cache's index). ``provisional``: the set's facts come
    from the headers known, not from every file as it is now, so each face is checked when it is
    read for training (see the module docstring)."""

    digests: tuple[str, ...] = ()
    headers: dict = attrs.field(factory=dict, eq=False, repr=False)
    names: dict = attrs.field(factory=dict, eq=False, repr=False)
    provisional: bool = False


def _read(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as err:
        raise FsUserError(f"cannot read the file: {err.strerror or err}", path) from err


def _spread(count: int, wanted: int) -> list[int]:
    """``wanted`` indices spread evenly over ``range(count)`` (all of them when there are fewer)."""
    if count <= wanted:
        return list(range(count))
    return sorted({int(i * count / wanted) for i in range(wanted)})


def scan_faceset(
    folder: str | os.PathLike, store: FaceStore | None, paths: tuple[Path, ...] | None = None
) -> ScannedFaceSet:
    """The face set of ``folder`` (its images ``paths``, listed here when not given) as the module
    docstring says; errors are those of :func:`~fs_core.faces.faceset.index_faceset`, naming the
    folder or the file."""
    paths = list_images(folder) if paths is None else paths
    index = store.read_index() if store is not None else StoredIndex()
    if index.headers:
        return _from_index(folder, paths, index)
    if len(paths) <= SAMPLE:
        headers = {}
        digests = []
        for path in paths:
            data = _read(path)
            digests.append(file_digest(data))
            headers[digests[-1]] = header_from_bytes(data, path)
        found = faceset_from_headers(folder, paths, [headers[d] for d in digests])
        return _scanned(found, paths, digests, headers, provisional=False)
    sample = [paths[i] for i in _spread(len(paths), SAMPLE)]
    sampled = [header_from_bytes(_read(path), path) for path in sample]
    if len({header.extracted for header in sampled}) > 1:
        # a folder of mixed kinds: decided from every header, as always
        return _scanned(index_faceset(folder), paths, [], {}, provisional=False)
    found = faceset_from_headers(folder, sample, sampled)
    return ScannedFaceSet(
        **{**attrs.asdict(found, recurse=False), "paths": paths}, provisional=True
    )


def _from_index(
    folder: str | os.PathLike, paths: tuple[Path, ...], index: StoredIndex
) -> ScannedFaceSet:
    """The face set as the cache last saw the files (by name; nothing is hashed here): each
    face's expected digest, and the headers known. A file the index does not know by name has its
    header read now (up to :data:`PARSE_AT_START` of them; the rest are checked as they are read
    for training)."""
    expected: list[str] = []
    headers: dict[str, FaceHeader] = {}
    parsed = 0
    for path in paths:
        digest = index.names.get(path.name, "")
        if digest not in index.headers and parsed < PARSE_AT_START:
            data = _read(path)
            digest = file_digest(data)
            if digest not in index.headers:
                headers[digest] = header_from_bytes(data, path)
            parsed += 1
        if digest in index.headers:
            headers[digest] = index.headers[digest]
        expected.append(digest if digest in headers else "")
    known = [(path, digest) for path, digest in zip(paths, expected) if digest]
    found = faceset_from_headers(
        folder, [path for path, _ in known], [headers[digest] for _, digest in known]
    )
    skipped = set(found.skipped)
    kept = [(path, digest) for path, digest in zip(paths, expected) if path not in skipped]
    return ScannedFaceSet(
        **{**attrs.asdict(found, recurse=False), "paths": tuple(path for path, _ in kept)},
        digests=tuple(digest for _, digest in kept),
        headers=headers,
        names={path.name: digest for path, digest in zip(paths, expected) if digest},
        provisional=True,
    )


def _scanned(
    found: FaceSet,
    listed: tuple[Path, ...],
    digests: list[str],
    headers: dict[str, FaceHeader],
    provisional: bool,
) -> ScannedFaceSet:
    """``found`` with the digests of its paths (``digests`` is per ``listed`` path, or empty)."""
    by_path = dict(zip(listed, digests))
    kept = tuple(by_path[p] for p in found.paths) if digests else ()
    return ScannedFaceSet(
        **attrs.asdict(found, recurse=False),
        digests=kept,
        headers=headers,
        names={path.name: digest for path, digest in by_path.items()},
        provisional=provisional,
    )


def _scan_in_worker(folder: str, paths: tuple[Path, ...]) -> ScannedFaceSet:
    """:func:`scan_faceset` in a worker process (module level, so it can be sent there)."""
    return scan_faceset(folder, FaceStore.for_folder(folder), paths)


class FolderScan:
    """:func:`scan_faceset` of ``folder``, started at once: in ``pool`` (a worker process) when
    given, else in a thread; :meth:`result` waits for it and raises what it raised."""

    def __init__(
        self,
        folder: str | os.PathLike,
        paths: tuple[Path, ...] | None = None,
        pool: ProcessPoolExecutor | None = None,
    ) -> None:
        self.folder = os.fspath(folder)
        self._result: ScannedFaceSet | None = None
        self._error: BaseException | None = None
        self._future: Future | None = None
        self._thread: threading.Thread | None = None
        try:
            listed = list_images(folder) if paths is None else paths
        except FsUserError as error:
            self._error = error
            return
        if pool is not None:
            self._future = pool.submit(_scan_in_worker, self.folder, listed)
            return
        self._thread = threading.Thread(
            target=self._run, args=(listed,), name="fs-scan", daemon=True
        )
        self._thread.start()

    def _run(self, paths: tuple[Path, ...]) -> None:
        try:
            self._result = scan_faceset(self.folder, FaceStore.for_folder(self.folder), paths)
        except BaseException as error:  # handed to result()
            self._error = error

    def result(self) -> ScannedFaceSet:
        if self._future is not None:
            return self._future.result()
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def start_scans(*folders: str | os.PathLike) -> list[FolderScan]:
    """A :class:`FolderScan` of each folder, started at once.

    Large folders are scanned one after the other in one worker process. Not in a thread: reading
    and hashing thousands of files there would fight TensorFlow's import for the GIL (each read
    gives it up and then waits to get it back), which slowed both about 3x on a 2-core machine.
    One process, not one per folder: with TensorFlow's import on one core, the scan has the other
    to itself."""
    listed: list[tuple[Path, ...] | None] = []
    for folder in folders:
        try:
            listed.append(list_images(folder))
        except FsUserError:
            listed.append(None)  # the scan raises it again, from result()
    large = use_processes(sum(len(paths) for paths in listed if paths is not None))
    if not large:
        return [FolderScan(folder, paths) for folder, paths in zip(folders, listed)]
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    scans = [
        FolderScan(folder, paths, pool if paths is not None else None)
        for folder, paths in zip(folders, listed)
    ]
    pool.shutdown(wait=False)  # the worker ends when the scans are done
    return scans
