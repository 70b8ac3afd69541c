"""faceswap's trainer and option names, mapped to fs's.

Trainers: faceswap names a model by its plugin's file (``dfl_h128``; ``-t dfl-h128`` on its command
line); fs's model pack uses the same words. Options: faceswap's state keeps every global and model
option in one flat table; fs keeps them in ``[global]``, ``[global.loss]``, ``[global.mask]`` and
``[model.<name>]`` under the same option names. Each value goes to the fs option of its name and
is checked by fs's own option rules: a locked option (the architecture, the mask, the face crop)
that fs cannot take refuses the import; a changeable one falls back to fs's default with a note.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from fs_core.config import CORE_SECTIONS, Config, config_from_mapping
from fs_core.config.options import is_locked
from fs_core.errors import FsUserError

#: sections of fs's config an imported model's options go to (augmentation and convert are not
#: part of a model in fs)
TRAINING_TABLES = ("global", "global.loss", "global.mask")

#: faceswap options fs deliberately does not carry over, and why (shown in the import's notes)
NOT_CARRIED: Mapping[str, str] = {
    "mixed_precision": "fs picks the precision itself ([global] mixed_precision = auto)",
}


def fs_model_name(faceswap_name: str) -> str:
    """``dfl-h128`` or ``dfl_h128`` -> ``dfl_h128`` (fs's model names)."""
    return faceswap_name.strip().lower().replace("-", "_")


def _field_ok(cls: type, name: str, value: Any) -> str | None:
    """None when ``cls`` accepts ``value`` for option ``name``, else why not."""
    try:
        cls(**{name: value})
    except FsUserError as error:
        return error.message
    except (TypeError, ValueError) as error:
        return str(error) or type(error).__name__
    return None


def map_options(
    faceswap_config: Mapping[str, Any],
    model_name: str,
    config_class: type,
    where: str,
    note: Callable[[str], None],
) -> Config:
    """The fs config of an imported model; FsUserError (naming ``where``, the state file) when a
    locked option cannot be mapped."""
    sections: list[tuple[str, type]] = [
        (table, cls) for table, _, cls in CORE_SECTIONS if table in TRAINING_TABLES
    ]
    sections.append((f"model.{model_name}", config_class))
    tables: dict[str, dict[str, Any]] = {}
    used: set[str] = set()
    for table, cls in sections:
        values: dict[str, Any] = {}
        for field in attrs.fields(cls):
            if field.name not in faceswap_config or field.name in NOT_CARRIED:
                if is_locked(field) and table.startswith("model."):
                    note(
                        f"option {field.name} is not in the faceswap state; using fs's default "
                        f"{field.default!r}"
                    )
                continue
            value = faceswap_config[field.name]
            used.add(field.name)
            problem = _field_ok(cls, field.name, value)
            if problem is None:
                values[field.name] = value
            elif is_locked(field):
                raise FsUserError(
                    f"option {field.name} = {value!r} cannot be used by fs's '{model_name}' "
                    f"({problem}); nothing was written",
                    where,
                )
            else:
                note(
                    f"option {field.name} = {value!r} is not valid in fs ({problem}); "
                    "using the default"
                )
        tables[table] = values
    for name, why in NOT_CARRIED.items():
        if name in faceswap_config:
            note(f"option {name} not carried over: {why}")
    ignored = sorted(set(faceswap_config) - used - set(NOT_CARRIED))
    if ignored:
        note(f"faceswap options fs has no use for, not carried over: {', '.join(ignored)}")
    data: dict[str, Any] = {
        "global": {
            **tables["global"],
            "loss": tables["global.loss"],
            "mask": tables["global.mask"],
        },
        "model": {model_name: tables[f"model.{model_name}"]},
    }
    try:
        return config_from_mapping(data, {model_name: config_class}, path=where)
    except FsUserError as error:
        raise FsUserError(f"{error.message}; nothing was written", where) from None
