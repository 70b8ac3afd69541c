"""What the folder's disk guard, backups and snapshots use of a training run, as a Protocol: the
training session satisfies it, and the folder package needs nothing from training, not even for
its types."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from fs_core.config import Config
from fs_core.stash import Stash

#: free bytes on the disk that holds a folder
FreeSpace = Callable[[Path], int]


class SaveHost(Protocol):
    """A training run whose model folder is being saved, backed up or snapshotted."""

    #: the low-space indication (free bytes when low, else None), which the disk guard sets
    disk_low_free: int | None

    @property
    def model_dir(self) -> Path: ...

    @property
    def config(self) -> Config: ...

    @property
    def model(self) -> Any:
        """The Keras model (its ``weights`` size a save; its variables check a copy)."""

    @property
    def optimizer(self) -> Any:
        """The optimizer, or None before it is built (its ``variables`` size a save)."""

    @property
    def stash(self) -> Stash: ...

    @property
    def print(self) -> Callable[[str], None]:
        """Where the messages go (the status line's print)."""

    @property
    def free_space(self) -> FreeSpace:
        """The free-space lookup (:func:`fs_core.folder.disk.disk_free` unless a test injects a
        full disk)."""
