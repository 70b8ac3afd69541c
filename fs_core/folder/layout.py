"""Names of the files and folders of a model folder, and the small functions that build their paths.

This is the one place that spells the layout; everything else asks it, so that renaming a file or
moving a folder is a change here and nowhere else::

    MODEL_DIR/
        state.toml, weights.h5      the save (the model layer reads and writes their formats)
        settings.toml               settings changed while training (fs set, the GUI)
        preview.png                 the last preview
        backups/<N>_iters/          backup generations (backups/state.toml + weights.h5 before them)
        logs/session_<N>/           TensorBoard event files, one folder per training session
        record/                     the training record: events.jsonl, trainer.json, trainer.log,
                                    gui_config.toml, face_losses.npz/.json, previews/,
                                    commands/
        archived_<YYYYmmdd_HHMMSS>/ what ``fs restore`` replaced
        .fs.lock                    held by the trainer for a whole run
    MODEL_DIR_snapshot_<N>_iters/   snapshots, beside the folder

Leftovers a kill can leave: ``.<name>.<random>.tmp`` (a copy being written) and
``.<name>.<random>.deleting`` (a folder being removed), beside what they were for.
"""

from __future__ import annotations

import re
from pathlib import Path

#: the model's state and history (format: :mod:`fs_core.model.state`)
STATE_FILE = "state.toml"
#: the model's variables (format: :mod:`fs_core.model.weights`)
WEIGHTS_FILE = "weights.h5"
#: the last preview image
PREVIEW_FILE = "preview.png"
#: settings changed with ``fs set`` or the GUI, applied over the config file at every start
LIVE_SETTINGS_FILE = "settings.toml"
#: backup generations, ``<N>_iters`` each
BACKUP_DIR = "backups"
#: TensorBoard event files, one ``session_<N>`` folder per training session
LOG_DIR = "logs"
#: the training record
RECORD_DIR = "record"
EVENTS_FILE = "events.jsonl"
TRAINER_FILE = "trainer.json"
TRAINER_LOG = "trainer.log"
#: every training face's moving-average loss (NumPy .npz) and its readable summary (JSON)
FACE_LOSSES_FILE = "face_losses.npz"
FACE_LOSSES_SUMMARY = "face_losses.json"
GUI_CONFIG_FILE = "gui_config.toml"
PREVIEWS_DIR = "previews"
COMMANDS_DIR = "commands"
#: ``fs restore`` moves the files it replaces into ``archived_<YYYYmmdd_HHMMSS>/``
ARCHIVE_PREFIX = "archived_"
ARCHIVE_TIME_FORMAT = "%Y%m%d_%H%M%S"
#: the advisory lock a training run holds
LOCK_FILE = ".fs.lock"
#: the files fs saves in a model folder (and in backups/), whose leftover temporary files it removes
SAVED_FILES = (STATE_FILE, WEIGHTS_FILE, PREVIEW_FILE)
#: the files ``fs restore`` replaces (and archives first)
ARCHIVED_FILES = (STATE_FILE, WEIGHTS_FILE, PREVIEW_FILE)
#: suffixes of the hidden leftovers of a copy being written and a folder being deleted
TEMP_SUFFIX = ".tmp"
DELETING_SUFFIX = ".deleting"
#: the prefix of the hidden folder a delete of the pre-generations backup moves its files into
LEGACY_DELETING_PREFIX = ".legacy."

_GENERATION = re.compile(r"^(\d+)_iters$")
_SESSION_LOG = "session_"


def state_file(model_dir: str | Path) -> Path:
    return Path(model_dir) / STATE_FILE


def weights_file(model_dir: str | Path) -> Path:
    return Path(model_dir) / WEIGHTS_FILE


def preview_file(model_dir: str | Path) -> Path:
    return Path(model_dir) / PREVIEW_FILE


def live_settings_file(model_dir: str | Path) -> Path:
    return Path(model_dir) / LIVE_SETTINGS_FILE


def has_state(model_dir: str | Path) -> bool:
    """Whether ``model_dir`` holds a saved fs model (its ``state.toml``)."""
    return state_file(model_dir).is_file()


def has_save(model_dir: str | Path) -> bool:
    """Whether ``model_dir`` holds both files of a save."""
    return state_file(model_dir).is_file() and weights_file(model_dir).is_file()


def backups_dir(model_dir: str | Path) -> Path:
    return Path(model_dir) / BACKUP_DIR


def generation_name(iterations: int) -> str:
    """The folder name of a backup (and the tail of a snapshot's) at ``iterations``."""
    return f"{int(iterations)}_iters"


def generation_iterations(name: str) -> int | None:
    """The iteration count a ``<N>_iters`` folder name stands for, else None."""
    match = _GENERATION.match(name)
    return int(match.group(1)) if match else None


def backup_dir(model_dir: str | Path, iterations: int) -> Path:
    return backups_dir(model_dir) / generation_name(iterations)


def is_backup_file(path: str | Path) -> bool:
    """Whether ``path`` is a file of a backup (``backups/<N>_iters/`` or, before generations,
    ``backups/`` itself)."""
    folder = Path(path).parent
    return folder.name == BACKUP_DIR or (
        folder.parent.name == BACKUP_DIR and generation_iterations(folder.name) is not None
    )


def snapshot_prefix(model_dir: str | Path) -> str:
    """What the names of the model's snapshot folders (beside it) start with."""
    return f"{Path(model_dir).resolve().name}_snapshot_"


def snapshot_dir(model_dir: str | Path, iterations: int) -> Path:
    folder = Path(model_dir).resolve()
    return folder.with_name(snapshot_prefix(folder) + generation_name(iterations))


def snapshot_iterations(model_dir: str | Path, name: str) -> int | None:
    """The iteration count of the model's snapshot folder called ``name``, else None."""
    prefix = snapshot_prefix(model_dir)
    return generation_iterations(name[len(prefix) :]) if name.startswith(prefix) else None


def snapshot_glob(model_dir: str | Path) -> str:
    """A glob pattern (relative to the folder's parent) for the model's snapshot folders."""
    return f"{snapshot_prefix(model_dir)}*_iters"


def logs_dir(model_dir: str | Path) -> Path:
    return Path(model_dir) / LOG_DIR


def session_log_name(session_id: int) -> str:
    return f"{_SESSION_LOG}{int(session_id)}"


def session_log_id(name: str) -> int | None:
    """The session id of a ``session_<N>`` log folder name, else None."""
    ident = name[len(_SESSION_LOG) :] if name.startswith(_SESSION_LOG) else ""
    return int(ident) if ident.isdigit() else None


def session_log_dir(model_dir: str | Path, session_id: int) -> Path:
    return logs_dir(model_dir) / session_log_name(session_id)


def record_dir(model_dir: str | Path) -> Path:
    return Path(model_dir) / RECORD_DIR


def events_file(model_dir: str | Path) -> Path:
    return record_dir(model_dir) / EVENTS_FILE


def trainer_file(model_dir: str | Path) -> Path:
    return record_dir(model_dir) / TRAINER_FILE


def trainer_log(model_dir: str | Path) -> Path:
    return record_dir(model_dir) / TRAINER_LOG


def gui_config_file(model_dir: str | Path) -> Path:
    return record_dir(model_dir) / GUI_CONFIG_FILE


def face_losses_file(model_dir: str | Path) -> Path:
    return record_dir(model_dir) / FACE_LOSSES_FILE


def face_losses_summary(model_dir: str | Path) -> Path:
    return record_dir(model_dir) / FACE_LOSSES_SUMMARY


def previews_dir(model_dir: str | Path) -> Path:
    return record_dir(model_dir) / PREVIEWS_DIR


def commands_dir(model_dir: str | Path) -> Path:
    return record_dir(model_dir) / COMMANDS_DIR


def preview_relpath(name: str) -> str:
    """How the record names a preview image (relative to the model folder, with ``/``)."""
    return f"{RECORD_DIR}/{PREVIEWS_DIR}/{name}"


def archive_dir(model_dir: str | Path, stamp: str) -> Path:
    """The folder ``fs restore`` archives into, for a time formatted by
    :data:`ARCHIVE_TIME_FORMAT`."""
    return Path(model_dir) / f"{ARCHIVE_PREFIX}{stamp}"


def staging_prefix(target: str | Path, why: str) -> str:
    """The name prefix of the hidden folder a new model folder is assembled in, beside it."""
    return f".{Path(target).name}.{why}-"


def lock_file(model_dir: str | Path) -> Path:
    return Path(model_dir) / LOCK_FILE
