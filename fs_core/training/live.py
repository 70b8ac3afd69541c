"""Settings changed while a model trains (``fs set``, the GUI's Settings tab).

Users train for days; stopping to change a learning rate costs the warm caches and the compiled
step. A change names settings as a schedule's ``[stage.set]`` does (``"section.key"``, or a run
setting: ``batch_size``, ``faces_a``, ``faces_b``, ``save_interval``, ``snapshot_interval``) and
is checked exactly as a schedule's stage is (:func:`fs_core.training.schedule.setting_problem`,
:func:`~fs_core.training.schedule.apply_settings`, the plugins' backends), all keys or none.

The loop applies it between iterations (a ``settings`` request,
:mod:`fs_core.training.requests`). What the loop and the save read afresh each time
(:data:`IN_PLACE`: the learning rate, the save and snapshot intervals, the NaN, collapse, plateau
and retention options) changes in place; anything else is baked into the compiled step, the
loader or the optimizer, so the session ends at that iteration with a save and the run goes on at
once in a new session prepared with the new settings, exactly as a schedule's next leg
(:mod:`fs_core.training.run`). Each applied change is kept in the session's ``[[sessions]]``
entry (``live_changes``) and in ``settings.toml`` (:mod:`fs_core.folder.live_settings`), which
every later ``fs train`` of the model applies over its config file.
"""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from fs_core import backend
from fs_core.config import CORE_SECTIONS, Config
from fs_core.errors import FsUserError
from fs_core.folder.live_settings import read_live_settings, write_live_settings
from fs_core.training.plugin_backends import check_plugin_backends
from fs_core.training.schedule import apply_settings, setting_problem

if TYPE_CHECKING:
    from fs_core.plugin_manager import Registry
    from fs_core.training.requests import LoopRequest
    from fs_core.training.session import TrainingSession, TrainRequest

#: settings that are ``fs train`` flags rather than config options, and the request field of each
RUN_FIELDS = {
    "batch_size": "batch_size",
    "faces_a": "input_a",
    "faces_b": "input_b",
    "save_interval": "save_interval",
    "snapshot_interval": "snapshot_interval",
}
_INTERVALS = ("save_interval", "snapshot_interval")
#: what the loop, the save and the guards read afresh at each use: changed in place
IN_PLACE = frozenset(
    {
        "global.learning_rate",
        "save_interval",
        "snapshot_interval",
        "global.nan_protection",
        "global.nan_recovery",
        "global.nan_lr_factor",
        "global.nan_max_rollbacks",
        "global.collapse_protection",
        "global.collapse_factor",
        "global.collapse_window",
        "global.collapse_max_rollbacks",
        "global.stop_plateau_iterations",
        "global.stop_plateau_fraction",
        "global.snapshot_keep",
        "global.snapshot_keep_every",
        "global.backup_keep",
        "global.save_optimizer",
        "global.convert_batchsize",
    }
)
#: changeable options that are fixed for a whole process: set them in the config file
NOT_LIVE = {
    "global.backend": "the Keras backend is chosen once, when fs train starts",
    "global.allow_growth": "the GPU memory is set up once, when fs train starts",
    "global.training_record": "live changes travel through the training record",
}
#: the most keys one change may carry (a request file is at most 4 KiB anyway)
MAX_KEYS = 64


def parse_value(text: str) -> Any:
    """A value as TOML reads it (``2e-5``, ``true``, ``"ssim"``, ``[1, 2]``); a bare word that is
    not TOML is the string itself, so ``ssim`` works as well as ``"ssim"``."""
    text = text.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        if not text or text[0] in "\"'[{":
            raise FsUserError(f"not a valid TOML value: {text}") from None
        return text


def parse_assignments(items: Sequence[str]) -> dict[str, Any]:
    """``["key=value", ...]`` as a mapping, values by :func:`parse_value`."""
    changes: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise FsUserError(f"'{item}': write KEY=VALUE, e.g. global.learning_rate=2e-5")
        try:
            changes[key] = parse_value(value)
        except FsUserError as error:
            raise FsUserError(f"'{key}': {error.one_line()}") from None
    return changes


def applies_now(key: str) -> bool:
    """Whether a change of ``key`` is made in place (else it needs a new session)."""
    return key in IN_PLACE


def option_settings(live: Mapping[str, Any]) -> dict[str, Any]:
    """The config options of a set of live settings (the run settings left out)."""
    return {key: value for key, value in live.items() if key not in RUN_FIELDS}


@attrs.frozen
class Change:
    """One applied change: the value in force before and after."""

    key: str
    old: Any
    new: Any

    def describe(self) -> str:
        return f"{self.key} {format_value(self.old)} -> {format_value(self.new)}"

    def to_record(self, iteration: int) -> dict[str, Any]:
        return {"iteration": iteration, "key": self.key, "old": self.old, "new": self.new}


def format_value(value: Any) -> str:
    """A value as messages show it (floats short: 2e-05)."""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def check_changes(
    changes: Any,
    *,
    registry: Registry,
    model_name: str,
    config: Config,
    config_class: type | None,
    backend_name: str | None = None,
) -> dict[str, Any]:
    """The changes checked as a schedule's stage is, over ``config``, and normalised (a float
    option's whole number made a float, a face folder made absolute). FsUserError, one line
    naming the key and the reason, for the first that cannot apply: nothing is applied then.
    ``backend_name``: also check that the plugins the changed config uses run on that backend."""
    if not isinstance(changes, Mapping) or not changes:
        raise FsUserError("no settings to change (give KEY=VALUE pairs)")
    if len(changes) > MAX_KEYS:
        raise FsUserError(f"at most {MAX_KEYS} settings in one change, got {len(changes)}")
    classes = dict(registry.model_config_classes())
    normal: dict[str, Any] = {}
    for key, value in changes.items():
        if not isinstance(key, str):
            raise FsUserError(f"setting names are strings, got {key!r}")
        if key in NOT_LIVE:
            raise FsUserError(f"'{key}' cannot change this way: {NOT_LIVE[key]}")
        if key in _INTERVALS:
            low = 1 if key == "save_interval" else 0
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise FsUserError(f"{key} must be a whole number, {low} or more, got {value!r}")
            normal[key] = value
            continue
        problem = setting_problem(key, value, model_name, classes)
        if problem is not None:
            raise FsUserError(problem)
        normal[key] = os.path.abspath(value) if key in ("faces_a", "faces_b") else value
    trial = copy.deepcopy(config)
    options = option_settings(normal)
    apply_settings(trial, options, model_name, config_class)
    for key in options:  # the values as the options hold them (100 -> 100.0)
        normal[key] = option_value(trial, key, model_name, config_class)
    if backend_name is not None:
        check_plugin_backends(registry, trial, model_name, backend_name)
    return normal


def option_value(config: Config, key: str, model_name: str, config_class: type | None) -> Any:
    """The value of option ``"section.key"`` in ``config``."""
    table, _, name = key.rpartition(".")
    attr = next((a for t, a, _ in CORE_SECTIONS if t == table), None)
    if attr is not None:
        section = getattr(config, attr)
    else:
        assert config_class is not None  # setting_problem refused other models' sections
        section = config.model(model_name, config_class)
    value = getattr(section, name)
    return list(value) if isinstance(value, tuple) else value


def with_live(request: TrainRequest, live: Mapping[str, Any]) -> TrainRequest:
    """``request`` with the live settings: the run settings in its fields, the options kept for
    :func:`fs_core.training.session.prepare_session`. A stored learning rate wins over one the
    learning rate finder stored (``-r``): the user set it after."""
    changes: dict[str, Any] = {"live_settings": dict(live)}
    for key, field in RUN_FIELDS.items():
        if key in live:
            changes[field] = live[key]
    if "global.learning_rate" in live:
        changes["use_lr_finder"] = False
    return attrs.evolve(request, **changes)


def describe_stored(live: Mapping[str, Any], model_dir: str) -> str:
    """The line ``fs train`` prints when a model has stored live settings."""
    listed = ", ".join(f"{key} = {format_value(value)}" for key, value in live.items())
    return (
        f"Changed settings (settings.toml) applied over the config: {listed}; forget them with "
        f"fs set -m {model_dir} --reset all"
    )


# ---------------------------------------------------------------- in the loop


def apply_between_iterations(session: TrainingSession, request: LoopRequest) -> None:
    """Honour a ``settings`` request: check it again (all keys or none), make the in-place
    changes, record every change (session entry, ``settings.toml``) and, when one needs a new
    session, mark the session to end after this iteration (``running.rebuild_requested``)."""
    running = session.running
    if session.distribution.worker_count > 1:
        raise FsUserError(
            f"settings cannot change while -d {session.distribution.name} trains (every worker "
            "would have to change together): stop, fs set, resume"
        )
    forget = tuple(request.forget)
    changes: list[Change] = []
    if request.changes:
        checked = check_changes(
            request.changes,
            registry=session.registry,
            model_name=session.model_name,
            config=session.config,
            config_class=session.setup.descriptor.config_class,
            backend_name=backend.active_name(),
        )
        _check_faces(session, checked)
        changes = [
            Change(key, old, new)
            for key, new in checked.items()
            if (old := current_value(session, key)) != new
        ]
    rebuild = any(not applies_now(change.key) for change in changes)
    if not rebuild:
        for change in changes:
            _apply_in_place(session, change)
    iteration = session.state.iterations
    if changes:
        session.record.setdefault("live_changes", []).extend(
            change.to_record(iteration) for change in changes
        )
    running.live_settings.update({change.key: change.new for change in changes})
    for key in forget:
        if key == "all":
            running.live_settings.clear()
        running.live_settings.pop(key, None)
    if session.is_chief and (changes or forget):
        stored = read_live_settings(session.setup.request.model_dir)
        stored = stored.updated({c.key: (c.old, c.new) for c in changes}).forgetting(forget)
        write_live_settings(session.setup.request.model_dir, stored)
    request.applied = tuple(changes)
    request.rebuild = rebuild
    if rebuild:
        running.rebuild_requested = True


def current_value(session: TrainingSession, key: str) -> Any:
    """The value of ``key`` the session trains with now (the learning rate: its base rate)."""
    if key == "global.learning_rate" and session.base_learning_rate:
        return float(session.base_learning_rate)
    if key in RUN_FIELDS:
        value = getattr(session.request, RUN_FIELDS[key])
        return os.path.abspath(value) if key in ("faces_a", "faces_b") else value
    return option_value(
        session.config, key, session.model_name, session.setup.descriptor.config_class
    )


def _check_faces(session: TrainingSession, checked: Mapping[str, Any]) -> None:
    """New face folders or a larger batch must still give a whole batch per side, checked now
    (a scan of a new folder) rather than after the session ended."""
    if not {"batch_size", "faces_a", "faces_b"} & set(checked):
        return
    from fs_core.data.scan import start_scans  # noqa: PLC0415 (only when faces or the batch change)

    batch = int(checked.get("batch_size", session.batch_size))
    for key, current in (("faces_a", session.faces_a), ("faces_b", session.faces_b)):
        faces = start_scans(checked[key], checked[key])[0].result() if key in checked else current
        if faces is not None and len(faces) < batch:
            raise FsUserError(
                f"{key}: has {len(faces)} faces, fewer than the batch size {batch}",
                getattr(faces, "folder", None),
            )


def _apply_in_place(session: TrainingSession, change: Change) -> None:
    key, value = change.key, change.new
    if key in _INTERVALS:
        setattr(session.request, key, int(value))
        return
    apply_settings(
        session.config, {key: value}, session.model_name, session.setup.descriptor.config_class
    )
    if key == "global.learning_rate":
        session.running.base_learning_rate = float(value)
        warmup = session.request.warmup
        # during a warm-up the loop sets the rate from the base rate at every step
        if not (warmup and session.session_iterations < warmup) and session.optimizer is not None:
            session.optimizer.learning_rate.assign(np.float32(value))


def answer_line(
    applied: Iterable[Change], forget: Iterable[str], iteration: int, rebuild: bool
) -> str:
    """The trainer's one-line answer to a change."""
    parts = [change.describe() for change in applied]
    forgotten = list(forget)
    lines = []
    if parts:
        lines.append(
            ", ".join(parts)
            + f" at iteration {iteration:,}: "
            + (
                f"applies from iteration {iteration:,} after a rebuild (a new session)"
                if rebuild
                else "applied now"
            )
        )
    if forgotten:
        lines.append(
            f"forgot {', '.join(forgotten)} (the config file's value applies from the next session)"
        )
    return "; ".join(lines) or "nothing changed: those values are in force already"
