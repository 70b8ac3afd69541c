"""Rolling a model back to one of its backups without losing anything (``fs restore``, the GUI's
Restore button).

``backups/`` keeps several generations (``[global] backup_keep``); the newest is restored unless an
iteration count picks another. The current ``state.toml``, ``weights.h5`` (and ``preview.png``)
are copied into ``MODEL_DIR/archived_<YYYYmmdd_HHMMSS>/`` first; then the backup's files replace
them, each atomically, so the folder holds a loadable model at every moment. TensorBoard logs of
sessions the backup does not know are moved into the archive too, so the next session's id (which
restarts from the backup's count) finds a clean log folder. The backups themselves stay as they
are.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from fs_core.errors import FsUserError
from fs_core.folder.backups import find_backup, list_backups
from fs_core.folder.layout import (
    ARCHIVE_TIME_FORMAT,
    ARCHIVED_FILES,
    STATE_FILE,
    WEIGHTS_FILE,
    archive_dir,
    logs_dir,
    preview_file,
    session_log_name,
    weights_file,
)
from fs_core.folder.model_files import copy_atomic
from fs_core.folder.retention import Generation
from fs_core.folder.state import load_state
from fs_core.model.weights import read_weights


def _archive_folder(model_dir: Path) -> Path:
    stamp = dt.datetime.now().strftime(ARCHIVE_TIME_FORMAT)
    folder, number = archive_dir(model_dir, stamp), 0
    while folder.exists():
        number += 1
        folder = archive_dir(model_dir, f"{stamp}_{number}")
    return folder


def check_model_folder(folder: Path) -> None:
    """FsUserError unless ``folder`` is an existing folder (what restore and its list need)."""
    if folder.exists() and not folder.is_dir():
        raise FsUserError("is a file, not a model folder", folder)
    if not folder.is_dir():
        raise FsUserError("the model folder does not exist", folder)


def restore(model_dir: str | Path, iteration: int | None = None) -> tuple[int, Path]:
    """Restore the newest backup of ``model_dir`` (or the one at ``iteration``); returns (its
    iteration count, the archive folder)."""
    folder = Path(model_dir)
    check_model_folder(folder)
    backup = find_backup(folder, iteration).path
    state = load_state(backup)  # both backup files must be readable before anything changes
    read_weights(weights_file(backup))

    archive = _archive_folder(folder)
    archive.mkdir()
    try:
        for name in ARCHIVED_FILES:
            if (folder / name).is_file():
                shutil.copy2(folder / name, archive / name)
    except OSError:
        shutil.rmtree(archive, ignore_errors=True)  # nothing changed yet: leave no half archive
        raise
    # state first: a kill between the two leaves weights ahead of the state, like any save
    for name in (STATE_FILE, WEIGHTS_FILE):
        copy_atomic(backup / name, folder / name)
    preview_file(folder).unlink(missing_ok=True)  # it showed the model that was rolled back

    ids = (entry.get("id") for entry in state.sessions)
    known = {session_log_name(ident) for ident in ids if isinstance(ident, int)}
    logs = logs_dir(folder)
    if logs.is_dir():
        for child in sorted(logs.iterdir()):
            if child.name not in known:
                moved = logs_dir(archive)
                moved.mkdir(exist_ok=True)
                shutil.move(str(child), str(moved / child.name))
    return state.iterations, archive


def backups_of(model_dir: str | Path) -> list[Generation]:
    """What ``fs restore --list`` shows: the model's backups, newest first."""
    folder = Path(model_dir)
    check_model_folder(folder)
    return list_backups(folder)
