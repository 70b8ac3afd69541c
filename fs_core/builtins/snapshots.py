"""Snapshots (``-I N``): a complete copy of the saved model beside its folder, as
``MODEL_DIR_snapshot_<ITERS>_iters/``, at the first save on or after each multiple of N iterations.
The copying, checking and retention are the model folder's (:mod:`fs_core.folder.snapshots`); this
plugin keeps the schedule. It runs after the other plugins' save hooks (``trylast``), so
TensorBoard has flushed its events before they are copied.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from fs_core.folder.snapshots import clean_leftovers, take_snapshot
from fs_core.hookspecs import hookimpl
from fs_core.stash import StashKey


@attrs.define
class SnapshotSchedule:
    """``-I``: the interval, and how many intervals the model had passed at the last snapshot."""

    interval: int
    done: int


@attrs.frozen
class LastSnapshot:
    """The snapshot written last in this run (the training record names it in its save record)."""

    iteration: int
    folder: str


KEY: StashKey[SnapshotSchedule] = StashKey("snapshots")
LAST_SNAPSHOT: StashKey[LastSnapshot] = StashKey("last snapshot")


def record_snapshot(session: Any, iteration: int, folder: Path) -> None:
    """What the training record's save record names (see fs_core.builtins.record)."""
    session.stash[LAST_SNAPSHOT] = LastSnapshot(iteration=iteration, folder=folder.name)


@hookimpl
def fs_train_start(session: Any) -> None:
    if session.is_chief:
        clean_leftovers(session.model_dir)
    interval = int(session.request.snapshot_interval or 0)
    if interval > 0:
        session.stash[KEY] = SnapshotSchedule(interval, session.state.iterations // interval)


@hookimpl(trylast=True)
def fs_save(session: Any, model_dir: str, iteration: int) -> None:
    memory = session.stash.get(KEY, None)
    if memory is None:
        return
    reached = iteration // memory.interval
    if reached <= memory.done:
        return
    memory.done = reached
    folder = take_snapshot(session, model_dir, iteration)
    if folder is not None:
        record_snapshot(session, iteration, folder)


@hookimpl
def fs_train_end(session: Any) -> None:
    session.stash.pop(KEY, None)
