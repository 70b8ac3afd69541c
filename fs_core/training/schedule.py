"""Training schedules (``fs train --schedule FILE``): a recipe of stages run in one command.

A schedule is a TOML file of ``[[stage]]`` tables. Each stage begins at a total iteration of the
model (``at``) and may snapshot the model as it begins, re-initialise parts (``reset``), freeze or
unfreeze parts, and change settings (``[stage.set]``: any changeable option as ``"section.key"``,
plus ``batch_size``, ``faces_a`` and ``faces_b``). Settings and frozen parts accumulate: a stage's
value holds until a later stage changes it.

The whole file is checked before anything is created or trained (:func:`load_schedule` for its
shape, :func:`check_options` for the options, :func:`check_parts` once the model is built), so a
typo in the last stage does not surface days into a run.

Running it (:mod:`fs_core.training.run`): training goes in *legs*, one per stage. A leg trains up
to the next stage's ``at`` and ends with the usual exit save; the next leg is prepared from
scratch with the new settings (config, batch, face sets, frozen parts, compiled step), the way an
out-of-memory retry is. Reset parts and snapshots are one-off actions: the model's ``state.toml``
records the stage it is in (``[schedule]``), written with the first save of the stage, so a run
stopped and resumed mid-recipe continues it and a stage whose iteration passed while the model was
not training under this schedule still begins (its snapshot and resets happen then).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from fs_core.config import CORE_SECTIONS, Config, _toml_value, read_toml_file
from fs_core.config.options import is_locked
from fs_core.errors import FsUserError

if TYPE_CHECKING:
    from fs_core.model.build import BuiltModel
    from fs_core.plugin_manager import Registry

#: ``[stage.set]`` names that are not config options but ``fs train`` flags
RUN_SETTINGS = ("batch_size", "faces_a", "faces_b")
_STAGE_KEYS = ("at", "snapshot", "reset", "freeze", "unfreeze", "set")
#: config sections a stage may change (``convert`` is not a training option)
_TABLES = {table: attr for table, attr, _ in CORE_SECTIONS if table != "convert"}


@attrs.frozen
class Stage:
    """One ``[[stage]]`` of a schedule; ``number`` counts from 1 in file order."""

    number: int
    at: int
    snapshot: bool = False
    reset: tuple[str, ...] = ()
    freeze: tuple[str, ...] = ()
    unfreeze: tuple[str, ...] = ()
    #: ``"section.key"`` -> value, and the run settings of :data:`RUN_SETTINGS`
    settings: Mapping[str, Any] = attrs.field(factory=dict)

    def describe(self) -> str:
        """One line: the stage's actions and settings, as the file gives them."""
        parts = []
        if self.snapshot:
            parts.append("snapshot")
        for name in ("reset", "freeze", "unfreeze"):
            if getattr(self, name):
                parts.append(f"{name} {', '.join(getattr(self, name))}")
        parts += [f"{key} = {_toml_value(value)}" for key, value in self.settings.items()]
        return f"stage {self.number} at {self.at:,}: " + ("; ".join(parts) or "no changes")


@attrs.frozen
class Schedule:
    """A validated schedule file; stages in increasing ``at``."""

    path: str
    stages: tuple[Stage, ...]

    def in_force(self, iterations: int) -> Stage | None:
        """The stage whose settings apply at ``iterations`` (None before the first)."""
        current = None
        for stage in self.stages:
            if stage.at <= iterations:
                current = stage
        return current

    def next_after(self, iterations: int) -> Stage | None:
        """The first stage that begins after ``iterations``."""
        return next((stage for stage in self.stages if stage.at > iterations), None)

    def settings_at(self, iterations: int) -> dict[str, Any]:
        """Every setting in force at ``iterations``: later stages override earlier ones."""
        merged: dict[str, Any] = {}
        for stage in self.stages:
            if stage.at <= iterations:
                merged.update(stage.settings)
        return merged

    def freezing_at(self, iterations: int) -> dict[str, bool]:
        """The parts the stages so far froze (True) or unfroze (False), the latest action of
        each part winning; see :func:`frozen_parts`."""
        changes: dict[str, bool] = {}
        for stage in self.stages:
            if stage.at > iterations:
                break
            changes.update(dict.fromkeys(stage.freeze, True))
            changes.update(dict.fromkeys(stage.unfreeze, False))
        return changes

    def beginning(self, iterations: int, recorded_at: int | None) -> tuple[Stage, ...]:
        """The stages that begin now: due at ``iterations`` but after the stage the model
        recorded (``recorded_at``; None: no stage recorded yet)."""
        return tuple(
            stage
            for stage in self.stages
            if stage.at <= iterations and (recorded_at is None or stage.at > recorded_at)
        )

    def describe_upcoming(self, iterations: int) -> list[str]:
        """Lines for the start of a run: the stage in force and those still to come."""
        current = self.in_force(iterations)
        lines = [
            f"Schedule {self.path}: "
            + (
                f"stage {current.number} of {len(self.stages)} in force"
                if current is not None
                else f"{len(self.stages)} stages, the first at {self.stages[0].at:,}"
            )
        ]
        upcoming = [stage for stage in self.stages if stage.at > iterations]
        lines += [f"  upcoming {stage.describe()}" for stage in upcoming]
        if not upcoming:
            lines.append("  no stages to come")
        return lines


def _fail(path: str, where: str, message: str) -> FsUserError:
    return FsUserError(f"{where}: {message}", path)


def _names(value: Any, path: str, where: str, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(path, where, f'{key} must be a list of part names, e.g. ["decoder_b"]')
    return tuple(value)


def _stage(number: int, table: Any, path: str) -> Stage:
    where = f"stage {number}"
    if not isinstance(table, dict):
        raise _fail(path, where, "each [[stage]] must be a table")
    unknown = sorted(set(table) - set(_STAGE_KEYS))
    if unknown:
        raise _fail(path, where, f"unknown key '{unknown[0]}' (known: {', '.join(_STAGE_KEYS)})")
    at = table.get("at")
    if isinstance(at, bool) or not isinstance(at, int) or at < 0:
        raise _fail(
            path, where, f"'at' must be a whole number of iterations, 0 or more; got {at!r}"
        )
    where = f"stage {number} (at {at})"
    snapshot = table.get("snapshot", False)
    if not isinstance(snapshot, bool):
        raise _fail(path, where, f"snapshot must be true or false, got {snapshot!r}")
    settings = table.get("set", {})
    if not isinstance(settings, dict):
        raise _fail(path, where, '[stage.set] must be a table of "section.key" = value')
    lists = {
        key: _names(table[key], path, where, key) if key in table else ()
        for key in ("reset", "freeze", "unfreeze")
    }
    both = set(lists["freeze"]) & set(lists["unfreeze"])
    if both:
        raise _fail(path, where, f"part '{sorted(both)[0]}' is both frozen and unfrozen")
    return Stage(number=number, at=at, snapshot=snapshot, settings=dict(settings), **lists)


def load_schedule(path: str | os.PathLike) -> Schedule:
    """Read and check the file's shape: stages, their keys and types, ``at`` strictly rising.
    Options and parts are checked by :func:`check_options` and :func:`check_parts`."""
    text = os.fspath(path)
    data = read_toml_file(path, "schedule")
    extra = sorted(set(data) - {"stage"})
    if extra:
        raise FsUserError(
            f"unknown table or key '{extra[0]}'; a schedule holds [[stage]] tables", text
        )
    tables = data.get("stage")
    if not isinstance(tables, list) or not tables:
        raise FsUserError("no stages: add [[stage]] tables (see docs/recipes.md)", text)
    stages = tuple(_stage(number, table, text) for number, table in enumerate(tables, 1))
    for before, after in itertools.pairwise(stages):
        if after.at <= before.at:
            raise _fail(
                text,
                f"stage {after.number} (at {after.at})",
                f"stages must be in order of 'at'; stage {before.number} begins at {before.at}",
            )
    return Schedule(path=text, stages=stages)


def _split(name: str) -> tuple[str, str]:
    table, _, key = name.rpartition(".")
    return table, key


def check_options(schedule: Schedule, registry: Registry, model_name: str, config: Config) -> None:
    """Every ``[stage.set]`` name is a changeable option (a core one or ``model_name``'s) or a run
    setting, and every value is allowed, in each stage's combination of settings over ``config``.
    Raises FsUserError naming the file and the stage."""
    classes = registry.model_config_classes()
    for stage in schedule.stages:
        where = f"stage {stage.number} (at {stage.at})"
        for name, value in stage.settings.items():
            problem = setting_problem(name, value, model_name, classes)
            if problem is not None:
                raise _fail(schedule.path, where, problem)
        try:
            apply_settings(
                Config(), schedule.settings_at(stage.at), model_name, classes.get(model_name)
            )
        except FsUserError as error:
            raise _fail(schedule.path, where, error.message) from None


def setting_problem(
    name: str, value: Any, model_name: str, classes: Mapping[str, type]
) -> str | None:
    """Why ``name`` cannot be set to ``value`` (None when it can, as far as the name and a run
    setting's value go; an option's value is checked by :func:`apply_settings`): not an option
    of ``model_name`` or the core, locked, or a run setting's bad value. Shared by schedules and
    live changes (:mod:`fs_core.training.live`), so both refuse exactly the same things."""
    if name in RUN_SETTINGS:
        return _run_setting_problem(name, value)
    table, key = _split(name)
    cls = _section_class(name, table, model_name, classes)
    if isinstance(cls, str):
        return cls
    field = attrs.fields_dict(cls).get(key)
    if field is None:
        known = ", ".join(sorted(attrs.fields_dict(cls)))
        return f"'{name}': [{table}] has no option '{key}' ({known})"
    if is_locked(field):
        return f"'{name}' is locked when the model is created and cannot change"
    return None


def _section_class(
    name: str, table: str, model_name: str, classes: Mapping[str, type]
) -> type | str:
    """The class of section ``table``, or why there is none."""
    if table in _TABLES:
        return next(cls for t, _, cls in CORE_SECTIONS if t == table)
    if table.startswith("model."):
        other = table.removeprefix("model.")
        if other != model_name:
            return f"'{name}': this run trains model '{model_name}', not '{other}'"
        if model_name in classes:
            return classes[model_name]
    return (
        f"unknown option '{name}'; name options as \"section.key\" (sections: "
        f"{', '.join(_TABLES)}, model.{model_name}) or use {', '.join(RUN_SETTINGS)}"
    )


def _run_setting_problem(name: str, value: Any) -> str | None:
    if name == "batch_size":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 256:
            return f"batch_size must be a whole number 1 to 256, got {value!r}"
        return None
    if not isinstance(value, str) or not value:
        return f"{name} must be a folder of faces, got {value!r}"
    if not Path(value).is_dir():
        return f"{name}: no folder '{value}'"
    return None


def apply_settings(
    config: Config, settings: Mapping[str, Any], model_name: str, config_class: type | None
) -> None:
    """Set the ``"section.key"`` options of ``settings`` in ``config`` (run settings are left to
    the caller); a value a section refuses raises FsUserError naming the option."""
    grouped: dict[str, dict[str, Any]] = {}
    for name, value in settings.items():
        if name not in RUN_SETTINGS:
            table, key = _split(name)
            grouped.setdefault(table, {})[key] = value
    for table, values in grouped.items():
        if table in _TABLES:
            current = getattr(config, _TABLES[table])
        else:
            assert config_class is not None  # check_options refused other sections
            current = config.model(model_name, config_class)
        try:
            updated = attrs.evolve(current, **values)
        except FsUserError as error:  # a plugin's cross-option check
            raise FsUserError(f"[{table}]: {error.message}") from None
        except (ValueError, TypeError) as error:
            failing = _failing(current, values)
            raise FsUserError(
                f"'{table}.{failing}': {error}" if failing else f"[{table}]: {error}"
            ) from None
        if table in _TABLES:
            setattr(config, _TABLES[table], updated)
        else:
            config.models[model_name] = updated


def _failing(current: Any, values: Mapping[str, Any]) -> str | None:
    for key, value in values.items():
        try:
            attrs.evolve(current, **{key: value})
        except (ValueError, TypeError, FsUserError):
            return key
    return None


def check_parts(schedule: Schedule, built: BuiltModel) -> None:
    """Every part a stage resets, freezes or unfreezes exists in the built model."""
    from fs_core.model.weights import find_part_model  # noqa: PLC0415 (TensorFlow: training.schedule loads without it)

    for stage in schedule.stages:
        for name in (*stage.reset, *stage.freeze, *stage.unfreeze):
            if find_part_model(built.model, name) is None:
                raise _fail(
                    schedule.path,
                    f"stage {stage.number} (at {stage.at})",
                    f"model '{built.name}' has no part '{name}' (parts: "
                    f"{', '.join(_part_names(built))})",
                )


def _part_names(built: BuiltModel) -> list[str]:
    from fs_core.model.weights import parts_of  # noqa: PLC0415 (TensorFlow: training.schedule loads without it)

    return sorted(parts_of(built.model))


def frozen_parts(base: Iterable[str], changes: Mapping[str, bool]) -> tuple[str, ...]:
    """The parts to freeze: ``base`` (what ``-f`` freezes) with a schedule's freezes added and
    its unfreezes taken away (:meth:`Schedule.freezing_at`)."""
    frozen = [name for name in dict.fromkeys(base) if changes.get(name, True)]
    return tuple(frozen + [name for name, on in changes.items() if on and name not in frozen])


def reset_parts(built: BuiltModel, fresh: Callable[[], BuiltModel], names: Iterable[str]) -> None:
    """Re-initialise parts ``names`` of ``built``: their variables take the values of a newly
    built copy of the model (``fresh()``), i.e. what the model's initializers give a new model."""
    from fs_core.model.weights import find_part_model, part_variables  # noqa: PLC0415 (TensorFlow: training.schedule loads without it)

    names = tuple(names)
    if not names:
        return
    source = fresh()
    for name in names:
        target_part = find_part_model(built.model, name)
        source_part = find_part_model(source.model, name)
        assert target_part is not None and source_part is not None  # check_parts ran
        for (_, target), (_, value) in zip(
            part_variables(target_part), part_variables(source_part), strict=True
        ):
            target.assign(value.numpy())
