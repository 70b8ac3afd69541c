"""Generations of a saved model (snapshots, backups): writing one whole, verifying it, and keeping
only as many as the options say.

A generation is a folder holding ``state.toml`` and ``weights.h5`` (a snapshot adds ``logs/``).
Every step survives a kill at any instant:

* **writing**: the files are copied into a hidden temporary folder beside the target
  (``.<name>.<random>.tmp``), flushed, and the folder is renamed into place, so a generation is
  either whole or absent;
* **verifying**: a new generation must load (``state.toml`` parses, ``weights.h5`` opens, passes
  its checksum and holds every variable of the model) before retention may delete anything;
* **deleting**: a folder is first renamed to a hidden ``.<name>.<random>.deleting`` name (one
  atomic step: from then on it is no generation), then removed; a kill in between leaves the
  ``.deleting`` folder, which :func:`clean_leftovers` removes at the next start.

Which generations stay is :func:`plan_deletions`: the ``keep`` newest (newest by when the copied
save was made, see :func:`saved_time`), plus, beyond them, those whose iteration count is a multiple
of ``keep_every``; the generation just written is never deleted.

``FS_TEST_SLOW_WRITES`` (seconds, tests only): when set, :func:`pause_for_tests` sleeps that long
between the steps of each copy and delete, so that the crash-safety test's kills land inside them.
It is never set in normal use.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import shutil
import tempfile
import time
import tomllib
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import attrs

from fs_core.atomic import fsync_dir
from fs_core.errors import FsUserError
from fs_core.folder.layout import (
    DELETING_SUFFIX,
    LEGACY_DELETING_PREFIX,
    STATE_FILE,
    TEMP_SUFFIX,
    WEIGHTS_FILE,
    state_file,
    weights_file,
)
from fs_core.folder.state import load_state
from fs_core.model.weights import OPTIMIZER_GROUP, check_weights, model_groups

#: seconds to pause between the steps of copies and deletes; set by the crash-safety test only
SLOW_WRITES_ENV = "FS_TEST_SLOW_WRITES"


def pause_for_tests() -> None:
    """Sleep ``$FS_TEST_SLOW_WRITES`` seconds, when set (see the module docstring)."""
    value = os.environ.get(SLOW_WRITES_ENV)
    if value:
        with contextlib.suppress(ValueError):
            time.sleep(max(0.0, float(value)))


@attrs.frozen
class Generation:
    """One complete copy of a save: its folder, the iteration count and when the save was made
    (unix seconds; ``-inf`` when its state cannot be read, which makes it the first to go)."""

    path: Path
    iteration: int
    saved: float
    #: the lowest average loss the copied state records (the loss that made a backup), or None
    loss: float | None = None
    #: a backup in the layout before generations (``backups/state.toml`` + ``weights.h5``)
    legacy: bool = False

    @property
    def order(self) -> tuple[float, int]:
        """Sort key, oldest first: when the save was made, then its iteration count."""
        return (self.saved, self.iteration)


def saved_time(state_file: Path) -> tuple[float, float | None]:
    """When the save in ``state_file`` was made and its lowest average loss.

    The time is the end of the state's last session, which each save sets: it travels with the
    copy (a folder copied without its modification times keeps it) and, after ``fs restore`` to an
    older generation, the saves that follow are newer than every generation of the abandoned run.
    """
    try:
        with open(state_file, "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return -math.inf, None
    sessions = data.get("sessions") or []
    stamp = (sessions[-1].get("end") if sessions else None) or data.get("created")
    loss = data.get("lowest_avg_loss")
    loss = float(loss) if isinstance(loss, int | float) else None
    try:
        return dt.datetime.fromisoformat(str(stamp)).timestamp(), loss
    except ValueError:
        try:
            return state_file.stat().st_mtime, loss
        except OSError:
            return -math.inf, loss


def generation_of(path: Path, iteration: int, *, legacy: bool = False) -> Generation:
    saved, loss = saved_time(state_file(path))
    return Generation(path=path, iteration=iteration, saved=saved, loss=loss, legacy=legacy)


def newest_first(generations: Iterable[Generation]) -> list[Generation]:
    return sorted(generations, key=lambda g: g.order, reverse=True)


def plan_deletions(
    generations: Sequence[Generation],
    keep: int,
    keep_every: int = 0,
    spare: Path | None = None,
) -> list[Generation]:
    """The generations retention deletes: all but the ``keep`` newest, except those whose iteration
    is a multiple of ``keep_every`` (when > 0) and the one at ``spare``. ``keep`` 0 keeps all."""
    if keep <= 0:
        return []
    older = newest_first(generations)[keep:]
    return [
        g
        for g in older
        if g.path != spare and not (keep_every > 0 and g.iteration % keep_every == 0)
    ]


def plan_room(
    generations: Sequence[Generation], keep: int, keep_every: int = 0
) -> list[Generation]:
    """Retention ahead of a write that does not fit: what :func:`plan_deletions` would delete once
    one more generation exists, but never the newest one (so a write that still fails leaves at
    least the generation there was)."""
    if keep <= 0 or len(generations) < 2:
        return []
    newest = newest_first(generations)[0]
    return [g for g in plan_deletions(generations, keep - 1, keep_every) if g is not newest]


def remove_folder(path: Path) -> None:
    """Delete a generation's folder, crash-safely (see the module docstring)."""
    doomed = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{DELETING_SUFFIX}")
    path.rename(doomed)
    fsync_dir(path.parent)
    pause_for_tests()
    shutil.rmtree(doomed, ignore_errors=True)


def remove_legacy_backup(backups: Path) -> None:
    """Delete the pre-generations backup (``backups/state.toml`` + ``weights.h5``): both files are
    moved into one ``.deleting`` folder (state first, so the pair stops being a backup at once),
    then it is removed. :func:`clean_leftovers` finishes a delete a kill interrupted."""
    doomed = Path(
        tempfile.mkdtemp(prefix=LEGACY_DELETING_PREFIX, suffix=DELETING_SUFFIX, dir=backups)
    )
    for name in (STATE_FILE, WEIGHTS_FILE):
        with contextlib.suppress(FileNotFoundError):
            (backups / name).rename(doomed / name)
        fsync_dir(backups)
        pause_for_tests()
    shutil.rmtree(doomed, ignore_errors=True)


def clean_leftovers(folder: Path, prefix: str) -> list[Path]:
    """Remove what killed copies and deletes left in ``folder``: hidden entries named
    ``<prefix>...`` ending in ``.tmp`` or ``.deleting``; returns them.

    A ``.legacy.*.deleting`` folder holding only the old backup's state means the kill came
    between its two files: the weights left beside it are moved in and go too.
    """
    removed = []
    with contextlib.suppress(OSError):
        for entry in sorted(folder.iterdir()):
            name = entry.name
            if not name.startswith(prefix) or not entry.is_dir() or entry.is_symlink():
                continue
            if name.endswith(DELETING_SUFFIX) or name.endswith(TEMP_SUFFIX):
                if name.startswith(LEGACY_DELETING_PREFIX) and not state_file(folder).exists():
                    with contextlib.suppress(OSError):
                        weights_file(folder).rename(weights_file(entry))
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


def copy_file(source: Path, target: Path) -> None:
    """Copy one file and flush it to the disk (its modification time kept, as ``cp -p``)."""
    shutil.copy2(source, target)
    with open(target, "rb+") as handle:
        os.fsync(handle.fileno())


def write_generation(
    source: Path,
    target: Path,
    files: Sequence[str] = (WEIGHTS_FILE, STATE_FILE),
    folders: Sequence[str] = (),
) -> None:
    """Copy ``files`` and ``folders`` of ``source`` into the generation folder ``target``, whole or
    not at all; an older folder of that name is replaced once the new one is complete.

    An ``OSError`` (disk full, permission) propagates after the temporary folder is removed;
    nothing that existed before is changed then.
    """
    temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent))
    try:
        for name in files:  # weights before state, as a save writes them
            copy_file(source / name, temp / name)
            pause_for_tests()
        for name in folders:
            if (source / name).is_dir():
                shutil.copytree(source / name, temp / name)
        fsync_dir(temp)
        if target.exists():
            remove_folder(target)
        temp.rename(target)
        fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def model_keys(model: object) -> set[str]:
    """The dataset keys a complete ``weights.h5`` of ``model`` holds (optimizer state aside)."""
    return {f"{part}/{key}" for part, items in model_groups(model).items() for key, _ in items}


def verify_generation(folder: Path, expected_keys: set[str] | None = None) -> int:
    """Check that the generation in ``folder`` loads; returns its iteration count.

    Raises FsUserError when ``state.toml`` does not parse, ``weights.h5`` does not open or fails
    its checksum, or (given ``expected_keys``) a variable of the model is missing from it.
    """
    state = load_state(folder)
    keys = check_weights(weights_file(folder))
    if expected_keys is not None:
        saved = {key for key in keys if not key.startswith(f"{OPTIMIZER_GROUP}/")}
        missing = sorted(expected_keys - saved)
        if missing:
            raise FsUserError(
                f"the copy lacks {len(missing)} of the model's variables (first: {missing[0]})",
                weights_file(folder),
            )
    return state.iterations


def apply(
    doomed: Iterable[Generation],
    remove: Callable[[Generation], None],
) -> list[Generation]:
    """Delete ``doomed`` (oldest first) with ``remove``; returns those deleted. A delete that
    fails (a read-only folder) is skipped: retention never stops training."""
    removed = []
    for generation in sorted(doomed, key=lambda g: g.order):
        try:
            remove(generation)
        except OSError:
            continue
        removed.append(generation)
    return removed


def folder_size(path: Path) -> int:
    """Bytes of the files under ``path`` (0 when it is absent)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _, names in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total
