"""``fs restore``: roll a model back to one of its backups without losing anything.

``backups/`` keeps several generations (``[global] backup_keep``); ``--list`` shows them (iteration
count, when the save was made, its average loss) and ``--iteration N`` picks one; the default is
the newest. What restoring does (the current files archived in ``archived_<YYYYmmdd_HHMMSS>/``
first, the backup's copied back atomically) is :mod:`fs_core.folder.restore`'s; this module parses
the arguments and prints.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
from pathlib import Path
from typing import Any

from fs_core.folder.layout import STATE_FILE, WEIGHTS_FILE


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


def backups_table(model_dir: str | Path) -> str:
    """``fs restore --list``: one line per backup, newest first."""
    from fs_core.folder.restore import backups_of  # noqa: PLC0415 (TensorFlow: fs --help starts without it)

    folder = Path(model_dir)
    found = backups_of(folder)
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
            + (f"{where}/ ({STATE_FILE}, {WEIGHTS_FILE})" if generation.legacy else f"{where}/")
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from fs_core.folder.restore import restore  # noqa: PLC0415 (TensorFlow: fs --help starts without it)

    if args.list:
        print(backups_table(args.model_dir))
        return 0
    iterations, archive = restore(args.model_dir, args.iteration)
    print(
        f"Restored the backup at {iterations} iterations in {args.model_dir}; the previous files "
        f"are in {archive}. 'fs train' resumes from here."
    )
    return 0
