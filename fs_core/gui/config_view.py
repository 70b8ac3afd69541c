"""The configuration as the page's editor shows it, built by fs's own config machinery.

The same data ``fs config`` prints (every option with its value, default, help, allowed values and
whether it is locked), as JSON per section, plus the TOML text ``fs config`` would write.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from fs_core.config import CORE_SECTIONS, load_config, render_config
from fs_core.config.options import is_locked
from fs_core.errors import FsUserError
from fs_core.gui.installed import Installed


def _json_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _options(instance: Any) -> list[dict[str, Any]]:
    rows = []
    for field in attrs.fields(type(instance)):
        meta = field.metadata
        rows.append(
            {
                "name": field.name,
                "value": _json_value(getattr(instance, field.name)),
                "default": _json_value(field.default),
                "help": meta.get("help", ""),
                "choices": list(meta["choices"]) if meta.get("choices") else None,
                "min": meta.get("min"),
                "max": meta.get("max"),
                "locked": is_locked(field),
            }
        )
    return rows


def config_view(
    installed: Installed, model: str | None = None, preset: str | None = None
) -> dict[str, Any]:
    """``{"sections": {table: [option, ...]}, "toml": text}`` for the core sections and ``model``
    (an architecture; a preset implies its own), starting from ``preset``'s values when given."""
    source: Path | None = None
    if preset:
        if preset not in installed.presets:
            raise FsUserError(
                f"unknown preset '{preset}' (presets: "
                f"{', '.join(sorted(installed.presets)) or 'none installed'})"
            )
        owner, source = installed.presets[preset]
        if model and model != owner:
            raise FsUserError(f"preset '{preset}' is for model '{owner}', not '{model}'")
        model = owner
    if model and model not in installed.models:
        raise FsUserError(
            f"model '{model}' is not installed (models: {', '.join(sorted(installed.models))})"
        )
    config = load_config(source, installed.config_classes)
    sections = {table: _options(getattr(config, attr)) for table, attr, _ in CORE_SECTIONS}
    chosen: dict[str, type] = {}
    if model:
        descriptor = installed.models[model]
        chosen[model] = descriptor.config_class
        sections[f"model.{model}"] = _options(config.model(model, descriptor.config_class))
    text = render_config(config, chosen, {n: installed.models[n].help for n in chosen})
    return {"sections": sections, "toml": text}


def stored_config(installed: Installed, state: Any) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """A model's options from its ``state.toml`` (creation values, then the last session's
    changeable ones on top) and the ``section.option`` names that are locked."""
    config: dict[str, dict[str, Any]] = {
        t: dict(v) for t, v in state.config.items() if isinstance(v, Mapping)
    }
    if state.sessions:
        for table, values in (state.sessions[-1].get("config") or {}).items():
            if isinstance(values, Mapping):
                config.setdefault(table, {}).update(values)
    classes = {table: cls for table, _, cls in CORE_SECTIONS}
    if state.model in installed.models:
        classes[f"model.{state.model}"] = installed.models[state.model].config_class
    locked = [
        f"{table}.{field.name}"
        for table, cls in classes.items()
        for field in attrs.fields(cls)
        if is_locked(field) and table in config
    ]
    return config, locked
