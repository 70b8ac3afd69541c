"""Backups: ``MODEL_DIR/backups/<ITERS>_iters/``, one generation each time the average loss since
the last save reaches a new low, at most ``[global] backup_keep`` of them.

Each generation holds ``state.toml`` and ``weights.h5`` of that save, written and deleted as
:mod:`fs_core.folder.retention` describes (whole or absent, verified before older ones go). The
newest is the one whose save was made last (not the highest iteration count: after ``fs restore
--iteration N`` the run goes on from N). A model folder from before generations has one backup,
``backups/state.toml`` + ``weights.h5``; it is read as a generation like the others (restore and
NaN rollback use it) and retention deletes it in its turn.
"""

from __future__ import annotations

from pathlib import Path

from fs_core.atomic import write_error
from fs_core.errors import FsUserError
from fs_core.folder import disk, retention
from fs_core.folder.generations import write_verify_retire
from fs_core.folder.host import SaveHost
from fs_core.folder.layout import (
    BACKUP_DIR,
    backup_dir,
    backups_dir,
    generation_iterations,
    has_save,
    state_file,
    weights_file,
)
from fs_core.folder.retention import Generation
from fs_core.folder.state import load_state


def list_backups(model_dir: str | Path) -> list[Generation]:
    """Every complete backup of the model, newest first (see the module docstring)."""
    backups = backups_dir(model_dir)
    found: list[Generation] = []
    if not backups.is_dir():
        return found
    for entry in backups.iterdir():
        iterations = generation_iterations(entry.name)
        if iterations is not None and entry.is_dir() and has_save(entry):
            found.append(retention.generation_of(entry, iterations))
    if has_save(backups):
        try:
            iterations = load_state(backups).iterations
        except FsUserError:
            iterations = -1  # damaged: listed (restore says why it cannot use it), deleted first
        found.append(retention.generation_of(backups, iterations, legacy=True))
    return retention.newest_first(found)


def newest_backup(model_dir: str | Path) -> Generation | None:
    found = list_backups(model_dir)
    return found[0] if found else None


def last_good(model_dir: str | Path) -> tuple[Path, str] | None:
    """The folder holding the weights to go back to after a collapse, and what it is: the newest
    backup generation first (the one made last), else the last save; None when there is neither."""
    newest = newest_backup(model_dir)
    if newest is not None:
        return newest.path, "backup"
    folder = Path(model_dir)
    if weights_file(folder).exists() and state_file(folder).exists():
        return folder, "last save"
    return None


def find_backup(model_dir: str | Path, iteration: int | None = None) -> Generation:
    """The newest backup, or the one at ``iteration``; FsUserError naming what exists when
    there is none."""
    found = list_backups(model_dir)
    folder = backups_dir(model_dir)
    if not found:
        raise FsUserError(
            f"no backup to restore ({BACKUP_DIR}/ is written when the average loss reaches a new "
            "low)",
            Path(model_dir),
        )
    if iteration is None:
        return found[0]
    for generation in found:  # newest first: a same-count backup of the current run wins
        if generation.iteration == iteration:
            return generation
    shown = ", ".join(str(g.iteration) for g in sorted(found, key=lambda g: g.iteration))
    raise FsUserError(
        f"no backup at {iteration} iterations; backups exist at {shown} (see 'fs restore --list')",
        folder,
    )


def remove_backup(generation: Generation) -> None:
    if generation.legacy:
        retention.remove_legacy_backup(generation.path)
    else:
        retention.remove_folder(generation.path)


def clean_leftovers(model_dir: str | Path) -> list[Path]:
    """Remove the temporary and half-deleted backup folders a kill left (at the next start)."""
    backups = backups_dir(model_dir)
    return retention.clean_leftovers(backups, ".") if backups.is_dir() else []


def write_backup(model_dir: str | Path) -> Path:
    """Copy the model's saved weights and state into a new generation; returns its folder.
    OSError (disk full ...) propagates, with nothing half-written left behind."""
    folder = Path(model_dir)
    target = backup_dir(folder, load_state(folder).iterations)
    target.parent.mkdir(exist_ok=True)
    retention.write_generation(folder, target)
    return target


def retire(model_dir: str | Path, keep: int, spare: Path | None = None) -> list[Generation]:
    """Retention: delete all but the ``keep`` newest backups (never ``spare``)."""
    found = list_backups(model_dir)
    return retention.apply(retention.plan_deletions(found, keep, spare=spare), remove_backup)


def make_room(model_dir: str | Path, keep: int) -> list[Generation]:
    """Retention ahead of a backup that does not fit (the newest always stays)."""
    return retention.apply(retention.plan_room(list_backups(model_dir), keep), remove_backup)


def take_backup(session: SaveHost, average: float) -> bool:
    """Back up the save just made: check the space, write, verify, apply retention; True when a
    backup was written. A backup that does not fit is skipped with a warning (training goes on);
    another write error stops training, as a failed save does."""
    folder = Path(session.model_dir)
    keep = int(session.config.global_.backup_keep)
    place = backups_dir(folder)
    added = write_verify_retire(
        session,
        what="backup",
        room=place,
        need=disk.copy_need(folder),
        make_room=lambda: make_room(folder, keep),
        write=lambda: write_backup(folder),
        full_place=place,
        write_failed=lambda error: write_error(error, place),
        retire=lambda target: retire(folder, keep, spare=target),
    )
    if added is None:
        return False
    removed = added[1]
    session.print(
        f"\nModel backed up (average loss {average:.5f})"
        + (f"; removed {_names(removed)} (backup_keep = {keep})" if removed else "")
    )
    return True


def _names(generations: list[Generation]) -> str:
    return ", ".join(
        "the backup before generations" if g.legacy else f"{BACKUP_DIR}/{g.path.name}"
        for g in generations
    )
