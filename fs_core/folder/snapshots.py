"""Snapshots: complete copies of the saved model beside its folder, as
``MODEL_DIR_snapshot_<ITERS>_iters/``.

The copy (state.toml, weights.h5, logs/) is made in a hidden temporary folder beside the target and
renamed into place, so a snapshot folder is always complete; an older snapshot of the same name is
replaced only after the new one is whole.

Retention (``[global] snapshot_keep``, ``snapshot_keep_every``): once a new snapshot reads back
whole, the older ones beyond the ``snapshot_keep`` newest are deleted, except those whose iteration
count is a multiple of ``snapshot_keep_every``. A snapshot that does not fit on the disk is skipped
with a warning, after retention had its chance to make room (:mod:`fs_core.folder.disk`). Copies
and deletes that a kill interrupted are cleaned up when training next starts.
"""

from __future__ import annotations

from pathlib import Path

from fs_core.errors import FsUserError
from fs_core.folder import disk, retention
from fs_core.folder.generations import write_verify_retire
from fs_core.folder.host import SaveHost
from fs_core.folder.layout import (
    LOG_DIR,
    has_state,
    snapshot_dir,
    snapshot_iterations,
    snapshot_prefix,
)
from fs_core.folder.retention import Generation


def list_snapshots(model_dir: str | Path) -> list[Generation]:
    """The model's complete snapshot folders, newest first (by when the copied save was made)."""
    folder = Path(model_dir).resolve()
    found = []
    try:
        entries = list(folder.parent.iterdir())
    except OSError:
        return []
    for entry in entries:
        iterations = snapshot_iterations(folder, entry.name)
        if iterations is not None and entry.is_dir() and has_state(entry):
            found.append(retention.generation_of(entry, iterations))
    return retention.newest_first(found)


def clean_leftovers(model_dir: str | Path) -> list[Path]:
    """Remove the temporary and half-deleted snapshot folders a kill left beside the model."""
    folder = Path(model_dir).resolve()
    return retention.clean_leftovers(folder.parent, f".{snapshot_prefix(folder)}")


def write_snapshot(model_dir: str | Path, iterations: int) -> Path:
    """Copy the saved model files to its snapshot folder for ``iterations``; returns that folder.
    OSError (disk full ...) propagates, with nothing half-written left behind."""
    source = Path(model_dir)
    target = snapshot_dir(source, iterations)
    retention.write_generation(source, target, folders=(LOG_DIR,))
    return target


def retire(
    model_dir: str | Path, keep: int, keep_every: int, spare: Path | None = None
) -> list[Generation]:
    """Retention: delete the snapshots beyond the ``keep`` newest (not multiples of
    ``keep_every``, never ``spare``)."""
    doomed = retention.plan_deletions(list_snapshots(model_dir), keep, keep_every, spare)
    return retention.apply(doomed, lambda g: retention.remove_folder(g.path))


def make_room(model_dir: str | Path, keep: int, keep_every: int) -> list[Generation]:
    """Retention ahead of a snapshot that does not fit (the newest always stays)."""
    doomed = retention.plan_room(list_snapshots(model_dir), keep, keep_every)
    return retention.apply(doomed, lambda g: retention.remove_folder(g.path))


def _write_failed(error: OSError, target: Path) -> FsUserError:
    reason = error.strerror or str(error)
    return FsUserError(f"cannot write the snapshot: {reason}", target)


def take_snapshot(session: SaveHost, model_dir: str | Path, iteration: int) -> Path | None:
    """Snapshot the save just made: check the space, copy, verify, apply retention. Returns the
    folder, or None when the snapshot was skipped (no room; the reason is printed)."""
    options = session.config.global_
    keep, every = int(options.snapshot_keep), int(options.snapshot_keep_every)
    source = Path(model_dir)
    target = snapshot_dir(source, iteration)
    added = write_verify_retire(
        session,
        what="snapshot",
        room=target.parent,
        need=disk.copy_need(source, (LOG_DIR,)),
        make_room=lambda: make_room(source, keep, every),
        write=lambda: write_snapshot(source, iteration),
        full_place=target,
        write_failed=lambda error: _write_failed(error, target),
        retire=lambda written: retire(source, keep, every, spare=written),
    )
    if added is None:
        return None
    removed = added[1]
    session.print(
        f"\nSnapshot at {iteration} iterations: {target}"
        + (
            f"; removed {', '.join(g.path.name for g in removed)} (snapshot_keep = {keep})"
            if removed
            else ""
        )
    )
    return target
