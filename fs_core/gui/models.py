"""The model folders under the root, as the page lists and details them.

Everything about a model's training comes from its record (``fs_core.record``), which
``fs analysis`` reads too; only the stored options come from ``state.toml``. A folder whose files
are damaged still lists, as failed with the reason, so one bad model never hides the others.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from fs_core.errors import FsUserError
from fs_core.folder.layout import has_state, record_dir
from fs_core.folder.state import load_state
from fs_core.gui.config_view import stored_config
from fs_core.gui.installed import Installed
from fs_core.gui.launch import Launcher, log_tail
from fs_core.gui.security import model_path
from fs_core.record import is_training as record_is_training
from fs_core.record import model_summary, previews, recent_messages, sessions_table
from fs_core.record.convergence import recipe_summary


def is_model_folder(path: Path) -> bool:
    """A model folder holds ``state.toml`` (saved at least once) or ``record/`` (training began)."""
    return path.is_dir() and (has_state(path) or record_dir(path).is_dir())


def summary(model_dir: Path) -> dict[str, Any]:
    try:
        return model_summary(model_dir)
    except FsUserError as error:
        return _failed(model_dir, error)


def _failed(model_dir: Path, error: FsUserError) -> dict[str, Any]:
    return {
        "name": model_dir.name,
        "model": None,
        "iterations": 0,
        "last_save": None,
        "state": "failed",
        "error": error.one_line(),
        "trend": [],
        "session": None,
        "status": None,
        "target": None,
    }


def _listed(root: Path, child: Path) -> dict[str, Any]:
    """A model folder's summary; a symbolic link the server will not follow lists as failed with
    the reason, so the list says why its page cannot open."""
    if child.is_symlink():
        try:
            model_path(root, child.name)
        except FsUserError as error:
            return _failed(child, error)
    return summary(child)


def list_models(root: Path) -> list[dict[str, Any]]:
    try:
        children = sorted(root.iterdir(), key=lambda p: p.name)
    except OSError as error:
        raise FsUserError(f"cannot list the root folder: {error.strerror or error}", root) from None
    return [
        _listed(root, child)
        for child in children
        if not child.name.startswith(".") and is_model_folder(child)
    ]


def is_training(model_dir: Path, launcher: Launcher) -> bool:
    """A trainer runs for this folder: one this server started, or one the record (or the
    folder's lock) says is alive."""
    try:
        return launcher.busy(model_dir) or record_is_training(model_dir)
    except FsUserError:
        return False


def detail(model_dir: Path, installed: Installed) -> dict[str, Any]:
    result = summary(model_dir)
    config: dict[str, Any] = {}
    locked: list[str] = []
    recipe = None
    if has_state(model_dir):
        try:
            state = load_state(model_dir)
            config, locked = stored_config(installed, state)
            recipe = recipe_summary(model_dir, state.to_toml())
        except FsUserError as error:
            result.setdefault("config_error", error.one_line())
    result.update(
        sessions=sessions_table(model_dir),
        config=config,
        locked=locked,
        messages=recent_messages(model_dir),
        previews=previews(model_dir),
        log_tail=log_tail(model_dir),
        recipe=recipe,
    )
    return result


def sessions_csv(model_dir: Path) -> str:
    """The sessions table as CSV, columns in the table's order."""
    rows = sessions_table(model_dir)
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
