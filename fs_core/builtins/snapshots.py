"""Snapshots (``-I N``): a complete copy of the saved model beside its folder, as
``MODEL_DIR_snapshot_<ITERS>_iters/``, at the first save on or after each multiple of N iterations.

The copy (state.toml, weights.h5, logs/) is made in a hidden temporary folder beside the target and
renamed into place, so a snapshot folder is always complete; an older snapshot of the same name is
replaced only after the new one is whole. It runs after the other plugins' save hooks (``trylast``),
so TensorBoard has flushed its events before they are copied.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from fs_core.errors import FsUserError
from fs_core.hookspecs import hookimpl
from fs_core.model.atomic import fsync_dir
from fs_core.model.state import STATE_FILE
from fs_core.model.weights import WEIGHTS_FILE

KEY = "snapshots"
LOG_DIR = "logs"


def snapshot_dir(model_dir: str | Path, iterations: int) -> Path:
    folder = Path(model_dir).resolve()
    return folder.with_name(f"{folder.name}_snapshot_{int(iterations)}_iters")


def write_snapshot(model_dir: str | Path, iterations: int) -> Path:
    """Copy the saved model files to its snapshot folder for ``iterations``; returns that folder."""
    source = Path(model_dir)
    target = snapshot_dir(source, iterations)
    temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        for name in (WEIGHTS_FILE, STATE_FILE):
            shutil.copy2(source / name, temp / name)
        if (source / LOG_DIR).is_dir():
            shutil.copytree(source / LOG_DIR, temp / LOG_DIR)
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{temp.name}")
            target.rename(old)
        temp.rename(target)
        fsync_dir(target.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as error:
        shutil.rmtree(temp, ignore_errors=True)
        raise FsUserError(f"cannot write the snapshot: {error.strerror or error}", target) from None
    return target


@hookimpl
def fs_train_start(session: Any) -> None:
    interval = int(session.request.snapshot_interval or 0)
    if interval > 0:
        session.scratch[KEY] = {"interval": interval, "done": session.state.iterations // interval}


@hookimpl(trylast=True)
def fs_save(session: Any, model_dir: str, iteration: int) -> None:
    memory = session.scratch.get(KEY)
    if not memory:
        return
    reached = iteration // memory["interval"]
    if reached <= memory["done"]:
        return
    memory["done"] = reached
    folder = write_snapshot(model_dir, iteration)
    session.scratch["last_snapshot"] = {
        "iteration": iteration,
        "folder": folder.name,
    }  # for the record
    session.print(f"\nSnapshot at {iteration} iterations: {folder}")


@hookimpl
def fs_train_end(session: Any) -> None:
    session.scratch.pop(KEY, None)
