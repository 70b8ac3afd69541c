"""Snapshots (``-I N``): a complete copy of the saved model beside its folder, as
``MODEL_DIR_snapshot_<ITERS>_iters/``, at the first save on or after each multiple of N iterations.
The copying, checking and retention are the model folder's (:mod:`fs_core.folder.snapshots`); this
plugin keeps the schedule. It runs after the other plugins' save hooks (``trylast``), so
TensorBoard has flushed its events before they are copied.
"""

from __future__ import annotations

from typing import Any

import attrs

from fs_core.folder.snapshots import clean_leftovers, take_snapshot
from fs_core.hookspecs import hookimpl
from fs_core.stash import StashKey
from fs_core.training.requests import LastSnapshot


@attrs.define
class SnapshotSchedule:
    """``-I``: the interval, and how many intervals the model had passed at the last snapshot."""

    interval: int
    done: int


KEY: StashKey[SnapshotSchedule] = StashKey("snapshots")


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
    if folder is not None:  # the training record's save record names it
        session.running.last_snapshot = LastSnapshot(iteration=iteration, folder=folder.name)


@hookimpl
def fs_train_end(session: Any) -> None:
    session.stash.pop(KEY, None)
