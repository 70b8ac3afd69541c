"""``weights.h5``: one HDF5 group per model part, one dataset per variable.

Keras's own weight files match by topology and cannot load one part alone, so fs writes its own
layout: ``/<part>/<layer index>_<layer class>/<weight index>_<weight name>``. The key depends only
on the architecture (not on Keras's process-global layer counters), so a rebuilt model loads its
file, and one part can be copied between models (``-l``). The file carries a checksum over every
dataset, so a damaged file is detected on load instead of training on garbage.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np

from fs_core.atomic import atomic_path
from fs_core.errors import FsUserError
from fs_core.model.state import recovery_hint
from fs_core.version import __version__

FORMAT = 1
ROOT_PART = "model"  # variables of layers that belong to no named part
OPTIMIZER_GROUP = "optimizer"
#: the training-step extensions' parts and optimizer state (discriminators), beside the model's
#: own parts: ``extensions/parts/<part>/...`` and ``extensions/optimizers/<part>/...``. Loading the
#: model never reads them (``fs swap`` and ``fs convert`` need only the model); see
#: :mod:`fs_core.extensions.saved`.
EXTENSIONS_GROUP = "extensions"


def _snake(name: str) -> str:
    """Conv2DTranspose -> conv2d_transpose (layer class names as keys stay readable)."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z0-9])(?=[A-Z][a-z])", "_", name).lower()


def parts_of(model: keras.Model) -> dict[str, keras.Model]:
    """The model's named parts: its nested Keras models, by name."""
    return {layer.name: layer for layer in model.layers if isinstance(layer, keras.Model)}


def find_part(model: keras.Model, name: str) -> tuple[str, str] | None:
    """Where part ``name`` lives: (top-level part, key prefix inside it), or None.

    Most parts are top-level nested models (prefix ""). Some architectures nest a named model one
    level deeper (Phaze-A's pretrained ``keras_encoder`` inside ``encoder``); its variables are the
    keys of the top-level part that start with that layer's index.
    """
    parts = parts_of(model)
    if name in parts:
        return name, ""
    for top_name, part in parts.items():
        for index, layer in enumerate(part.layers):
            if isinstance(layer, keras.Model) and layer.name == name:
                return top_name, f"{index:03d}_"
    return None


def find_part_model(model: keras.Model, name: str) -> keras.Model | None:
    """The Keras model of part ``name`` (top-level or nested one level)."""
    where = find_part(model, name)
    if where is None:
        return None
    top, prefix = where
    part = parts_of(model)[top]
    return part if not prefix else part.layers[int(prefix[:3])]


def part_variables(layer_owner: Any) -> list[tuple[str, Any]]:
    """(key, variable) pairs of a part, keyed by structure (see module docstring)."""
    items = []
    for index, layer in enumerate(layer_owner.layers):
        for windex, variable in enumerate(layer.weights):
            short = variable.name.split("/")[-1]
            items.append(
                (f"{index:03d}_{_snake(type(layer).__name__)}/{windex:02d}_{short}", variable)
            )
    return items


def model_groups(model: keras.Model) -> dict[str, list[tuple[str, Any]]]:
    """Every variable of the model, grouped by part (``model`` for loose top-level layers)."""
    groups = {name: part_variables(part) for name, part in parts_of(model).items()}
    loose = [
        layer for layer in model.layers if not isinstance(layer, keras.Model) and layer.weights
    ]
    if loose:

        class _Loose:
            layers = loose

        groups[ROOT_PART] = part_variables(_Loose)
    return groups


def _hash_entry(hasher: Any, key: str, value: np.ndarray) -> None:
    """Add one dataset to the file's checksum: a sha256 over every (key, bytes) pair, fed in key
    order on both writing and reading, so it does not depend on the order of the file."""
    hasher.update(key.encode())
    hasher.update(np.ascontiguousarray(value).tobytes())


def save_weights(
    path: str | Path,
    model: keras.Model,
    *,
    model_name: str,
    iterations: int,
    optimizer: keras.optimizers.Optimizer | None = None,
    extra: Iterable[tuple[str, Any]] = (),
) -> None:
    """Write every part (and the optimizer state, when given) atomically.

    ``extra``: more (full key, variable or array) entries, the training-step extensions' (keys
    under :data:`EXTENSIONS_GROUP`).

    One variable at a time is copied out of TensorFlow, hashed and written, in key order (the
    checksum's order, see :func:`_hash_entry`): holding every copy until the end would add the
    model's whole size, three times over with Adam's state (1 GB for Original), to each save.
    """
    entries = [
        (f"{part}/{key}", variable)
        for part, items in model_groups(model).items()
        for key, variable in items
    ]
    if optimizer is not None:
        entries += [
            (f"{OPTIMIZER_GROUP}/{index:04d}_{variable.name.split('/')[-1]}", variable)
            for index, variable in enumerate(optimizer.variables)
        ]
    entries += list(extra)
    hasher = hashlib.sha256()
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as handle:
            for key, variable in sorted(entries, key=lambda entry: entry[0]):
                value = np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable)
                _hash_entry(hasher, key, value)
                handle.create_dataset(key, data=value)
            handle.attrs["format"] = FORMAT
            handle.attrs["fs_version"] = __version__
            handle.attrs["model"] = model_name
            handle.attrs["iterations"] = int(iterations)
            handle.attrs["checksum"] = hasher.hexdigest()


def _read_all(
    path: Path, keep: Callable[[str], bool] = lambda key: True
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The datasets whose key ``keep`` accepts, and the attributes, after checking the checksum
    over every dataset. Datasets are read and hashed one at a time, in key order, so the ones not
    kept (the optimizer state, when only weights are wanted) never sit in memory together."""
    try:
        with h5py.File(path, "r") as handle:
            keys: list[str] = []
            handle.visititems(
                lambda name, obj: keys.append(name) if isinstance(obj, h5py.Dataset) else None
            )
            hasher = hashlib.sha256()
            arrays: dict[str, np.ndarray] = {}
            for key in sorted(keys):
                value = handle[key][()]
                _hash_entry(hasher, key, value)
                if keep(key):
                    arrays[key] = value
            attributes = dict(handle.attrs)
    except FileNotFoundError:
        raise FsUserError(
            "weights file is missing; restore the model with 'fs restore'", path
        ) from None
    except (OSError, KeyError, ValueError) as error:
        raise FsUserError(
            f"weights file is damaged and cannot be read ({error}); "
            f"{recovery_hint(path, 'the last backup')}",
            path,
        ) from None
    expected = attributes.get("checksum")
    if expected is not None:
        if hasher.hexdigest() != expected:
            raise FsUserError(
                "weights file is damaged (checksum mismatch); "
                f"{recovery_hint(path, 'the last backup')}",
                path,
            )
    return arrays, attributes


def read_weights(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """All datasets by full key, and the file's attributes, after checking the checksum."""
    return _read_all(Path(path))


def check_weights(path: str | Path) -> set[str]:
    """The file's dataset keys, after checking its checksum; FsUserError when it is damaged.

    Each dataset is read and hashed and let go before the next (none is kept), so checking a
    copy costs one dataset's memory, not the model's size three times over with Adam's state."""
    keys: set[str] = set()

    def note(key: str) -> bool:
        keys.add(key)
        return False

    _read_all(Path(path), keep=note)
    return keys


def _rename_legacy_groups(
    arrays: dict[str, np.ndarray], groups: Mapping[str, Any], renames: Mapping[str, str]
) -> dict[str, np.ndarray]:
    """Read the groups of parts saved under an old name as the renamed parts.

    Only where it is unambiguous: the model has the new part and no part of the old name, and the
    file has the old group but none of the new name. The variables must then still match key by
    key and shape by shape, so a part that changed besides its name is refused, not half-loaded.
    """
    saved = {key.split("/", 1)[0] for key in arrays}
    for old, new in renames.items():
        if new in groups and old not in groups and old in saved and new not in saved:
            arrays = {
                (f"{new}/{key.split('/', 1)[1]}" if key.split("/", 1)[0] == old else key): value
                for key, value in arrays.items()
            }
    return arrays


def load_weights(
    path: str | Path,
    model: keras.Model,
    *,
    model_name: str,
    parts: Iterable[str] | None = None,
    strict: bool = True,
    renamed_parts: Mapping[str, str] | None = None,
) -> list[str]:
    """Assign the saved values to ``model``; returns the list of keys that were skipped.

    ``strict`` (a model's own file): every variable must be present with its shape, and the file
    must hold no variable the model lacks, else the load fails naming what differs. Non-strict
    (``-l`` from another model): only ``parts`` are copied; a variable whose shape differs is
    skipped and reported, and at least one must load. ``renamed_parts`` (old -> current part name,
    the descriptor's ``legacy_part_names``) lets a file saved before a part was renamed load.
    """
    path = Path(path)
    arrays, attributes = _read_all(
        path, keep=lambda key: not key.startswith((f"{OPTIMIZER_GROUP}/", f"{EXTENSIONS_GROUP}/"))
    )
    saved_model = str(attributes.get("model", ""))
    if strict and saved_model and saved_model != model_name:
        raise FsUserError(f"weights belong to model '{saved_model}', not '{model_name}'", path)
    groups = model_groups(model)
    if renamed_parts:
        arrays = _rename_legacy_groups(arrays, groups, renamed_parts)
    wanted: dict[str, tuple[str, str] | None]
    if parts is None:
        wanted = {name: (name, "") for name in groups}
    else:
        wanted = {name: find_part(model, name) for name in parts}
    missing_parts = [name for name, where in wanted.items() if where is None]
    if missing_parts:
        raise FsUserError(f"model '{model_name}' has no part {', '.join(missing_parts)}", path)
    located = {name: where for name, where in wanted.items() if where is not None}
    problems, skipped, assignments = [], [], []
    for name in sorted(located):
        top, prefix = located[name]
        for key, variable in groups[top]:
            if not key.startswith(prefix):
                continue
            full = f"{top}/{key}"
            if full not in arrays:
                problems.append(f"{full} missing")
                skipped.append(full)
                continue
            value = arrays[full]
            if tuple(value.shape) != tuple(variable.shape):
                problems.append(
                    f"{full} has shape {tuple(value.shape)}, model needs {tuple(variable.shape)}"
                )
                skipped.append(full)
                continue
            assignments.append((variable, value))
    if strict:  # a saved variable the model lacks: a changed architecture, not one to half-load
        known = {f"{top}/{key}" for top, items in groups.items() for key, _ in items}
        scopes = None if parts is None else [f"{top}/{prefix}" for top, prefix in located.values()]
        problems += [
            f"{key} is not in the model"
            for key in sorted(arrays)
            if key not in known
            and (scopes is None or any(key.startswith(scope) for scope in scopes))
        ]
    if strict and problems:
        shown = "; ".join(problems[:3]) + (
            f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        )
        raise FsUserError(
            f"weights do not match the model ({shown}); was it made with other options "
            "or by an older version of the model?",
            path,
        )
    if not strict and not assignments:
        raise FsUserError(
            f"no weights of parts {', '.join(sorted(wanted))} could be loaded "
            f"({'; '.join(problems[:3])})",
            path,
        )
    for variable, value in assignments:
        variable.assign(value)
    return skipped


def has_optimizer_state(path: str | Path) -> bool:
    try:
        with h5py.File(path, "r") as handle:
            return OPTIMIZER_GROUP in handle
    except OSError:
        return False


def _saved_index(name: str) -> int:
    """The position an optimizer variable was saved at: ``0012_momentum`` -> 12 (numeric order, so
    that ``10000_...`` follows ``9999_...``)."""
    return int(name.split("_", 1)[0])


def load_optimizer_state(path: str | Path, optimizer: keras.optimizers.Optimizer) -> bool:
    """Restore optimizer variables saved with the weights; False when absent or not matching.

    Only the optimizer group is read: callers load the model's weights from the same file first,
    which reads every dataset and checks the file's checksum, so reading (and hashing) the whole
    file a second time would only double the start-up I/O.
    """
    try:
        with h5py.File(path, "r") as handle:
            group = handle.get(OPTIMIZER_GROUP)
            names = sorted(group, key=_saved_index) if group is not None else []
            values = [group[name][()] for name in names]
    except (OSError, KeyError, ValueError) as error:
        raise FsUserError(
            f"weights file is damaged and cannot be read ({error}); restore the last "
            "backup with 'fs restore'",
            path,
        ) from None
    variables = list(optimizer.variables)
    if not values or len(values) != len(variables):
        return False
    if any(tuple(v.shape) != tuple(var.shape) for v, var in zip(values, variables)):
        return False
    for value, variable in zip(values, variables):
        variable.assign(value)
    return True


def read_group(path: str | Path, group: str) -> dict[str, np.ndarray]:
    """Every dataset under ``group`` (full key -> array), or an empty dict when the file has none.

    Like :func:`load_optimizer_state` it does not check the checksum again: callers load the
    model's weights from the same file first, which checks it."""
    found: dict[str, np.ndarray] = {}
    try:
        with h5py.File(path, "r") as handle:
            node = handle.get(group)
            if node is None:
                return found
            node.visititems(
                lambda name, obj: (
                    found.__setitem__(f"{group}/{name}", obj[()])
                    if isinstance(obj, h5py.Dataset)
                    else None
                )
            )
    except (OSError, KeyError, ValueError) as error:
        raise FsUserError(
            f"weights file is damaged and cannot be read ({error}); "
            f"{recovery_hint(Path(path), 'the last backup')}",
            path,
        ) from None
    return found
