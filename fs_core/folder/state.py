"""A model folder's ``state.toml``, read and written by folder: the model layer keeps the file's
format (:func:`fs_core.model.state.read_state`), this module knows where it lies (in a model
folder, a backup generation or a snapshot alike)."""

from __future__ import annotations

from pathlib import Path

from fs_core.folder.layout import state_file
from fs_core.model.state import ModelState, read_state, write_state


def load_state(model_dir: str | Path) -> ModelState:
    """The state saved in ``model_dir``; FsUserError when it is missing or damaged."""
    return read_state(state_file(model_dir))


def save_state(model_dir: str | Path, state: ModelState) -> None:
    """Write ``state`` into ``model_dir``, atomically."""
    write_state(state_file(model_dir), state)
