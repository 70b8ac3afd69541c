"""A whole new model folder written in one step (``fs import``): assembled in a hidden staging
folder beside the target and renamed into place only when complete, so a failed write leaves
nothing that looks like a model, and the target, when it existed (empty), is untouched."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from fs_core.errors import FsUserError
from fs_core.folder.layout import staging_prefix, weights_file
from fs_core.folder.state import save_state
from fs_core.model.state import ModelState


def check_new_folder(target: Path) -> None:
    """The model folder to write must not exist yet, or be an empty folder."""
    if target.exists():
        if not target.is_dir():
            raise FsUserError("the model folder to write is a file", target)
        if any(target.iterdir()):
            raise FsUserError("the model folder to write is not empty; give a new folder", target)


def write_new_folder(
    target: Path, state: ModelState, write_weights: Callable[[Path], None], why: str
) -> None:
    """Write ``weights.h5`` (through ``write_weights(path)``) and ``state`` as the new model folder
    ``target`` (missing or empty), whole or not at all; ``why`` ("import") names the staging
    folder, so a leftover says what made it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=staging_prefix(target, why), dir=target.parent))
    try:
        write_weights(weights_file(staging))
        save_state(staging, state)
        os.chmod(staging, 0o777 & ~_umask())
        os.rename(staging, target)  # onto a missing or empty folder: atomic
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
