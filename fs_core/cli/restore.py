"""``fs restore``: roll a model back to one of its backups without losing anything.

``backups/`` keeps several generations (``[global] backup_keep``); ``--list`` shows them (iteration
count, when the save was made, its average loss) and ``--iteration N`` picks one; the default is
the newest. The current ``state.toml``, ``weights.h5`` (and ``preview.png``) are copied into
``MODEL_DIR/archived_<YYYYmmdd_HHMMSS>/`` first; then the backup's files replace them, each
atomically (weights before state, as a save writes them), so the folder holds a loadable model at
every moment. TensorBoard logs of sessions the backup does not know are moved into the archive too,
so the next session's id (which restarts from the backup's count) finds a clean log folder. The
backups themselves stay as they are.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import shutil
from pathlib import Path
from typing import Any

from fs_core.errors import FsUserError
from fs_core.folder.layout import LOG_DIR, STATE_FILE
from fs_core.folder.state import load_state

ARCHIVE_PREFIX = "archived_"
ARCHIVED_FILES = ("state.toml", "weights.h5", "preview.png")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "restore",
        help="roll a model back to a backup (current files are archived); --list shows them",
        description="Put one of the model's backups (backups/, written when the average loss "
        "reached a new low) back in place: the newest, or the one --iteration names. The current "
        "files are kept in archived_<time>/.",
    )
    parser.add_argument(
        "-m",
        "--model-dir",
        dest="model_dir",
        required=True,
        metavar="MODEL_DIR",
        help="the model folder",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--list",
        action="store_true",
        help="list the backups (iterations, time of the save, average loss) and change nothing",
    )
    which.add_argument(
        "--iteration",
        type=int,
        metavar="N",
        help="restore the backup made at N iterations (default: the newest backup)",
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


def _check_folder(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise FsUserError("is a file, not a model folder", folder)
    if not folder.is_dir():
        raise FsUserError("the model folder does not exist", folder)


def restore(model_dir: str | Path, iteration: int | None = None) -> tuple[int, Path]:
    """Restore the newest backup of ``model_dir`` (or the one at ``iteration``); returns (its
    iteration count, the archive folder)."""
    from fs_core.folder.backups import find_backup  # noqa: PLC0415 (TensorFlow: fs --help starts without it)
    from fs_core.folder.layout import WEIGHTS_FILE  # noqa: PLC0415 (TensorFlow: fs --help starts without it)
    from fs_core.folder.model_files import copy_atomic  # noqa: PLC0415 (TensorFlow: fs --help starts without it)
    from fs_core.model.weights import read_weights  # noqa: PLC0415 (TensorFlow: fs --help starts without it)

    folder = Path(model_dir)
    _check_folder(folder)
    backup = find_backup(folder, iteration).path
    state = load_state(backup)  # both backup files must be readable before anything changes
    read_weights(backup / WEIGHTS_FILE)

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
    (folder / "preview.png").unlink(missing_ok=True)  # it showed the model that was rolled back

    known = {f"session_{entry.get('id')}" for entry in state.sessions}
    logs = folder / LOG_DIR
    if logs.is_dir():
        for child in sorted(logs.iterdir()):
            if child.name not in known:
                (archive / LOG_DIR).mkdir(exist_ok=True)
                shutil.move(str(child), str(archive / LOG_DIR / child.name))
    return state.iterations, archive


def backups_table(model_dir: str | Path) -> str:
    """``fs restore --list``: one line per backup, newest first."""
    from fs_core.folder.backups import list_backups  # noqa: PLC0415 (TensorFlow: fs --help starts without it)

    folder = Path(model_dir)
    _check_folder(folder)
    found = list_backups(folder)
    if not found:
        return f"{folder}: no backups yet (one is written when the average loss reaches a new low)"
    lines = [
        f"Backups of {folder}, newest first ('fs restore -m {folder} --iteration N' restores one):",
        f"  {'iterations':>10}  {'saved':19}  {'average loss':>12}  folder",
    ]
    for generation in found:
        saved = (
            dt.datetime.fromtimestamp(generation.saved).strftime("%Y-%m-%d %H:%M:%S")
            if math.isfinite(generation.saved)
            else "unreadable state"
        )
        loss = f"{generation.loss:.5f}" if generation.loss is not None else "-"
        where = generation.path.relative_to(folder).as_posix()
        lines.append(
            f"  {generation.iteration:>10}  {saved:19}  {loss:>12}  "
            + (f"{where}/ (state.toml, weights.h5)" if generation.legacy else f"{where}/")
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.list:
        print(backups_table(args.model_dir))
        return 0
    iterations, archive = restore(args.model_dir, args.iteration)
    print(
        f"Restored the backup at {iterations} iterations in {args.model_dir}; the previous files "
        f"are in {archive}. 'fs train' resumes from here."
    )
    return 0
