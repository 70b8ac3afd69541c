"""The extensions' parts and their optimizers' state in ``weights.h5``.

Keys: ``extensions/parts/<part>/<layer index>_<class>/<weight index>_<name>`` (the same per-part
layout as the model's, :func:`fs_core.model.weights.part_variables`) and
``extensions/optimizers/<part>/<index>_<name>``. A part the file holds but this session does not
use (the GAN turned off for a while) is carried over unchanged at every save, so turning it on
again resumes it. A part whose saved shapes no longer match (``gan_dims`` changed) starts afresh,
and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np

from fs_core.model.weights import EXTENSIONS_GROUP, part_variables, read_group

PARTS = f"{EXTENSIONS_GROUP}/parts"
OPTIMIZERS = f"{EXTENSIONS_GROUP}/optimizers"


def part_entries(name: str, part: keras.Model) -> list[tuple[str, Any]]:
    return [(f"{PARTS}/{name}/{key}", variable) for key, variable in part_variables(part)]


def optimizer_entries(name: str, optimizer: Any) -> list[tuple[str, Any]]:
    return [
        (f"{OPTIMIZERS}/{name}/{index:04d}_{variable.name.split('/')[-1]}", variable)
        for index, variable in enumerate(optimizer.variables)
    ]


def saved_part_names(arrays: Mapping[str, np.ndarray]) -> set[str]:
    """The part names of ``extensions/parts/...`` and ``extensions/optimizers/...`` keys."""
    return {key.split("/")[2] for key in arrays if key.count("/") >= 3}


def read_saved(path: Path) -> dict[str, np.ndarray]:
    """Every extension dataset of ``path`` (empty when the file is missing or has none)."""
    return read_group(path, EXTENSIONS_GROUP) if path.exists() else {}


def restore_part(name: str, part: keras.Model, arrays: Mapping[str, np.ndarray]) -> str:
    """Assign the saved values of part ``name``; returns "resumed", "new" (nothing saved) or
    "reset" (saved with other shapes: the part keeps its fresh weights)."""
    entries = part_entries(name, part)
    if not any(key in arrays for key, _ in entries):
        return "new"
    if any(
        key not in arrays or tuple(arrays[key].shape) != tuple(variable.shape)
        for key, variable in entries
    ) or any(key.startswith(f"{PARTS}/{name}/") and key not in dict(entries) for key in arrays):
        return "reset"
    for key, variable in entries:
        variable.assign(arrays[key])
    return "resumed"


def restore_optimizer(name: str, optimizer: Any, arrays: Mapping[str, np.ndarray]) -> bool:
    """Assign the saved state of part ``name``'s optimizer; False when absent or not matching."""
    prefix = f"{OPTIMIZERS}/{name}/"
    saved = sorted(
        (key for key in arrays if key.startswith(prefix)),
        key=lambda key: int(key[len(prefix) :].split("_", 1)[0]),
    )
    variables = list(optimizer.variables)
    if not saved or len(saved) != len(variables):
        return False
    if any(tuple(arrays[k].shape) != tuple(v.shape) for k, v in zip(saved, variables)):
        return False
    for key, variable in zip(saved, variables):
        variable.assign(arrays[key])
    return True


def dormant_entries(
    arrays: Mapping[str, np.ndarray], active: set[str]
) -> list[tuple[str, np.ndarray]]:
    """The saved datasets of parts not in ``active``, to write back unchanged."""
    return [
        (key, value)
        for key, value in arrays.items()
        if key.count("/") >= 3 and key.split("/")[2] not in active
    ]


def describe_restored(statuses: Mapping[str, str], notify: Callable[[str], None]) -> None:
    for name, status in sorted(statuses.items()):
        if status == "new":
            notify(f"Training extension part '{name}' created (new)")
        elif status == "reset":
            notify(
                f"Training extension part '{name}' was saved with other options (shapes differ); "
                "it starts afresh"
            )
