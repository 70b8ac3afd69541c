"""The face cache on disk: prepared faces kept between runs, found again by the files' content.

Preparing a face (decode the PNG, parse its faceswap header, align, crop, draw its masks) costs
about 2.5 ms; 2 x 10,000 faces are most of a minute on a 2-core machine. The prepared result
depends only on the file's bytes, the :class:`~fs_core.faces.prepare.PrepareSpec` and the code
that prepares it, so it is kept here and reused whenever all three are the same again:

``<root>/<folder key>/``
    one folder per face folder (``folder key``: a hash of its absolute path), holding
    ``index.json`` (the folder's path; per content digest, what the file's header says: extracted
    or not, stored masks, centering, landmark points; per file name, the digest its content had
    when last read) and one sub-folder per prepared
    form, ``<spec key>/`` (a hash of the spec's fields, the store format and the source of the
    modules that prepare faces, so a change to any of them starts afresh), holding
    ``manifest.json`` and the arrays of the prepared faces: ``images``, ``masks``, ``landmarks``,
    ``digests`` (each row's file digest) and ``checks`` (each row's CRC-32 over its digest and
    bytes).

Validity is by content: a face file's row is used only when the file's bytes, read and hashed
(:func:`file_digest`) on every run, have the row's digest; its name, size and time decide nothing
(a name only says which digest to expect, so the start-up need not wait for the hashing: see
:mod:`fs_core.data.background`). A file replaced by another one, even with the same size and
modification time, is prepared again; a renamed one is not. Each row is checked against its CRC
when it is read, so a damaged cache is noticed and rebuilt, with one line, instead of training on
wrong pixels.

Writes are atomic (:func:`fs_core.atomic.atomic_path`): the arrays of a new version get new
file names, and the manifest that names them is replaced last, so a run killed at any moment leaves
either the old version or the new one. One writer at a time per face folder (a lock,
:mod:`fs_core.locking`); a run that finds another one writing leaves the cache to it. At most
:data:`KEPT_FORMS` prepared forms are kept per face folder (the least recently written go first).

Where: ``$FS_FACE_CACHE`` when set (``off`` turns the cache off), else
``$XDG_CACHE_HOME/fs/faces``, else ``~/.cache/fs/faces`` (:func:`store_root`). Nothing here is
pickled: arrays are ``.npy`` files loaded with ``allow_pickle=False`` and the rest is JSON.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import cv2
import numpy as np

from fs_core.atomic import atomic_path, atomic_write_bytes
from fs_core.errors import FsUserError
from fs_core.faces.faceset import FaceHeader
from fs_core.locking import exclusive_lock

#: bump when the layout of the store changes
STORE_FORMAT = 1
ENV = "FS_FACE_CACHE"
OFF_VALUES = ("off", "0", "no", "none", "false")
#: prepared forms (spec keys) kept per face folder
KEPT_FORMS = 4
DIGEST_BYTES = 16
INDEX_FILE = "index.json"
MANIFEST_FILE = "manifest.json"
LOCK_FILE = ".lock"
ARRAYS = ("images", "masks", "landmarks", "digests", "checks")
#: the modules whose code decides what a prepared face is: a change to any of them is a new spec key
_PREPARING_SOURCES = (
    "fs_core/faces/read.py",
    "fs_core/faces/prepare.py",
    "fs_core/faces/alignment.py",
    "fs_core/faces/alignment_constants.json",
    "fs_core/faces/pngmeta.py",
)
_log = logging.getLogger("fs.data")


def file_digest(data: bytes) -> str:
    """The content digest of a face file's bytes: SHA-256, its first 128 bits in hex. SHA-256
    rather than BLAKE2b because CPUs since about 2017 compute it in hardware (OpenSSL uses it):
    1.6x BLAKE2b's speed on the 2-core benchmark machine, where the 2 x 10,000 faces of a warm
    start are hashed while TensorFlow is imported."""
    return hashlib.sha256(data).hexdigest()[: 2 * DIGEST_BYTES]


def row_check(digest: bytes, image: np.ndarray, masks: Any, landmarks: Any) -> int:
    """CRC-32 of one prepared face's digest and bytes: what :data:`ARRAYS` ``checks`` holds."""
    value = zlib.crc32(digest)
    for part in (image, masks, landmarks):
        if part is not None:
            value = zlib.crc32(np.ascontiguousarray(part).data, value)
    return value


def store_root(environ: Mapping[str, str] | None = None) -> Path | None:
    """The cache folder (see the module docstring), or None when ``$FS_FACE_CACHE`` turns it off."""
    env = os.environ if environ is None else environ
    chosen = env.get(ENV, "").strip()
    if chosen.lower() in OFF_VALUES:
        return None
    if chosen:
        return Path(chosen).expanduser()
    base = env.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".cache") / "fs" / "faces"


def _key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def _code_key() -> str:
    """A hash of the code that prepares faces (and the libraries whose results it keeps)."""
    root = Path(__file__).resolve().parents[2]
    hasher = hashlib.blake2b(digest_size=8)
    for name in _PREPARING_SOURCES:
        with contextlib.suppress(OSError):
            hasher.update((root / name).read_bytes())
    hasher.update(f"{cv2.__version__} {np.__version__} {STORE_FORMAT}".encode())
    return hasher.hexdigest()


def spec_fields(spec: Any) -> dict:
    """The spec's fields as JSON-ready values (tuples as lists)."""
    return json.loads(json.dumps(attrs.asdict(spec)))


def header_to_json(header: FaceHeader) -> list:
    return [header.extracted, sorted(header.mask_names), header.centering, header.points]


def header_from_json(value: Any) -> FaceHeader:
    extracted, masks, centering, points = value
    if not (
        isinstance(extracted, bool)
        and isinstance(masks, list)
        and all(isinstance(name, str) for name in masks)
        and isinstance(centering, str)
        and isinstance(points, int)
    ):
        raise ValueError("malformed header entry")
    return FaceHeader(extracted, frozenset(masks), centering, points)


@attrs.frozen
class StoredIndex:
    """What a folder's cache knows of its files: ``headers`` (content digest -> what the file's
    header says) and ``names`` (file name -> the digest its content had when last read). A name
    is only a hint where to look: a face's row is used only once its file's bytes hash to the
    row's digest."""

    headers: dict[str, FaceHeader] = attrs.field(factory=dict)
    names: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen
class PreparedRows:
    """One prepared form as stored: its arrays (memory-mapped, read-only) and which row holds which
    file digest. ``rows[digest]`` is the row; :meth:`verified` reads one row after checking it."""

    images: np.ndarray
    masks: np.ndarray | None
    landmarks: np.ndarray | None
    digests: np.ndarray
    checks: np.ndarray
    rows: dict[str, int]

    def verified(self, rows: Sequence[int]) -> tuple[np.ndarray, Any, Any, np.ndarray]:
        """Copies of the images, masks and landmarks at ``rows``, and which of them match their
        CRC (a row that does not is damaged: its face must be prepared again)."""
        at = np.asarray(rows, np.int64)
        images = self.images[at]
        masks = None if self.masks is None else self.masks[at]
        landmarks = None if self.landmarks is None else self.landmarks[at]
        digests, checks = self.digests[at], self.checks[at]
        good = np.fromiter(
            (
                row_check(
                    digests[k].tobytes(),
                    images[k],
                    None if masks is None else masks[k],
                    None if landmarks is None else landmarks[k],
                )
                == int(checks[k])
                for k in range(len(at))
            ),
            bool,
            len(at),
        )
        return images, masks, landmarks, good


class FaceStore:
    """The cache entries of one face ``folder`` under ``root`` (see the module docstring)."""

    def __init__(self, root: Path, folder: str | os.PathLike) -> None:
        self.folder = os.path.realpath(os.fspath(folder))
        self.root = Path(root)
        self.path = self.root / _key(self.folder)
        self._code = _code_key()

    @classmethod
    def for_folder(cls, folder: str | os.PathLike) -> FaceStore | None:
        """The store of ``folder`` in :func:`store_root`, or None when the cache is off."""
        root = store_root()
        return None if root is None else cls(root, folder)

    def spec_path(self, spec: Any) -> Path:
        fields = json.dumps(spec_fields(spec), sort_keys=True)
        return self.path / _key(f"{fields} {self._code}")

    # ------------------------------------------------------------------ reading

    def read_index(self) -> StoredIndex:
        """What this folder's cache knows of its files (empty when there is none, and, with one
        line, when it is damaged)."""
        path = self.path / INDEX_FILE
        try:
            data = json.loads(path.read_bytes())
            if data.get("format") != STORE_FORMAT or data.get("folder") != self.folder:
                return StoredIndex()
            headers = {str(key): header_from_json(value) for key, value in data["headers"].items()}
            names = {str(name): str(digest) for name, digest in data["names"].items()}
            return StoredIndex(headers, names)
        except FileNotFoundError:
            return StoredIndex()
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
            self._damaged(path, error)
            return StoredIndex()

    def read_rows(self, spec: Any, size: int, mask_count: int) -> PreparedRows | None:
        """The faces stored prepared as ``spec`` says; None when there are none, and (with one
        line) when the entry is damaged: a missing or truncated file, shapes that do not fit."""
        folder = self.spec_path(spec)
        manifest_path = folder / MANIFEST_FILE
        try:
            manifest = json.loads(manifest_path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            self._damaged(manifest_path, error)
            return None
        try:
            return self._open_rows(folder, manifest, spec, size, mask_count)
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
            self._damaged(folder, error)
            return None

    def _open_rows(
        self, folder: Path, manifest: dict, spec: Any, size: int, mask_count: int
    ) -> PreparedRows | None:
        if manifest.get("format") != STORE_FORMAT or manifest.get("spec") != spec_fields(spec):
            return None
        count = int(manifest["rows"])
        arrays: dict[str, np.ndarray | None] = {}
        for name in ARRAYS:
            entry = manifest["files"].get(name)
            if entry is None:
                arrays[name] = None
                continue
            path = folder / entry["name"]
            if path.parent != folder or path.stat().st_size != int(entry["bytes"]):
                raise ValueError(f"{path.name} is not the size the manifest says")
            arrays[name] = np.load(path, mmap_mode="r", allow_pickle=False)
        expected = {
            "images": ((count, size, size, 3), np.uint8),
            "masks": ((count, size, size, mask_count), np.uint8),
            "landmarks": ((count, 68, 2), np.float32),
            "digests": ((count, DIGEST_BYTES), np.uint8),
            "checks": ((count,), np.uint32),
        }
        for name, (shape, dtype) in expected.items():
            array = arrays[name]
            optional = name in ("masks", "landmarks")
            if array is None and optional:
                continue
            if array is None or array.shape != shape or array.dtype != dtype:
                raise ValueError(f"the stored {name} do not have shape {shape} {np.dtype(dtype)}")
        if (arrays["masks"] is None) != (mask_count == 0):
            raise ValueError("the stored masks do not fit the spec")
        digests = arrays["digests"]
        assert digests is not None and arrays["images"] is not None and arrays["checks"] is not None
        rows = {bytes(digest).hex(): row for row, digest in enumerate(np.asarray(digests))}
        return PreparedRows(
            arrays["images"], arrays["masks"], arrays["landmarks"], digests, arrays["checks"], rows
        )

    def _damaged(self, path: Path, error: BaseException) -> None:
        _log.warning(
            "%s: the face cache at %s is damaged (%s); preparing the faces again",
            self.folder,
            path,
            " ".join(str(error).split()) or type(error).__name__,
        )

    # ------------------------------------------------------------------ writing

    def write(
        self,
        spec: Any,
        index: StoredIndex,
        digests: list[str],
        images: np.ndarray,
        masks: np.ndarray | None,
        landmarks: np.ndarray | None,
    ) -> bool:
        """Store ``index`` (what is known of the folder's files) and the faces prepared as ``spec``
        says (row i: the file with digest ``digests[i]``).

        Returns False, with one line, when the disk refuses (full, read-only) or another run is
        writing this folder's cache; training goes on either way."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            with self._lock() as locked:
                if not locked:
                    return False
                self._write_index(index)
                self._write_rows(spec, digests, images, masks, landmarks)
                self._forget_old_forms()
            return True
        except (OSError, FsUserError) as error:  # a refused write (atomic_path's is a user error)
            reason = error.one_line() if isinstance(error, FsUserError) else error.strerror
            _log.warning(
                "%s: could not write the face cache in %s (%s); training goes on without it",
                self.folder,
                self.path,
                reason or error,
            )
            return False

    @contextlib.contextmanager
    def _lock(self) -> Iterator[bool]:
        with open(self.path / LOCK_FILE, "a+b") as handle, exclusive_lock(handle) as held:
            yield held

    def _write_index(self, index: StoredIndex) -> None:
        data = {
            "format": STORE_FORMAT,
            "folder": self.folder,
            "headers": {d: header_to_json(header) for d, header in index.headers.items()},
            "names": dict(index.names),
        }
        atomic_write_bytes(self.path / INDEX_FILE, json.dumps(data).encode("utf-8"))

    def _write_rows(
        self,
        spec: Any,
        digests: list[str],
        images: np.ndarray,
        masks: np.ndarray | None,
        landmarks: np.ndarray | None,
    ) -> None:
        folder = self.spec_path(spec)
        folder.mkdir(exist_ok=True)
        raw = np.frombuffer(b"".join(bytes.fromhex(d) for d in digests), np.uint8)
        raw = raw.reshape(len(digests), DIGEST_BYTES)
        checks = np.fromiter(
            (
                row_check(
                    raw[row].tobytes(),
                    images[row],
                    None if masks is None else masks[row],
                    None if landmarks is None else landmarks[row],
                )
                for row in range(len(digests))
            ),
            np.uint32,
            len(digests),
        )
        version = os.urandom(4).hex()
        arrays = {
            "images": images,
            "masks": masks,
            "landmarks": landmarks,
            "digests": raw,
            "checks": checks,
        }
        files = {}
        for name, array in arrays.items():
            if array is None:
                continue
            target = folder / f"{name}-{version}.npy"
            with atomic_path(target) as temp, open(temp, "wb") as handle:
                np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
            files[name] = {"name": target.name, "bytes": target.stat().st_size}
        manifest = {
            "format": STORE_FORMAT,
            "spec": spec_fields(spec),
            "rows": len(digests),
            "files": files,
        }
        atomic_write_bytes(folder / MANIFEST_FILE, json.dumps(manifest).encode("utf-8"))
        keep = {MANIFEST_FILE} | {entry["name"] for entry in files.values()}
        for entry in folder.iterdir():
            if entry.name not in keep:  # earlier versions, and temporary files of killed runs
                with contextlib.suppress(OSError):
                    entry.unlink()

    def _forget_old_forms(self) -> None:
        forms = []
        for entry in self.path.iterdir():
            if entry.is_dir():
                try:
                    forms.append(((entry / MANIFEST_FILE).stat().st_mtime, entry))
                except OSError:
                    forms.append((0.0, entry))
        for _, entry in sorted(forms, reverse=True)[KEPT_FORMS:]:
            shutil.rmtree(entry, ignore_errors=True)
