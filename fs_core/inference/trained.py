"""A saved model, loaded for use (swap, export): rebuilt from the options stored at its creation.

The locked options in ``state.toml`` decide the architecture (sizes, learn mask, coverage ...), so
they are applied over the defaults or over a given config file; changeable ones (such as
``convert_batchsize``) come from the config file when one is given, else from the last session.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from fs_core.config import apply_locked, load_config
from fs_core.errors import FsUserError
from fs_core.folder.layout import STATE_FILE, state_file, weights_file
from fs_core.folder.state import load_state


@attrs.frozen
class TrainedModel:
    built: Any  # fs_core.model.build.BuiltModel
    config: Any  # fs_core.config.Config
    state: Any  # fs_core.model.state.ModelState
    folder: Path

    @property
    def batch_size(self) -> int:
        return int(self.config.global_.convert_batchsize)


def _last_session_value(state: Any, table: str, key: str) -> Any:
    for entry in reversed(state.sessions):
        value = (entry.get("config") or {}).get(table, {}).get(key)
        if value is not None:
            return value
    return None


def load_trained(
    model_dir: str | Path,
    registry: Any,
    config_path: str | None = None,
    notify: Callable[[str], None] = print,
) -> TrainedModel:
    """Read ``state.toml``, rebuild the model with its stored options and load ``weights.h5``."""
    from fs_core.model.build import build_from_config, get_descriptor  # noqa: PLC0415 (TensorFlow: inference.trained loads without it)
    from fs_core.model.weights import load_weights  # noqa: PLC0415 (TensorFlow: inference.trained loads without it)

    folder = Path(model_dir)
    if not folder.is_dir():
        raise FsUserError("the model folder does not exist", folder)
    if not state_file(folder).is_file():
        raise FsUserError(f"no {STATE_FILE}: not an fs model folder (or not saved yet)", folder)
    state = load_state(folder)
    descriptor = get_descriptor(registry, state.model)
    classes = registry.model_config_classes()
    config = load_config(config_path, classes)
    apply_locked(config, state.config, state.model, descriptor.config_class, notify)
    if config_path is None:
        batch = _last_session_value(state, "global", "convert_batchsize")
        if isinstance(batch, int) and 1 <= batch <= 32:
            config.global_ = attrs.evolve(config.global_, convert_batchsize=batch)
    built = build_from_config(registry, state.model, config)
    load_weights(
        weights_file(folder),
        built.model,
        model_name=built.name,
        renamed_parts=built.descriptor.legacy_part_names,
    )
    return TrainedModel(built=built, config=config, state=state, folder=folder)


def swap_side(direction: str) -> str:
    """Which decoder a direction uses: a-to-b puts faces through decoder B (side "b")."""
    sides = {"a-to-b": "b", "b-to-a": "a"}
    if direction not in sides:
        raise FsUserError(f"--direction must be a-to-b or b-to-a, got {direction!r}")
    return sides[direction]
