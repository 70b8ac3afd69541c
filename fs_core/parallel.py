"""Per-face work over a large face set, spread over worker processes.

Why processes: reading a face is mostly Python (the faceswap header is a Python literal, and
parsing it is about half the cost of reading a face), so it holds the GIL and threads do not run
it in parallel. Indexing and caching 2 x 10,000 faces took about 50 s on a 2-core machine in one
process; worker processes divide that by the core count. Small sets (tests, the demo) stay in
the calling process, where starting workers would cost more than it saves.

Workers are started with ``spawn`` (a fresh interpreter, never a fork of a process that runs
TensorFlow's threads), so the function and its arguments must be picklable: module-level
functions or instances of module-level classes. They ignore Ctrl-C: the terminal sends it to the
whole process group, and the calling process, which handles it (training saves and stops), shuts
them down itself.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

#: below this many items the work stays in the calling process
PROCESS_MIN_ITEMS = 1000


def worker_count() -> int:
    """Worker processes to use: one per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def use_processes(count: int) -> bool:
    """Whether ``count`` items are worth worker processes on this machine."""
    return count >= PROCESS_MIN_ITEMS and worker_count() > 1


@contextlib.contextmanager
def worker_pool(workers: int | None = None, nice: int = 0) -> Iterator[ProcessPoolExecutor]:
    """Worker processes (``workers``, default :func:`worker_count`), shut down on leaving: work
    not yet started is dropped. ``nice``: how much lower their CPU priority is (work done in the
    background while training runs gives way to it)."""
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        workers or worker_count(), mp_context=context, initializer=_start_worker, initargs=(nice,)
    )
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def map_in_processes(
    function: Callable[[Any], Any],
    items: Sequence[Any] | Iterable[Any],
    chunksize: int = 64,
    nice: int = 0,
    workers: int | None = None,
) -> Generator[Any, None, None]:
    """``function(item)`` for every item, in order, computed by worker processes (see
    :func:`worker_pool` for ``nice`` and ``workers``).

    The first item that raises stops the work: its exception is raised here, as the worker raised
    it (it must be picklable, as fs's :class:`~fs_core.errors.FsUserError` is), and the items not
    yet started are dropped.
    """
    with worker_pool(workers, nice) as pool:
        yield from pool.map(function, items, chunksize=chunksize)


def _start_worker(nice: int) -> None:
    """Worker start-up: Ctrl-C is the calling process's to handle (see the module docstring)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if nice:
        with contextlib.suppress(OSError, AttributeError):
            os.nice(nice)
