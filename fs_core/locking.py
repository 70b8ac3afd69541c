"""An exclusive, non-blocking lock on an open file, on POSIX and on Windows.

fs takes two such locks: one on a model folder for a whole training run (a second ``fs train`` on
it is refused) and one on a face folder's cache while it is written (another run leaves the cache
to the writer). Both must be released by the operating system when the process dies, so a killed
run never leaves a stale lock behind: ``flock`` on POSIX, ``msvcrt.locking`` (a byte-range lock
on the file's first byte) on Windows. The platform's module is looked up at each call, not at
import, so the fallback can be exercised on any platform.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
from collections.abc import Iterator
from typing import IO, Any

#: errors that mean "another process holds the lock" rather than "locking failed"
_HELD = {errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, getattr(errno, "EDEADLOCK", errno.EDEADLK)}


def _module(name: str) -> Any:
    """The platform module ``name`` (fcntl, msvcrt), or None where this platform has none."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


@contextlib.contextmanager
def exclusive_lock(handle: IO[Any]) -> Iterator[bool]:
    """Hold an exclusive lock on the open file ``handle`` while the block runs.

    Yields True when the lock is held and False, at once, when another holder has it (the caller
    decides whether that is an error). Any other failure to lock raises ``OSError``. On a platform
    with neither ``fcntl`` nor ``msvcrt`` there is no lock to take: it yields True.
    """
    fcntl = _module("fcntl")
    if fcntl is not None:
        with _flock(fcntl, handle) as held:
            yield held
        return
    msvcrt = _module("msvcrt")
    if msvcrt is not None:
        with _msvcrt_lock(msvcrt, handle) as held:
            yield held
        return
    yield True


@contextlib.contextmanager
def _flock(fcntl: Any, handle: IO[Any]) -> Iterator[bool]:
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in _HELD:
            yield False
            return
        raise
    try:
        yield True
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def _msvcrt_lock(msvcrt: Any, handle: IO[Any]) -> Iterator[bool]:
    """Windows: lock the first byte (locking past the end of an empty file is allowed). The lock
    starts at the file position, so the position is set to 0 for both the lock and the unlock."""
    handle.seek(0)
    try:
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    except OSError as error:
        if error.errno in _HELD:
            yield False
            return
        raise
    try:
        yield True
    finally:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
