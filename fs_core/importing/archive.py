"""Reading a faceswap ``.keras`` file as data: no unpickling, no code, no extraction by name.

A ``.keras`` file is a zip archive written by ``keras.Model.save``: ``config.json`` (the model's
layers as JSON), ``metadata.json`` (Keras version, date) and ``model.weights.h5`` (the variables);
faceswap appends ``optimizer.pt`` (a PyTorch pickle) when it saves the optimizer. Users hand these
files around, so they are treated as hostile: ``keras.saving.load_model`` is never called (it can
deserialise code), only the known members are read, by exact name, into memory or a private
temporary file (never to a path taken from the archive), with bounded member counts and sizes and
a compression-ratio guard against zip bombs. Anything damaged or truncated is one FsUserError that
names the file.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from fs_core.errors import FsUserError

CONFIG = "config.json"
METADATA = "metadata.json"
WEIGHTS = "model.weights.h5"
TORCH_OPTIMIZER = "optimizer.pt"

MAX_MEMBERS = 64
MAX_JSON_BYTES = 64 * 1024 * 1024
MAX_WEIGHTS_BYTES = 64 * 1024**3
MAX_RATIO = 200  # uncompressed / compressed; weights and JSON compress far less than this
_CHUNK = 1024 * 1024


@attrs.frozen
class KerasArchive:
    """What a ``.keras`` file holds, read as data."""

    path: Path
    config: dict[str, Any]
    metadata: dict[str, Any]
    members: tuple[str, ...]

    @property
    def has_torch_optimizer(self) -> bool:
        return TORCH_OPTIMIZER in self.members


def _damaged(path: Path, why: str) -> FsUserError:
    return FsUserError(f"not a readable faceswap .keras model file ({why})", path)


def _check_members(path: Path, archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise _damaged(path, f"{len(infos)} members, more than {MAX_MEMBERS}")
    found: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        if name.startswith(("/", "\\")) or ".." in Path(name).parts or "\\" in name:
            raise _damaged(path, f"member name {name!r} points outside the archive")
        if name in found:
            raise _damaged(path, f"member {name!r} appears twice")
        if info.flag_bits & 0x1:
            raise _damaged(path, f"member {name!r} is encrypted")
        ratio_base = max(info.compress_size, 1)
        if info.file_size > 1024 * 1024 and info.file_size / ratio_base > MAX_RATIO:
            raise _damaged(path, f"member {name!r} expands {info.file_size // ratio_base}x")
        found[name] = info
    for needed in (CONFIG, WEIGHTS):
        if needed not in found:
            raise _damaged(path, f"no {needed} in the archive")
    return found


def _read_bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    if info.file_size > limit:
        raise ValueError(f"{info.filename} is {info.file_size} bytes, more than {limit}")
    with archive.open(info) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{info.filename} is larger than {limit} bytes")
    return data


def _json(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> dict[str, Any]:
    try:
        value = json.loads(_read_bounded(archive, info, MAX_JSON_BYTES).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _damaged(path, f"{info.filename} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise _damaged(path, f"{info.filename} is not a JSON object")
    return value


_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, ValueError)


def read_archive(path: str | Path) -> KerasArchive:
    """The JSON members of ``path``; FsUserError naming it when it is not a sound archive."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = _check_members(path, archive)
            config = _json(archive, members[CONFIG], path)
            metadata = _json(archive, members[METADATA], path) if METADATA in members else {}
    except FsUserError:
        raise
    except FileNotFoundError:
        raise FsUserError("no such file", path) from None
    except _READ_ERRORS as error:
        raise _damaged(path, str(error) or type(error).__name__) from None
    except OSError as error:
        raise _damaged(path, error.strerror or str(error)) from None
    return KerasArchive(path=path, config=config, metadata=metadata, members=tuple(members))


@contextlib.contextmanager
def weights_file(path: str | Path) -> Iterator[Path]:
    """``model.weights.h5`` of the archive, copied to a private temporary file for h5py.

    The copy is bounded by the size the archive declares, and zipfile checks the member's CRC
    when the read reaches its end, so a truncated or altered member is an error here, not a
    half-read array later.
    """
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="fs-import-") as folder:
        target = Path(folder) / WEIGHTS
        try:
            with zipfile.ZipFile(path) as archive:
                info = _check_members(path, archive)[WEIGHTS]
                if info.file_size > MAX_WEIGHTS_BYTES:
                    raise _damaged(path, f"{WEIGHTS} is larger than {MAX_WEIGHTS_BYTES} bytes")
                with archive.open(info) as source, open(target, "wb") as sink:
                    copied = 0
                    while chunk := source.read(_CHUNK):
                        copied += len(chunk)
                        if copied > info.file_size:
                            raise _damaged(path, f"{WEIGHTS} is longer than declared")
                        sink.write(chunk)
        except FsUserError:
            raise
        except FileNotFoundError:
            raise FsUserError("no such file", path) from None
        except _READ_ERRORS as error:
            raise _damaged(path, str(error) or type(error).__name__) from None
        except OSError as error:
            if error.filename is not None and Path(error.filename) == target:
                raise  # the temporary folder's disk, not the archive
            raise _damaged(path, error.strerror or str(error)) from None
        yield target


def read_member(path: str | Path, name: str, limit: int = MAX_WEIGHTS_BYTES) -> bytes:
    """One more member (``optimizer.pt``) as bytes, bounded and CRC-checked like the others."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            info = _check_members(path, archive).get(name)
            if info is None:
                raise _damaged(path, f"no {name} in the archive")
            return _read_bounded(archive, info, limit)
    except FsUserError:
        raise
    except _READ_ERRORS as error:
        raise _damaged(path, str(error) or type(error).__name__) from None
    except OSError as error:
        raise _damaged(path, error.strerror or str(error)) from None
