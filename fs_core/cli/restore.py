"""``fs restore``: roll a model back to its last backup without losing anything.

The current ``state.toml``, ``weights.h5`` (and ``preview.png``) are copied into
``MODEL_DIR/archived_<YYYYmmdd_HHMMSS>/`` first; then the backup's files replace them, each
atomically (weights before state, as a save writes them), so the folder holds a loadable model at
every moment. TensorBoard logs of sessions the backup does not know are moved into the archive too,
so the next session's id (which restarts from the backup's count) finds a clean log folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
from pathlib import Path
from typing import Any

from fs_core.errors import FsUserError

ARCHIVE_PREFIX = "archived_"
ARCHIVED_FILES = ("state.toml", "weights.h5", "preview.png")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "restore",
        help="roll a model back to its last backup (current files are archived)",
        description="Put the model's last backup (backups/, written when the average loss reached "
        "a new low) back in place. The current files are kept in archived_<time>/.",
    )
    parser.add_argument(
        "-m",
        "--model-dir",
        dest="model_dir",
        required=True,
        metavar="MODEL_DIR",
        help="the model folder",
    )
    parser.set_defaults(func=run)
    return parser


def _archive_folder(model_dir: Path) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d_%H%M%S")
    folder, number = model_dir / f"{ARCHIVE_PREFIX}{stamp}", 0
    while folder.exists():
        number += 1
        folder = model_dir / f"{ARCHIVE_PREFIX}{stamp}_{number}"
    return folder


def restore(model_dir: str | Path) -> tuple[int, Path]:
    """Restore the backup of ``model_dir``; returns (its iteration count, the archive folder)."""
    from fs_core.builtins.tensorboard import LOG_DIR
    from fs_core.model.state import STATE_FILE, load_state
    from fs_core.model.weights import WEIGHTS_FILE, read_weights
    from fs_core.training.model_dir import BACKUP_DIR, copy_atomic

    folder = Path(model_dir)
    if folder.exists() and not folder.is_dir():
        raise FsUserError("is a file, not a model folder", folder)
    if not folder.is_dir():
        raise FsUserError("the model folder does not exist", folder)
    backups = folder / BACKUP_DIR
    if not (backups / STATE_FILE).is_file() or not (backups / WEIGHTS_FILE).is_file():
        raise FsUserError(
            f"no backup to restore ({BACKUP_DIR}/ with {STATE_FILE} and {WEIGHTS_FILE}"
            " is written when the average loss reaches a new low)",
            folder,
        )
    state = load_state(backups)  # both backup files must be readable before anything changes
    read_weights(backups / WEIGHTS_FILE)

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
        copy_atomic(backups / name, folder / name)
    (folder / "preview.png").unlink(missing_ok=True)  # it showed the model that was rolled back

    known = {f"session_{entry.get('id')}" for entry in state.sessions}
    logs = folder / LOG_DIR
    if logs.is_dir():
        for child in sorted(logs.iterdir()):
            if child.name not in known:
                (archive / LOG_DIR).mkdir(exist_ok=True)
                shutil.move(str(child), str(archive / LOG_DIR / child.name))
    return state.iterations, archive


def run(args: argparse.Namespace) -> int:
    iterations, archive = restore(args.model_dir)
    print(
        f"Restored the backup at {iterations} iterations in {args.model_dir}; the previous files "
        f"are in {archive}. 'fs train' resumes from here."
    )
    return 0
