"""Configuration: the core's sections plus one ``[model.<name>]`` section per model plugin.

:func:`load_config` reads a TOML file (or takes defaults), validating every key;
:func:`render_config` prints the complete commented file that ``fs config`` shows.
:func:`apply_locked` makes the options stored in a model's state win on resume.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import tomli_w

from fs_core.config.options import allowed_text, is_locked
from fs_core.config.sections import (
    AugmentationOptions,
    ConvertOptions,
    GlobalOptions,
    LossOptions,
    MaskOptions,
)
from fs_core.config.training_step import TrainingStepOptions
from fs_core.errors import FsUserError

#: (TOML table path, Config attribute, class) of the core's sections, in file order
CORE_SECTIONS: tuple[tuple[str, str, type], ...] = (
    ("global", "global_", GlobalOptions),
    ("global.loss", "loss", LossOptions),
    ("global.mask", "mask", MaskOptions),
    ("augmentation", "augmentation", AugmentationOptions),
    ("training_step", "training_step", TrainingStepOptions),
    ("convert", "convert", ConvertOptions),
)
#: sections that are not training options: not stored in a model, not recorded per session
_NOT_TRAINING = ("augmentation", "convert")


@attrs.define
class Config:
    """All options in force: the core's sections and the model sections that were given."""

    global_: GlobalOptions = attrs.field(factory=GlobalOptions)
    loss: LossOptions = attrs.field(factory=LossOptions)
    mask: MaskOptions = attrs.field(factory=MaskOptions)
    augmentation: AugmentationOptions = attrs.field(factory=AugmentationOptions)
    convert: ConvertOptions = attrs.field(factory=ConvertOptions)
    training_step: TrainingStepOptions = attrs.field(factory=TrainingStepOptions)
    models: dict[str, Any] = attrs.field(factory=dict)
    path: str | None = None

    def model(self, name: str, config_class: type) -> Any:
        """The options of model ``name`` (defaults when the file has no section for it)."""
        if name not in self.models:
            self.models[name] = config_class()
        return self.models[name]

    def stored_sections(self, model_name: str, config_class: type) -> dict[str, dict[str, Any]]:
        """What a model's state keeps: the core's training sections and this model's section."""
        sections = {
            table: attrs.asdict(getattr(self, attr))
            for table, attr, _ in CORE_SECTIONS
            if table not in _NOT_TRAINING
        }
        sections[f"model.{model_name}"] = attrs.asdict(self.model(model_name, config_class))
        return sections


def _build_section(cls: type, values: Mapping[str, Any], table: str, path: str | None) -> Any:
    known = {field.name for field in attrs.fields(cls)}
    for key in values:
        if key not in known:
            raise FsUserError(
                f"unknown key '{key}' in [{table}]; known keys: {', '.join(sorted(known))}", path
            )
    try:
        return cls(**values)
    except FsUserError as error:  # a plugin's own cross-option check
        raise FsUserError(error.message, path) from None
    except (ValueError, TypeError) as error:
        failing = _failing_key(cls, values)
        field = attrs.fields_dict(cls).get(failing) if failing else None
        where = f"[{table}] {failing}" if failing else f"[{table}]"
        allowed = f" (allowed: {allowed_text(field)})" if field is not None else ""
        raise FsUserError(f"{where}: {error}{allowed}", path) from None


def _failing_key(cls: type, values: Mapping[str, Any]) -> str | None:
    """Which key made the section invalid: try each given key alone on top of the defaults."""
    for key, value in values.items():
        try:
            cls(**{key: value})
        except (ValueError, TypeError):
            return key
    return None


def load_config(path: str | Path | None, model_classes: Mapping[str, type] | None = None) -> Config:
    """Read ``path`` (None: defaults). ``model_classes`` maps model names to their config
    classes."""
    model_classes = model_classes or {}
    if path is None:
        return Config()
    return config_from_mapping(read_toml_file(path, "config"), model_classes, str(path))


def read_toml_file(path: str | os.PathLike, kind: str) -> dict[str, Any]:
    """A user's TOML file (``kind``: "config", "schedule", ...) as a dict; a missing, unreadable
    or malformed file is an FsUserError naming it."""
    text = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise FsUserError(f"{kind} file not found", text) from None
    except IsADirectoryError:
        raise FsUserError(f"is a folder, not a {kind} file", text) from None
    except tomllib.TOMLDecodeError as error:
        raise FsUserError(f"not valid TOML: {error}", text) from None
    except (OSError, UnicodeDecodeError) as error:
        raise FsUserError(f"cannot read {kind} file: {error}", text) from None


def config_from_mapping(
    data: Mapping[str, Any], model_classes: Mapping[str, type], path: str | None = None
) -> Config:
    data = dict(data)
    global_table = dict(data.pop("global", {}) or {})
    tables = {
        "global.loss": global_table.pop("loss", {}),
        "global.mask": global_table.pop("mask", {}),
        "global": global_table,
        "augmentation": data.pop("augmentation", {}),
        "convert": data.pop("convert", {}),
        "training_step": data.pop("training_step", {}),
    }
    model_tables = data.pop("model", {}) or {}
    if data:
        raise FsUserError(
            f"unknown section [{sorted(data)[0]}]; sections are [global], "
            "[global.loss], [global.mask], [augmentation], [training_step], [convert] and "
            "[model.<name>]",
            path,
        )
    config = Config(path=path)
    for table, attr, cls in CORE_SECTIONS:
        values = tables[table]
        if not isinstance(values, dict):
            raise FsUserError(f"[{table}] must be a table", path)
        setattr(config, attr, _build_section(cls, values, table, path))
    for name, values in model_tables.items():
        if name not in model_classes:
            raise FsUserError(
                f"[model.{name}]: no model plugin named '{name}' is installed "
                f"(models: {', '.join(sorted(model_classes)) or 'none'})",
                path,
            )
        config.models[name] = _build_section(
            model_classes[name], dict(values), f"model.{name}", path
        )
    return config


def _render_section(table: str, instance: Any) -> list[str]:
    lines = [f"[{table}]"]
    for field in attrs.fields(type(instance)):
        help_text = field.metadata.get("help", "")
        lock = " Locked when the model is created." if is_locked(field) else ""
        lines.append(f"# {help_text}{lock}")
        lines.append(f"# Allowed: {allowed_text(field)}. Default: {_toml_value(field.default)}.")
        lines.append(f"{field.name} = {_toml_value(getattr(instance, field.name))}")
    lines.append("")
    return lines


def _toml_value(value: Any) -> str:
    """One value as inline TOML (lists stay on one line so comments above them read well)."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


def render_config(
    config: Config, model_classes: Mapping[str, type], model_help: Mapping[str, str] | None = None
) -> str:
    """The complete TOML file: every core option and every installed model's section."""
    lines = [
        "# fs configuration. Use it with: fs train -C THIS_FILE ...",
        "# Options marked locked are stored in a model when it is created and win on resume.",
        "",
    ]
    for table, attr, _ in CORE_SECTIONS:
        lines += _render_section(table, getattr(config, attr))
    for name in sorted(model_classes):
        if model_help and model_help.get(name):
            lines.append(f"# Model '{name}': {model_help[name]}")
        lines += _render_section(f"model.{name}", config.model(name, model_classes[name]))
    return "\n".join(lines)


def apply_locked(
    config: Config,
    stored: Mapping[str, Mapping[str, Any]],
    model_name: str,
    config_class: type,
    notify: Callable[[str], None],
) -> None:
    """Put the stored locked options back into ``config``, telling the user about each override.

    Options the stored state lacks (an older model) keep the current value.
    """
    targets: dict[str, tuple[str | None, type]] = {
        table: (attr, cls) for table, attr, cls in CORE_SECTIONS
    }
    targets[f"model.{model_name}"] = (None, config_class)
    for table, (attr, cls) in targets.items():
        saved = stored.get(table)
        if not saved:
            continue
        current = getattr(config, attr) if attr else config.model(model_name, config_class)
        changes = {}
        for field in attrs.fields(cls):
            if not is_locked(field) or field.name not in saved:
                continue
            if saved[field.name] != getattr(current, field.name):
                if config.path is not None:
                    notify(
                        f"[{table}] {field.name}: the model was created with "
                        f"{_toml_value(saved[field.name])}; keeping it (locked), not "
                        f"{_toml_value(getattr(current, field.name))}"
                    )
                changes[field.name] = saved[field.name]
        if changes:
            updated = attrs.evolve(current, **changes)
            if attr:
                setattr(config, attr, updated)
            else:
                config.models[model_name] = updated


def changeable_values(
    config: Config, model_name: str, config_class: type
) -> dict[str, dict[str, Any]]:
    """The changeable options in force, per table, as a session records them."""
    result: dict[str, dict[str, Any]] = {}
    sections = [
        (table, getattr(config, attr)) for table, attr, _ in CORE_SECTIONS if table != "convert"
    ]
    sections.append((f"model.{model_name}", config.model(model_name, config_class)))
    for table, instance in sections:
        values = {
            f.name: getattr(instance, f.name)
            for f in attrs.fields(type(instance))
            if not is_locked(f)
        }
        if values:
            result[table] = values
    return result
