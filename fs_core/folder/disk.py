"""The disk guard: a save, snapshot or backup is written only when it fits on the disk.

Before each write fs estimates what it needs (:func:`save_need` from the model's variables, the
optimizer's when they are saved too, and the state; :func:`copy_need` from the files a snapshot
or backup copies), plus a little slack, and compares it with the free space. When a snapshot or
backup does not fit with room for the next save left over, retention runs first (see
:func:`fs_core.folder.retention.plan_room`); if it still does not fit, it is skipped with a
warning, and training goes on. When the save itself does not fit, training stops through the
usual end of a session with one line saying how much space is needed and where; the previous
save is untouched.

The free space also drives the low-space indication of the status line and of the training
record (``disk_free`` in ``progress`` records, shown by ``fs gui``): below :func:`low_threshold`,
``session.disk_low_free`` holds the free bytes, else None. The lookup itself is
``session.free_space`` (:func:`disk_free` unless a test injects a full disk).
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fs_core.errors import FsUserError
from fs_core.folder.host import SaveHost
from fs_core.folder.layout import STATE_FILE, WEIGHTS_FILE, state_file
from fs_core.folder.retention import folder_size
from fs_core.stash import StashKey

SLACK_BYTES = 1 << 20  # HDF5's own structures, the state growing by a session entry
SLACK_SHARE = 0.02
DATASET_OVERHEAD = 4096  # HDF5 header of one dataset, generously
STATE_GUESS = 64 * 1024  # a state.toml not written yet
#: "low" is below this many bytes, or below LOW_SAVES saves' worth when that is more
LOW_FLOOR = 2 * 10**9
LOW_SAVES = 4
#: how often the free space is looked at between saves, for the low-space indication
REFRESH_SECONDS = 30.0
#: when the free space was last looked at (time.monotonic)
_REFRESHED: StashKey[float] = StashKey("disk refreshed")


def disk_free(path: Path) -> int:
    """Free bytes (for a normal user) on the disk holding ``path`` or its nearest existing
    parent (a model folder before its first save)."""
    place = Path(path)
    while not place.exists() and place != place.parent:
        place = place.parent
    return shutil.disk_usage(place).free


def human(size: float) -> str:
    """Decimal units, as disk tools print them: ``950 kB``, ``410 MB``, ``1.2 GB``."""
    size = max(0.0, float(size))
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            value = size / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{size:.0f} B"


def with_slack(size: int) -> int:
    return int(size * (1 + SLACK_SHARE)) + SLACK_BYTES


def _variables_bytes(variables: Any) -> tuple[int, int]:
    total = count = 0
    for variable in variables:
        total += int(np.prod(variable.shape, dtype=np.int64)) * np.dtype(variable.dtype).itemsize
        count += 1
    return total, count


def save_need(session: SaveHost, with_optimizer: bool) -> int:
    """Bytes a save of this model needs free: every variable (and the optimizer's, when saved
    with it), one header per dataset, the state, and the slack. The weights are written to a
    temporary file beside the old ones, so the old file's size does not count as free."""
    size, count = _variables_bytes(session.model.weights)
    if with_optimizer and session.optimizer is not None:
        extra, more = _variables_bytes(session.optimizer.variables)
        size, count = size + extra, count + more
    state = state_file(session.model_dir)
    size += state.stat().st_size if state.exists() else STATE_GUESS
    return with_slack(size + count * DATASET_OVERHEAD)


def largest_save_need(session: SaveHost) -> int:
    """What the biggest save of this session needs (the exit save carries the optimizer unless
    ``save_optimizer = "never"``): the room a snapshot or backup must leave free."""
    policy = session.config.global_.save_optimizer
    return save_need(session, with_optimizer=policy != "never")


def copy_need(folder: Path, folders: tuple[str, ...] = ()) -> int:
    """Bytes a copy of the save in ``folder`` needs: its weights, state and ``folders``."""
    size = sum(folder_size(folder / name) for name in (WEIGHTS_FILE, STATE_FILE) + folders)
    return with_slack(size)


def low_threshold(save_bytes: int) -> int:
    return max(LOW_FLOOR, LOW_SAVES * save_bytes)


def note_free(session: SaveHost, free: int, save_bytes: int) -> None:
    """Record the model disk's free space for the status line and the record; say it once when
    it becomes low."""
    low = free < low_threshold(save_bytes)
    was_low = session.disk_low_free is not None
    session.disk_low_free = free if low else None
    session.stash[_REFRESHED] = time.monotonic()
    if low and not was_low:
        session.print(
            f"\nLow disk space: {human(free)} free for {session.model_dir} (a save needs "
            f"{human(save_bytes)}); snapshots and backups are skipped when they do not fit, "
            "[global] snapshot_keep and backup_keep bound them"
        )


def refresh(session: SaveHost) -> None:
    """Look at the free space again when the last look is older than :data:`REFRESH_SECONDS`
    (another program may be filling the disk between saves)."""
    last = session.stash.get(_REFRESHED, None)
    if last is not None and time.monotonic() - last < REFRESH_SECONDS:
        return
    save_bytes = largest_save_need(session)
    note_free(session, session.free_space(Path(session.model_dir)), save_bytes)


def ensure_room_for_save(session: SaveHost, need: int, make_room: Callable[[], object]) -> None:
    """Return when a save of ``need`` bytes fits in the model folder, after ``make_room()``
    (retention ahead of time) when it did not at first; else stop with FsUserError."""
    folder = Path(session.model_dir)
    free = session.free_space(folder)
    if free < need:
        make_room()
        free = session.free_space(folder)
    note_free(session, free, need)
    if free < need:
        raise FsUserError(
            f"needs {human(need)} free for the save, {human(free)} left; the previous save is "
            "unchanged. Free some space (older snapshots beside the model folder, its "
            "backups/) and resume",
            folder,
        )


def same_disk(first: Path, second: Path) -> bool:
    try:
        return os.stat(first).st_dev == os.stat(second).st_dev
    except OSError:
        return True


def room_for_copy(
    session: SaveHost,
    what: str,
    target_parent: Path,
    need: int,
    make_room: Callable[[], object],
) -> bool:
    """Whether a copy (``what``: "snapshot", "backup") of ``need`` bytes fits in
    ``target_parent`` with room left for the next save; retention first when it does not, then a
    warning and False when it still does not."""
    if same_disk(target_parent, Path(session.model_dir)):
        need += largest_save_need(session)
    free = session.free_space(target_parent)
    if free < need:
        make_room()
        free = session.free_space(target_parent)
    if free >= need:
        return True
    session.print(
        f"\nNot enough disk space for the {what}, skipped: it needs {human(need)} free in "
        f"{target_parent} (room for the next save included), {human(free)} left"
    )
    return False


def is_disk_full(error: OSError) -> bool:
    return getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT)
