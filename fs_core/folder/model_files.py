"""The model folder (README.md, "The model folder"): new versus resume, saving, and backups.

A model folder is either new (absent, empty, or holding only fs's training record: ``fs gui``
creates ``record/`` with the trainer's log before the first save, and a run that died before its
first save leaves it) or an fs model (it has ``state.toml``). Anything else is refused, so fs never
writes over files it does not own. Saves write ``weights.h5`` then ``state.toml``, each atomically;
a backup copies both into a new generation under ``backups/`` when the average loss since the last
save reaches a new low (:mod:`fs_core.folder.backups`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import attrs

from fs_core.atomic import atomic_path, temp_files
from fs_core.errors import FsUserError
from fs_core.folder import backups
from fs_core.folder.layout import (
    BACKUP_DIR,
    RECORD_DIR,
    SAVED_FILES,
    STATE_FILE,
    WEIGHTS_FILE,
    backups_dir,
    lock_file,
    state_file,
    weights_file,
)
from fs_core.folder.state import load_state, save_state
from fs_core.locking import exclusive_lock
from fs_core.model.state import ModelState


def _check_creatable(folder: Path) -> None:
    """A new model folder must be creatable: its nearest existing parent is a folder."""
    parent = folder.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise FsUserError(
            f"cannot create the model folder: {parent} is a file, not a folder", folder
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise FsUserError(f"cannot create the model folder: {parent} is not writable", folder)


def remove_stale_temp_files(model_dir: str | Path) -> list[Path]:
    """Delete the temporary files a killed save left in ``model_dir`` and its backups, and the
    temporary or half-deleted backup generations; returns them.

    Only names :func:`fs_core.atomic.atomic_path` makes for fs's own files are touched; a file
    that cannot be removed (read-only folder) is left, since it never breaks a load.
    """
    folder = Path(model_dir)
    removed = []
    for place in (folder, backups_dir(folder)):
        for path in temp_files(place, SAVED_FILES):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed + backups.clean_leftovers(folder)


def open_model_dir(model_dir: str | Path, model_name: str) -> ModelState | None:
    """The stored state when ``model_dir`` holds a model, None when it is new;
    refuses anything else."""
    folder = Path(model_dir)
    if folder.exists() and not folder.is_dir():
        raise FsUserError("model folder is a file, not a folder", folder)
    if not folder.exists():
        _check_creatable(folder)
        return None
    if not state_file(folder).exists():
        leftovers = [
            p.name for p in folder.iterdir() if not p.name.startswith(".") and p.name != RECORD_DIR
        ]
        if WEIGHTS_FILE in leftovers:
            raise FsUserError(
                f"has {WEIGHTS_FILE} but no {STATE_FILE}; restore the state from "
                f"{BACKUP_DIR}/ or use a new model folder",
                folder,
            )
        if leftovers:
            raise FsUserError(
                f"is not empty and holds no fs model (found {', '.join(sorted(leftovers)[:3])}); "
                "use an empty or new folder",
                folder,
            )
        return None
    state = load_state(folder)
    if state.model != model_name:
        raise FsUserError(
            f"holds a '{state.model}' model, not '{model_name}'; use -t {state.model} "
            "or another model folder",
            folder,
        )
    if not weights_file(folder).exists():
        if state.iterations == 0:  # the placeholder of a first save that was cut short
            remove_stale_temp_files(folder)
            return None
        raise FsUserError(
            f"has {STATE_FILE} but {WEIGHTS_FILE} is missing; restore it with 'fs restore'", folder
        )
    remove_stale_temp_files(folder)
    return state


def copy_atomic(source: Path, target: Path) -> None:
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def save_model_files(model_dir: str | Path, state: ModelState, write_weights) -> None:
    """Write weights (through ``write_weights(path)``) then the state.

    A kill between the two leaves weights at most one save newer than the state, which loads. On a
    new model a placeholder state (0 iterations, no history) goes first, see the module docstring.
    """
    folder = Path(model_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FsUserError(
            f"cannot create the model folder: {error.strerror or error}", folder
        ) from None
    if not state_file(folder).exists():
        save_state(folder, attrs.evolve(state, iterations=0, lowest_avg_loss=None, sessions=[]))
    write_weights(weights_file(folder))
    save_state(folder, state)


@contextlib.contextmanager
def training_lock(model_dir: str | Path):
    """Hold an advisory lock on the model folder for a whole run.

    Two ``fs train`` runs on one folder would overwrite each other's saves (and one's start-up
    clean-up could remove the other's temporary files), so the second is refused. The lock is on
    a hidden file (:mod:`fs_core.locking`: ``flock``, or ``msvcrt.locking`` on Windows), released
    by the operating system if the process dies. A folder this created and left without a model
    is removed again, so a refused run leaves nothing behind.
    """
    folder = Path(model_dir)
    created = not folder.exists()
    if created:
        _check_creatable(folder)
        folder.mkdir(parents=True)
    elif not folder.is_dir():
        raise FsUserError("model folder is a file, not a folder", folder)
    lock_path = lock_file(folder)
    try:
        handle = open(lock_path, "a")
    except OSError as error:
        raise FsUserError(
            f"cannot use the model folder: {error.strerror or error}", folder
        ) from None
    try:
        with contextlib.ExitStack() as stack:
            try:
                held = stack.enter_context(exclusive_lock(handle))
            except OSError:  # a file system without locks: refused as before, in one line
                held = False
            if not held:
                raise FsUserError(
                    "another fs process is training this model; wait for it or stop it", folder
                )
            yield
    finally:
        handle.close()
        if not state_file(folder).exists():
            with contextlib.suppress(OSError):
                lock_path.unlink()
            if created:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only when empty
