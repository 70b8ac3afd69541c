"""The C heap under a long run: how much of it is in use, and handing freed memory back.

TensorFlow, oneDNN and h5py allocate their buffers with the C library's ``malloc``. glibc keeps
memory that was freed in its arenas for reuse instead of returning it to the system, so over a
run of days the resident size of the process creeps upward in steps even when nothing leaks: the
freed pieces are scattered between live ones and the arena cannot shrink past them. Two things
help:

* :func:`release_free_heap` asks glibc (``malloc_trim``) to return the free pages inside its
  arenas, not only at their tops. Training calls it after each save, where a burst of large
  temporary buffers (weights written, copies verified) has just been freed. It takes a few
  milliseconds.
* :func:`heap_usage` reads ``mallinfo2``: the bytes live in the heap and the bytes it holds free.
  A leak grows the first; the allocator's fragmentation grows only the second. The soak
  benchmark (``bench/soak.py``) reports both beside the resident size.

On a C library other than glibc (macOS, musl) neither exists: the first does nothing and the
second returns None.
"""

from __future__ import annotations

import ctypes
import functools

import attrs

_MALLINFO2_FIELDS = (
    "arena",  # bytes in the main and thread arenas (from sbrk and mmap'ed heaps)
    "ordblks",
    "smblks",
    "hblks",
    "hblkhd",  # bytes in blocks mmap'ed on their own (large allocations)
    "usmblks",
    "fsmblks",
    "uordblks",  # bytes allocated (live) in the arenas
    "fordblks",  # bytes free in the arenas (held, not returned)
    "keepcost",
)


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO2_FIELDS]


@attrs.frozen
class HeapUsage:
    """The C heap at one moment, in bytes."""

    in_use: int  # live allocations: arenas plus blocks mmap'ed on their own
    held_free: int  # freed but kept by the allocator for reuse


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The process's glibc, when it has the two functions; None elsewhere. (Cached: loading the
    library is a lookup of something that does not change while the process runs.)"""
    try:
        library = ctypes.CDLL(None)  # the symbols already loaded into this process
    except OSError:
        return None
    if not (hasattr(library, "malloc_trim") and hasattr(library, "mallinfo2")):
        return None
    library.malloc_trim.argtypes = [ctypes.c_size_t]
    library.malloc_trim.restype = ctypes.c_int
    library.mallinfo2.argtypes = []
    library.mallinfo2.restype = _Mallinfo2
    return library


def release_free_heap() -> bool:
    """Return the C heap's free pages to the system; True when glibc released any."""
    library = _glibc()
    if library is None:
        return False
    return bool(library.malloc_trim(0))


def heap_usage() -> HeapUsage | None:
    """Live and held-free bytes of the C heap (glibc only; None elsewhere)."""
    library = _glibc()
    if library is None:
        return None
    info = library.mallinfo2()
    return HeapUsage(in_use=int(info.uordblks + info.hblkhd), held_free=int(info.fordblks))
