"""faceswap's alignments file (``.fsa``): read it without running code from it, and write one.

The file is one zlib stream holding a pickle of ``{"__meta__": {"version": float}, "__data__":
{frame_key: {"faces": [face, ...], "video_meta": {...}}}}``. A pickle is a program: loading one
with :func:`pickle.loads` calls whatever functions it names, so a ``.fsa`` downloaded with a face
set could run anything. This reader never does that:

* the unpickler resolves no global by importing it. It knows a handful of names that real files
  hold (NumPy's array, scalar and dtype reconstruction, under NumPy 1.x module names and NumPy 2.x
  ones) and maps each to a small checking function of its own; every other name is refused with
  :class:`~fs_core.errors.FsUserError` ("refusing to load: the file asks to run ``os.system``");
* those functions build arrays only from raw bytes of a plain numeric dtype (bool, int, uint,
  float) whose length matches the shape, via :func:`numpy.frombuffer`; object and structured
  dtypes, subclasses and out-of-band buffers are refused, and no NumPy ``__setstate__`` ever sees
  data from the file;
* the decompressed size is capped (a zip bomb is refused before it fills memory), and the result
  is checked field by field into typed, read-only records (:class:`Alignments`), so later code
  never meets an unexpected type.

Files written by current faceswap hold only plain Python values; files written before 2026 (and
files faceswap upgraded in place) hold NumPy arrays and scalars, which is why those few names are
allowed.

Versions are read as faceswap reads them: below 2.0 (no ``__meta__``) is refused by name, as
faceswap refuses it; 2.0 to 2.4 are read with their differences handled in memory (the user's file
is never rewritten): a frame stored as a bare face list, ``landmarksXY`` for ``landmarks_xy``,
arrays for lists, 2x3 mask matrices (completed to 3x3), masks without ``stored_centering``
(``"face"``), faceswap's retired ``components``/``extended`` masks (dropped), and, for a video,
frame keys written as ``<stem>_<n:06d>.png`` before 2.4 (renamed to the video's extension, see
:func:`read_alignments`). Unknown keys (the old per-face ``hash``, ``thumb``, ``identity``) are
ignored.

Stored masks are decoded lazily (:meth:`StoredMask.decode`): a long video holds one compressed
128 px mask per face, which decoded would take 16 KiB each.
"""

from __future__ import annotations

import io
import logging
import math
import os
import pickle
import zlib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs
import numpy as np

from fs_core.atomic import atomic_write_bytes
from fs_core.errors import FsUserError
from fs_core.faces.alignment import LANDMARK_COUNTS
from fs_core.faces.read import decode_stored_mask

#: the version faceswap writes today, and the one :func:`write_alignments` writes
CURRENT_VERSION = 2.4
#: the oldest version faceswap (and fs) still reads
MIN_VERSION = 2.0
#: masks gained ``stored_centering`` in 2.2; earlier masks are face-centred
MASK_CENTERING_VERSION = 2.2
#: the video extensions faceswap recognises (lowercase)
VIDEO_EXTENSIONS = frozenset(
    {".avi", ".flv", ".mkv", ".mov", ".mp4", ".mpeg", ".mpg", ".webm", ".wmv", ".ts", ".vob"}
)
#: mask names faceswap retired and drops when it loads a file
LEGACY_MASK_NAMES = frozenset({"components", "extended"})
CENTERINGS = frozenset({"legacy", "face", "head"})
#: the decompressed pickle may be at most this large ...
MAX_DECOMPRESSED = 2 * 2**30
#: ... and, for a small file, at most this many times its size (but always this floor): real
#: files compress a few times, a zlib bomb about a thousand times
DECOMPRESSION_RATIO = 200
DECOMPRESSED_FLOOR = 256 * 2**20
MAX_MASK_SIZE = 4096
DEFAULT_NAME = "alignments.fsa"
_PICKLE_PROTOCOL = 4  # what faceswap's Python (3.8 to 3.13) writes by default
# dtypes an array or scalar in an alignments file may have: (kind, item size) as numpy pickles them
_DTYPE_CODES = frozenset({"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"})
_log = logging.getLogger("fs.convert")


# --------------------------------------------------------------------------------------------
# restricted unpickling


class _Refused(Exception):
    """Raised inside the unpickler; :func:`_unpickle` turns it into an FsUserError."""


class _NdarrayRef:
    """Stands for ``numpy.ndarray`` in a pickle: accepted only as the first argument of the array
    reconstructor, so the file cannot call the real ``ndarray`` constructor with its own buffer,
    offset and strides."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise _Refused("the file asks to run numpy.ndarray directly (real files never do)")


_NDARRAY = _NdarrayRef()


class _DtypeSpec:
    """A checked numeric dtype: what ``numpy.dtype(code, align, copy)`` plus its state (byte order)
    become. numpy's own ``dtype.__setstate__`` would accept field and sub-array layouts from the
    file; this accepts only a byte order."""

    __slots__ = ("dtype",)

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype

    def __setstate__(self, state: Any) -> None:
        if not (
            isinstance(state, tuple)
            and len(state) in (8, 9)
            and state[0] in (3, 4)
            and state[1] in ("<", ">", "|", "=")
            and all(item is None for item in state[2:5])
            and (len(state) == 8 or state[8] is None)
        ):
            raise _Refused(
                "a NumPy dtype with fields, sub-arrays or metadata (real alignments "
                "files hold plain numeric arrays only)"
            )
        if state[1] in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(state[1])


class _ArraySpec:
    """What the array reconstructor returns; its state (shape, dtype, raw bytes) is checked and
    turned into a fresh native-order array by :meth:`__setstate__`."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray | None = None) -> None:
        self.array = array

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 5 and state[0] == 1:
            state = state[1:]
        if not (isinstance(state, tuple) and len(state) == 4):
            raise _Refused("a NumPy array with an unknown layout")
        shape, spec, fortran, raw = state
        self.array = _array_from_bytes(raw, spec, shape, "F" if fortran else "C")


def _check_spec(spec: Any) -> np.dtype:
    if not isinstance(spec, _DtypeSpec):
        raise _Refused("a NumPy array or scalar without a plain dtype")
    return spec.dtype


def _array_from_bytes(raw: Any, spec: Any, shape: Any, order: Any) -> np.ndarray:
    """A native-order copy of ``raw`` as an array of ``shape``; everything checked first."""
    dtype = _check_spec(spec)
    if isinstance(raw, bytearray):
        raw = bytes(raw)
    if not isinstance(raw, bytes):
        raise _Refused("a NumPy array whose data is not raw bytes")
    if not (
        isinstance(shape, tuple)
        and len(shape) <= 8
        and all(type(dim) is int and dim >= 0 for dim in shape)
    ):
        raise _Refused("a NumPy array with an invalid shape")
    if order not in ("C", "F"):
        raise _Refused("a NumPy array with an invalid memory order")
    if math.prod(shape) * dtype.itemsize != len(raw):
        raise _Refused("a NumPy array whose data does not match its shape")
    flat = np.frombuffer(raw, dtype=dtype)
    return flat.reshape(shape, order=order).astype(dtype.newbyteorder("="), order="C")


def _reconstruct(subtype: Any, shape: Any, typecode: Any) -> _ArraySpec:
    """``numpy.core.multiarray._reconstruct``: an empty array its BUILD state will fill."""
    if subtype is not _NDARRAY:
        raise _Refused("a NumPy array subclass")
    return _ArraySpec()


def _frombuffer(buffer: Any, spec: Any, shape: Any, order: Any, *rest: Any) -> _ArraySpec:
    """``numpy.core.numeric._frombuffer`` (NumPy's pickle protocol 5): a whole array at once."""
    if any(item is not None for item in rest):
        raise _Refused("a NumPy array with an unusual axis order")
    return _ArraySpec(_array_from_bytes(buffer, spec, shape, order))


def _make_dtype(code: Any, align: Any = False, copy: Any = True) -> _DtypeSpec:
    """``numpy.dtype(code, align, copy)``, for the plain numeric codes only."""
    if not (isinstance(code, str) and code in _DTYPE_CODES):
        raise _Refused(
            f"a NumPy dtype {str(code)[:20]!r} (real alignments files hold plain "
            "numeric arrays only)"
        )
    return _DtypeSpec(np.dtype(code))


def _scalar(spec: Any, raw: Any = None) -> bool | int | float:
    """``numpy.core.multiarray.scalar``: a NumPy number, returned as the Python number."""
    dtype = _check_spec(spec)
    if not isinstance(raw, bytes) or len(raw) != dtype.itemsize:
        raise _Refused("a NumPy scalar with invalid data")
    return np.frombuffer(raw, dtype=dtype)[0].item()


_ALLOWED: Mapping[tuple[str, str], Any] = MappingProxyType(
    {
        **{
            (module, "_reconstruct"): _reconstruct
            for module in ("numpy.core.multiarray", "numpy._core.multiarray")
        },
        **{
            (module, "scalar"): _scalar
            for module in ("numpy.core.multiarray", "numpy._core.multiarray")
        },
        **{
            (module, "_frombuffer"): _frombuffer
            for module in ("numpy.core.numeric", "numpy._core.numeric")
        },
        ("numpy", "ndarray"): _NDARRAY,
        ("numpy", "dtype"): _make_dtype,
    }
)
#: the globals an alignments file may name, as ``module.name``
ALLOWED_GLOBALS = tuple(sorted(f"{module}.{name}" for module, name in _ALLOWED))


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that imports nothing: the names in :data:`ALLOWED_GLOBALS` map to the checking
    functions above, any other name is refused."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except (KeyError, TypeError):
            raise _Refused(f"the file asks to run {str(module)[:80]}.{str(name)[:80]}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("the file refers to a persistent object")


def _decompress(data: bytes, path: Path) -> bytes:
    """The zlib stream's content, refusing corrupt, truncated and oversized streams."""
    limit = min(MAX_DECOMPRESSED, max(DECOMPRESSED_FLOOR, DECOMPRESSION_RATIO * len(data)))
    stream = zlib.decompressobj()
    try:
        raw = stream.decompress(data, limit + 1)
    except zlib.error as err:
        raise FsUserError(
            "not a faceswap alignments file: it is not zlib-compressed data, or "
            f"it is corrupt ({err})",
            path,
        ) from err
    if len(raw) > limit:
        raise FsUserError(
            f"refusing to load: the alignments data would decompress to more than "
            f"{limit // 2**20} MiB (a corrupt or malicious file?)",
            path,
        )
    if not stream.eof:
        raise FsUserError(
            "the alignments file is truncated (its compressed data ends early); "
            "restore it from a backup or extract again",
            path,
        )
    return raw


def _unpickle(raw: bytes, path: Path) -> Any:
    try:
        return _RestrictedUnpickler(io.BytesIO(raw)).load()
    except _Refused as err:
        raise FsUserError(
            f"refusing to load: {err}; an alignments file never needs that (is it "
            "from a source you trust?)",
            path,
        ) from None
    except RecursionError:
        raise FsUserError(
            "not a faceswap alignments file: its data is nested too deeply", path
        ) from None
    except MemoryError:
        raise
    except Exception as err:  # anything a malformed pickle can raise is bad input
        raise FsUserError(
            f"not a faceswap alignments file: the data inside is not a valid "
            f"pickle ({type(err).__name__}: {str(err)[:120]})",
            path,
        ) from None


# --------------------------------------------------------------------------------------------
# typed records


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def _array_eq(left: np.ndarray, right: np.ndarray) -> bool:
    return bool(np.array_equal(left, right))


@attrs.frozen
class StoredMask:
    """A mask a faceswap mask plugin stored for a face: ``stored_size`` px square, covering the
    ``stored_centering`` crop at coverage 1.0. ``affine_matrix`` (3x3 float32) maps frame pixels
    to mask pixels. The compressed bytes are kept; :meth:`decode` inflates them when needed."""

    blob: bytes = attrs.field(repr=lambda blob: f"<{len(blob)} bytes>")
    stored_size: int
    stored_centering: str
    affine_matrix: np.ndarray = attrs.field(eq=attrs.cmp_using(eq=_array_eq), repr=False)
    interpolator: int
    name: str = ""
    #: where it is stored, for error messages: the file, and the frame and face
    source: str = attrs.field(default="", eq=False, repr=False)
    where: str = attrs.field(default="", eq=False, repr=False)

    def decode(self) -> np.ndarray:
        """The mask as uint8 (stored_size, stored_size); FsUserError naming the file if corrupt."""
        entry = {"mask": self.blob, "stored_size": self.stored_size}
        try:
            return decode_stored_mask(self.name, entry, self.source or "alignments")
        except FsUserError as err:
            raise FsUserError(f"{self.where}: {err.message}", err.path) from None


@attrs.frozen
class FrameFace:
    """One face in a frame: the detector box (``x``, ``y``, ``w``, ``h``), the frame landmarks
    (float32 (68, 2), (98, 2) or (4, 2), read-only: faceswap's 68- and 98-point aligners, or the
    corners of an imported region of interest) and the stored masks by name."""

    x: int
    y: int
    w: int
    h: int
    landmarks: np.ndarray = attrs.field(eq=attrs.cmp_using(eq=_array_eq), repr=False)
    masks: Mapping[str, StoredMask] = MappingProxyType({})
    #: the JPEG thumbnail faceswap keeps per face (None when absent or not bytes), kept so that
    #: rewriting a file (a continued ``fs extract``) does not lose it
    thumb: bytes | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class FrameFaces:
    """A frame's entry: its faces in face-index order (possibly none) and the seek data faceswap
    keeps for video frames (``pts_time``, ``keyframe``; empty for image frames)."""

    faces: tuple[FrameFace, ...] = ()
    video_meta: Mapping[str, Any] = MappingProxyType({})


@attrs.frozen
class Alignments:
    """An alignments file as read: its ``version`` and each frame's faces, keyed as faceswap keys
    them (the frame's file name, or ``<video stem>_<n:06d><ext>`` for a video), in file order."""

    path: Path
    version: float
    frames: Mapping[str, FrameFaces]

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def face_count(self) -> int:
        return sum(len(entry.faces) for entry in self.frames.values())


# --------------------------------------------------------------------------------------------
# checking the unpickled data


def _thumb(value: Any) -> bytes | None:
    """A face's thumbnail as bytes: stored as bytes, a list of byte values (current faceswap) or
    a uint8 array (older files); anything else is ignored, as a thumbnail is only a preview."""
    if isinstance(value, bytes):
        return value
    try:
        array = np.asarray(value)
        if array.ndim == 1 and array.size and np.issubdtype(array.dtype, np.integer):
            if array.min() >= 0 and array.max() <= 255:
                return array.astype(np.uint8).tobytes()
    except (TypeError, ValueError):
        pass
    return None


class _Checker:
    """Turns the unpickled tree into records; every complaint names the file and the frame."""

    def __init__(self, path: Path, version: float) -> None:
        self.path = path
        self.version = version

    def fail(self, where: str, message: str) -> FsUserError:
        return FsUserError(f"{where}: {message}", self.path)

    def array(self, value: Any, where: str, what: str) -> np.ndarray:
        if isinstance(value, _ArraySpec):
            if value.array is None:
                raise self.fail(where, f"{what} is an incomplete NumPy array")
            return value.array
        if isinstance(value, (list, tuple)):
            try:
                with np.errstate(over="ignore", invalid="ignore"):
                    array = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError, OverflowError):
                raise self.fail(where, f"{what} is not a list of numbers") from None
            return array
        raise self.fail(where, f"{what} is a {type(value).__name__}, not a list of numbers")

    def integer(self, value: Any, where: str, what: str) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(where, f"{what} is not a number ({repr(value)[:40]})")
        if not math.isfinite(value) or value != int(value):
            raise self.fail(where, f"{what} is not a whole number ({value!r})")
        return int(value)

    def landmarks(self, face: dict, where: str) -> np.ndarray:
        value = face.get("landmarks_xy", face.get("landmarksXY"))
        if value is None:
            raise self.fail(where, "the face has no landmarks ('landmarks_xy')")
        array = self.array(value, where, "the landmarks")
        if array.dtype.kind not in "iuf":
            raise self.fail(where, "the landmarks are not numbers")
        if array.ndim != 2 or array.shape[1] != 2:
            raise self.fail(
                where,
                f"the landmarks have shape {array.shape}; expected (68, 2), (98, 2) or (4, 2)",
            )
        if array.shape[0] not in LANDMARK_COUNTS:
            raise self.fail(
                where,
                f"the face has {array.shape[0]}-point landmarks; fs reads 68-, 98- and "
                "4-point ones, as faceswap does (extract again with one of its aligners)",
            )
        with np.errstate(over="ignore", invalid="ignore"):
            array = array.astype(np.float32)
        if not np.all(np.isfinite(array)):
            raise self.fail(where, "the landmarks contain NaN or infinite values")
        return _readonly(array)

    def mask(self, name: str, entry: Any, where: str) -> StoredMask:
        label = f"stored mask {name!r}"
        if not isinstance(entry, dict):
            raise self.fail(where, f"{label} is not a mapping")
        blob = entry.get("mask")
        if isinstance(blob, bytearray):
            blob = bytes(blob)
        if not isinstance(blob, bytes):
            raise self.fail(where, f"{label} has no compressed mask bytes")
        size = self.integer(entry.get("stored_size"), where, f"{label}'s stored_size")
        if not 0 < size <= MAX_MASK_SIZE:
            raise self.fail(where, f"{label}'s stored_size {size} is out of range")
        centering = entry.get("stored_centering", "face")
        if self.version < MASK_CENTERING_VERSION:
            centering = "face"  # as faceswap: masks were face-centred before 2.2
        if centering not in CENTERINGS:
            raise self.fail(
                where,
                f"{label}'s stored_centering {str(centering)[:20]!r} is not "
                "one of face, head, legacy",
            )
        matrix = self.array(entry.get("affine_matrix"), where, f"{label}'s affine_matrix")
        if matrix.shape == (2, 3):
            matrix = np.vstack([matrix, [0.0, 0.0, 1.0]])
        if matrix.shape != (3, 3) or matrix.dtype.kind not in "iuf":
            raise self.fail(
                where,
                f"{label}'s affine_matrix has shape {matrix.shape}; expected 2x3 or 3x3 numbers",
            )
        interpolator = self.integer(entry.get("interpolator"), where, f"{label}'s interpolator")
        return StoredMask(
            blob,
            size,
            centering,
            _readonly(matrix.astype(np.float32)),
            interpolator,
            name,
            os.fspath(self.path),
            where,
        )

    def face(self, face: Any, where: str) -> FrameFace:
        if not isinstance(face, dict):
            raise self.fail(where, f"the face is a {type(face).__name__}, not a mapping")
        box = [
            self.integer(face.get(key), where, f"the face box's {key!r}")
            for key in ("x", "y", "w", "h")
        ]
        landmarks = self.landmarks(face, where)
        masks = face.get("mask") or {}
        if not isinstance(masks, dict):
            raise self.fail(where, "the face's 'mask' is not a mapping")
        stored = {
            name: self.mask(name, entry, where)
            for name, entry in masks.items()
            if name not in LEGACY_MASK_NAMES
        }
        if not all(isinstance(name, str) for name in stored):
            raise self.fail(where, "a stored mask's name is not text")
        x, y, w, h = box
        return FrameFace(x, y, w, h, landmarks, MappingProxyType(stored), _thumb(face.get("thumb")))

    def frame(self, key: Any, entry: Any) -> FrameFaces:
        if not isinstance(key, str):
            raise FsUserError(f"a frame key is a {type(key).__name__}, not a file name", self.path)
        where = f"frame {key!r}"
        if isinstance(entry, list):  # faceswap's oldest layout: the frame is its face list
            entry = {"faces": entry}
        if not isinstance(entry, dict):
            raise self.fail(where, f"the entry is a {type(entry).__name__}, not a mapping")
        faces = entry.get("faces", [])
        if not isinstance(faces, list):
            raise self.fail(where, "'faces' is not a list")
        meta = entry.get("video_meta") or {}
        if not isinstance(meta, dict):
            raise self.fail(where, "'video_meta' is not a mapping")
        video_meta = {
            name: meta[name]
            for name in ("pts_time", "keyframe")
            if isinstance(meta.get(name), (bool, int, float))
        }
        return FrameFaces(
            tuple(self.face(face, f"{where} face {index}") for index, face in enumerate(faces)),
            MappingProxyType(video_meta),
        )


def _version(top: Any, path: Path) -> float:
    if not isinstance(top, dict):
        raise FsUserError(
            f"not a faceswap alignments file: it holds a {type(top).__name__}, not "
            "the expected mapping with '__meta__' and '__data__'",
            path,
        )
    meta = top.get("__meta__")
    if meta is None:
        version: Any = 1.0  # faceswap reads a file without a header as version 1.0
    elif not isinstance(meta, dict):
        raise FsUserError("not a faceswap alignments file: its '__meta__' is not a mapping", path)
    else:
        version = meta.get("version")
    if (
        isinstance(version, bool)
        or not isinstance(version, (int, float))
        or not math.isfinite(version)
    ):
        raise FsUserError(
            f"the alignments file's version is not a number ({repr(version)[:40]})", path
        )
    if version < MIN_VERSION:
        raise FsUserError(
            f"the alignments file is version {float(version)}, from faceswap's "
            "legacy extraction, which neither faceswap nor fs reads any more: "
            "update it with the alignments tool's 'extract' job in faceswap v2.3, "
            "or extract the faces again",
            path,
        )
    if version > CURRENT_VERSION:
        _log.warning(
            "%s: alignments version %s is newer than fs knows (%s); reading it as %s",
            path,
            version,
            CURRENT_VERSION,
            CURRENT_VERSION,
        )
    if not isinstance(top.get("__data__"), dict):
        raise FsUserError(
            "not a faceswap alignments file: it has no '__data__' mapping of frames", path
        )
    return float(version)


# --------------------------------------------------------------------------------------------
# public API


def default_alignments_path(input_path: str | os.PathLike) -> Path:
    """Where faceswap puts the alignments of ``input_path``: ``<folder>/alignments.fsa`` for a
    folder of frames, ``<dir>/<stem>_alignments.fsa`` for a video."""
    source = Path(input_path)
    if source.is_dir():
        return source / DEFAULT_NAME
    return source.with_name(f"{source.stem}_{DEFAULT_NAME}")


def frame_key_for_video(video_path: str | os.PathLike, index: int) -> str:
    """faceswap's key for frame ``index`` (0-based decode order) of a video: the stem, the 1-based
    frame number padded to six digits, and the video's extension as spelled."""
    if index < 0:
        raise ValueError(f"frame index must be >= 0, got {index}")
    name = Path(video_path).name
    stem, ext = os.path.splitext(name)
    return f"{stem}_{index + 1:06d}{ext}"


def _video_keys(frames: dict[str, FrameFaces], video: str | os.PathLike) -> dict[str, FrameFaces]:
    """Rename keys written before 2.4 (``<stem>_<n>.png``) to the video's extension, as faceswap
    does when it opens a video: only if the video has a video extension, every key has the same
    extension and it differs; only the keys whose text before the last ``_`` is the stem."""
    stem, ext = os.path.splitext(Path(video).name)
    if ext.lower() not in VIDEO_EXTENSIONS:
        return frames
    extensions = {os.path.splitext(key)[1] for key in frames}
    if len(extensions) != 1 or ext in extensions:
        return frames
    renamed: dict[str, FrameFaces] = {}
    for key, entry in frames.items():
        base = os.path.splitext(key)[0]
        renamed[f"{base}{ext}" if base.rsplit("_", 1)[0] == stem else key] = entry
    return renamed


def read_alignments(path: str | os.PathLike, video: str | os.PathLike | None = None) -> Alignments:
    """Read the alignments file at ``path`` (see the module docstring for what is accepted).

    ``video``: the video the alignments belong to, if any; keys written by faceswap before 2.4
    are then renamed to its extension (in memory; the file is not changed). Every problem is an
    :class:`~fs_core.errors.FsUserError` naming the file.
    """
    source = Path(path)
    try:
        size = source.stat().st_size
        if source.is_dir():
            raise FsUserError("is a folder, not an alignments file", source)
        if size > MAX_DECOMPRESSED:
            raise FsUserError(
                f"refusing to load: {size // 2**20} MiB is far larger than an "
                "alignments file (is it the right file?)",
                source,
            )
        data = source.read_bytes()
    except FileNotFoundError:
        raise FsUserError(
            "the alignments file does not exist (extract the faces with fs extract or faceswap "
            "first, or give its path with -al)",
            source,
        ) from None
    except OSError as err:
        raise FsUserError(
            f"cannot read the alignments file: {err.strerror or err}", source
        ) from None
    if not data:
        raise FsUserError("the alignments file is empty", source)
    top = _unpickle(_decompress(data, source), source)
    version = _version(top, source)
    checker = _Checker(source, version)
    frames = {key: checker.frame(key, entry) for key, entry in top["__data__"].items()}
    if video is not None:
        frames = _video_keys(frames, video)
    return Alignments(source, version, MappingProxyType(frames))


def _plain(value: Any, where: str) -> Any:
    """``value`` as the plain Python types faceswap writes (NumPy values converted to lists and
    numbers); anything else is a programming error."""
    if isinstance(value, (np.ndarray, np.generic)):  # first: np.float64 is a float subclass
        return value.tolist()
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, Mapping):
        return {key: _plain(item, where) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item, where) for item in value]
    raise TypeError(f"{where}: cannot store a {type(value).__name__} in an alignments file")


def encode_alignments(
    frames: Mapping[str, Mapping[str, Any]], version: float = CURRENT_VERSION
) -> bytes:
    """The bytes of an alignments file holding ``frames`` (frame key -> ``{"faces": [...],
    "video_meta": {...}}``, faceswap's layout): zlib of a protocol-4 pickle of plain types."""
    payload = {
        "__meta__": {"version": float(version)},
        "__data__": {str(key): _plain(entry, f"frame {key!r}") for key, entry in frames.items()},
    }
    return zlib.compress(pickle.dumps(payload, protocol=_PICKLE_PROTOCOL))


def write_alignments(
    path: str | os.PathLike,
    frames: Mapping[str, Mapping[str, Any]],
    version: float = CURRENT_VERSION,
) -> Path:
    """Write ``frames`` to ``path`` as faceswap writes an alignments file, atomically (a kill
    leaves the old file or the new one). Returns the path."""
    target = Path(path)
    atomic_write_bytes(target, encode_alignments(frames, version))
    return target


def mask_entry(
    mask: np.ndarray, affine_matrix: np.ndarray, centering: str = "face", interpolator: int = 3
) -> dict[str, Any]:
    """A stored mask in faceswap's layout: a square uint8 ``mask`` (zlib-compressed), its 3x3
    frame-to-mask matrix, the cv2 interpolation flag and the centering it covers."""
    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    if mask.ndim != 2 or mask.shape[0] != mask.shape[1]:
        raise ValueError(f"a stored mask must be square 2-D, got shape {mask.shape}")
    matrix = np.asarray(affine_matrix, dtype=np.float64)
    if matrix.shape == (2, 3):
        matrix = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return {
        "mask": zlib.compress(mask.tobytes()),
        "affine_matrix": matrix.tolist(),
        "interpolator": int(interpolator),
        "stored_size": int(mask.shape[0]),
        "stored_centering": centering,
    }


def face_entry(
    landmarks: np.ndarray,
    masks: Mapping[str, Mapping[str, Any]] | None = None,
    box: tuple[int, int, int, int] | None = None,
    thumb: bytes | None = None,
) -> dict[str, Any]:
    """A face in faceswap's current layout. ``box`` (x, y, w, h) defaults to the landmarks'
    bounding box; ``thumb`` is a JPEG thumbnail (faceswap's: 96 px of the head crop)."""
    points = np.asarray(landmarks, dtype=np.float32)
    if box is None:
        x0, y0 = np.floor(points.min(axis=0)).astype(int)
        x1, y1 = np.ceil(points.max(axis=0)).astype(int)
        box = (int(x0), int(y0), int(x1 - x0), int(y1 - y0))
    x, y, w, h = (int(v) for v in box)
    return {
        "x": x,
        "y": y,
        "w": w,
        "h": h,
        "landmarks_xy": points.tolist(),
        "mask": {name: dict(entry) for name, entry in (masks or {}).items()},
        "identity": {},
        "thumb": None if thumb is None else list(thumb),
    }
