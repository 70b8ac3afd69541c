"""Atomic file writes: a crash or kill at any moment leaves either the old file or the new one.

Write to a temporary file in the same folder, flush and fsync it, ``os.replace`` it over the target,
then fsync the folder so the rename itself survives a power cut.

A write the system refuses (disk full, read-only or permission-denied folder) is the user's to fix,
not a bug: it becomes :class:`~fs_core.errors.FsUserError` naming the target file, after the
temporary file is removed, so the previous version of the file is left exactly as it was.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from fs_core.errors import FsUserError

#: temporary files of :func:`atomic_path` are named ``.<target name>.<random>.tmp``
TEMP_PREFIX = "."
TEMP_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_dir(folder: str | os.PathLike) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_error(error: OSError, target: Path) -> FsUserError:
    """The user-facing error for a write the system refused (the target file named)."""
    code = getattr(error, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        reason = "no space left on the disk"
    elif code in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason = f"permission denied ({error.strerror or 'read-only'})"
    else:
        reason = error.strerror or str(error) or type(error).__name__
    return FsUserError(
        f"cannot write the file: {reason}; the previous version is unchanged", target
    )


def temp_files(folder: str | os.PathLike, names: tuple[str, ...]) -> list[Path]:
    """Temporary files :func:`atomic_path` left in ``folder`` for targets ``names`` (after a
    kill)."""
    found: list[Path] = []
    with contextlib.suppress(OSError):
        for entry in Path(folder).iterdir():
            for name in names:
                prefix = f"{TEMP_PREFIX}{name}."
                if (
                    entry.name.startswith(prefix)
                    and entry.name.endswith(TEMP_SUFFIX)
                    and len(entry.name) > len(prefix) + len(TEMP_SUFFIX)
                    and entry.is_file()
                ):
                    found.append(entry)
    return sorted(found)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically.

    On an exception the temporary file is removed and ``path`` is untouched; an ``OSError`` (disk
    full, permission denied) is raised as FsUserError naming ``path``.
    """
    target = Path(path)
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f"{TEMP_PREFIX}{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent
        )
    except OSError as error:
        raise write_error(error, target) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; saved models get normal permissions
        yield tmp
        with open(tmp, "rb+") as handle:
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except BaseException as error:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(error, OSError) and _about(error, (tmp, target)):
            raise write_error(error, target) from None
        raise


def _about(error: OSError, paths: tuple[Path, ...]) -> bool:
    """Whether ``error`` concerns writing ``paths`` (not, say, a missing source being copied)."""
    name = getattr(error, "filename", None)
    return name is None or os.fspath(name) in {os.fspath(p) for p in paths}


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
