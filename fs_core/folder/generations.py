"""The one routine that adds a generation (a snapshot or a backup) to a model: check the space,
write it whole, verify that it reads back, then retire the older ones.

Snapshots and backups differ only in where the copy goes, what it holds, how a write error other
than a full disk is reported and which older generations retention deletes; those are the
parameters. The order is the point: nothing is deleted before the new generation is known good,
and a copy that does not fit or fails is skipped with one printed line (training goes on).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fs_core.errors import FsUserError
from fs_core.folder import disk, retention
from fs_core.folder.host import SaveHost
from fs_core.folder.retention import Generation


def write_verify_retire(
    host: SaveHost,
    *,
    what: str,
    room: Path,
    need: int,
    make_room: Callable[[], object],
    write: Callable[[], Path],
    full_place: Path,
    write_failed: Callable[[OSError], Exception],
    retire: Callable[[Path], list[Generation]],
) -> tuple[Path, list[Generation]] | None:
    """Add one generation; returns its folder and the generations retention deleted, or None when
    it was skipped (the reason printed).

    ``what`` ("snapshot", "backup") names it in the messages; ``need`` bytes must be free in
    ``room`` (after ``make_room()`` when they are not at first, see
    :func:`fs_core.folder.disk.room_for_copy`); ``write()`` copies the save and returns the new
    folder (whole or absent, :func:`fs_core.folder.retention.write_generation`); a full disk on the
    way is a skip naming ``full_place``, another OSError is raised as ``write_failed(error)``; a
    copy that does not verify is removed; ``retire(new_folder)`` applies retention.
    """
    if not disk.room_for_copy(host, what, room, need, make_room):
        return None
    try:
        target = write()
    except OSError as error:
        if disk.is_disk_full(error):
            host.print(f"\nDisk full while writing the {what}, skipped ({full_place})")
            return None
        raise write_failed(error) from None
    try:
        retention.verify_generation(target, retention.model_keys(host.model))
    except FsUserError as error:
        retention.remove_folder(target)
        host.print(f"\nThe {what} did not read back whole, removed: {error.one_line()}")
        return None
    return target, retire(target)
