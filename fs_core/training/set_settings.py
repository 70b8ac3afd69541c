"""Changing a model's settings from outside its trainer: what ``fs set`` and the GUI's Settings
tab do (:mod:`fs_core.training.live` is the trainer's side).

A change is checked here first, exactly as a schedule's stage (so a typo is refused at once, in
one line, nothing applied). Then, when a trainer runs on the folder, it travels through the
command channel (a ``set`` request) and the trainer, which checks it again against the config it
really trains with, answers in ``events.jsonl``; when none runs, it is stored in
``settings.toml`` for the next ``fs train``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from fs_core.config import Config
from fs_core.errors import FsUserError
from fs_core.folder.layout import events_file, has_state, record_dir, trainer_file
from fs_core.folder.live_settings import LiveSettings, read_live_settings, write_live_settings
from fs_core.folder.state import load_state
from fs_core.record import is_training, read_events, send_command
from fs_core.training import live
from fs_core.training.arguments import recorded_train_args
from fs_core.training.schedule import apply_settings

if TYPE_CHECKING:
    from fs_core.plugin_manager import Registry

#: how long ``fs set`` waits for the trainer's answer by default, in seconds
WAIT_SECONDS = 60.0


@attrs.frozen
class Outcome:
    """What became of a change: sent to a trainer (``answered``: its answer came) or stored."""

    text: str
    sent: bool
    answered: bool = False
    failed: bool = False
    ident: str | None = None


def _model_name(model_dir: Path) -> str:
    if has_state(model_dir):
        return load_state(model_dir).model
    try:
        name = json.loads(trainer_file(model_dir).read_text(encoding="utf-8")).get("model")
    except (OSError, ValueError):
        name = None
    if not isinstance(name, str):
        raise FsUserError("not a model folder (no state.toml): train it first", model_dir)
    return name


def check_model_dir(model_dir: str | Path) -> Path:
    folder = Path(model_dir)
    if not folder.is_dir() or not (has_state(folder) or record_dir(folder).is_dir()):
        raise FsUserError("not a model folder (no state.toml): train it first", folder)
    return folder


def current_values(model_dir: Path) -> dict[str, Any]:
    """The values a stopped model last trained with, as ``"section.key"`` and run settings: its
    last session's options and batch, and the flags of its last run (``trainer.json``)."""
    values: dict[str, Any] = {}
    if has_state(model_dir):
        state = load_state(model_dir)
        for table, section in state.config.items():
            if isinstance(section, Mapping):
                values.update({f"{table}.{k}": v for k, v in section.items()})
        if state.sessions:
            last = state.sessions[-1]
            for table, section in (last.get("config") or {}).items():
                if isinstance(section, Mapping):
                    values.update({f"{table}.{k}": v for k, v in section.items()})
            if "batch_size" in last:
                values["batch_size"] = last["batch_size"]
    values.update(_run_flags(model_dir))
    values.update(read_live_settings(model_dir).values)
    return values


def _run_flags(model_dir: Path) -> dict[str, Any]:
    """``faces_a``, ``faces_b``, ``save_interval``, ``snapshot_interval`` of the last run."""
    try:
        args = recorded_train_args(model_dir)
    except FsUserError:
        return {}
    found = {
        "faces_a": args.input_a,
        "faces_b": args.input_b,
        "save_interval": args.save_interval,
        "snapshot_interval": args.snapshot_interval,
    }
    return {k: v for k, v in found.items() if v is not None}


def check(model_dir: Path, changes: Mapping[str, Any], registry: Registry) -> dict[str, Any]:
    """The changes checked as a schedule's stage is (over the defaults and the stored live
    settings), normalised; FsUserError naming the key and the reason."""
    name = _model_name(model_dir)
    descriptor = registry.models.get(name)
    if descriptor is None:
        raise FsUserError(f"the model's architecture '{name}' is not installed", model_dir)
    config = Config()
    stored = live.option_settings(read_live_settings(model_dir).values)
    try:  # the change is checked in combination with what is stored already
        apply_settings(config, stored, name, descriptor.config_class)
    except FsUserError:
        config = Config()  # a stored value no longer valid: fs train says so; this change alone
    return live.check_changes(
        changes,
        registry=registry,
        model_name=name,
        config=config,
        config_class=descriptor.config_class,
    )


def change(
    model_dir: str | Path,
    changes: Mapping[str, Any],
    registry: Registry | None,
    reset: Sequence[str] = (),
    wait: float | None = WAIT_SECONDS,
) -> Outcome:
    """Check ``changes`` and send them to the running trainer (waiting up to ``wait`` seconds
    for its answer; None: not at all) or, when none runs, store them; ``reset`` forgets stored
    settings ("all": every one)."""
    folder = check_model_dir(model_dir)
    checked = {}
    if changes:
        if registry is None:
            raise FsUserError("checking a change needs the installed plugins (a registry)")
        checked = check(folder, changes, registry)
    if is_training(folder):
        try:
            offset = events_file(folder).stat().st_size
        except OSError:
            offset = 0
        ident = send_command(folder, "set", changes=checked, reset=reset)
        if wait is None:
            return Outcome(f"sent to the trainer (request {ident})", sent=True, ident=ident)
        answer = wait_for_answer(folder, ident, offset, wait)
        if answer is None:
            return Outcome(
                f"sent; no answer from the trainer within {wait:g} s (it answers between "
                "iterations; the answer will be in the record's messages)",
                sent=True,
                ident=ident,
            )
        failed = answer.get("status") != "done"
        return Outcome(
            str(answer.get("detail") or ""), sent=True, answered=True, failed=failed, ident=ident
        )
    return Outcome(store(folder, checked, reset), sent=False)


def store(folder: Path, checked: Mapping[str, Any], reset: Sequence[str]) -> str:
    """Store the changes for the next ``fs train`` (no trainer runs); the line saying so."""
    stored = read_live_settings(folder)
    before = current_values(folder)
    updated = stored.forgetting(reset).updated(
        {key: (before.get(key), value) for key, value in checked.items()}
    )
    write_live_settings(folder, updated)
    parts = []
    if checked:
        parts.append(
            "stored for the next start: "
            + ", ".join(f"{k} = {live.format_value(v)}" for k, v in checked.items())
        )
    if reset:
        parts.append(f"forgot {', '.join(reset)}")
    return "; ".join(parts) or "nothing to change"


def wait_for_answer(folder: Path, ident: str, offset: int, seconds: float) -> dict | None:
    """The trainer's ``command`` record answering request ``ident``, or None after ``seconds``."""
    end = time.monotonic() + seconds
    while True:
        records, offset = read_events(folder, offset)
        for record in records:
            if record.get("type") == "command" and record.get("id") == ident:
                return record
        if time.monotonic() >= end:
            return None
        time.sleep(0.1)


def listing(model_dir: str | Path) -> list[dict[str, Any]]:
    """The stored live settings: ``[{"key", "value", "replaces"}]`` (``replaces``: the value in
    force when it was first set, or None when unknown)."""
    stored: LiveSettings = read_live_settings(check_model_dir(model_dir))
    return [
        {"key": key, "value": value, "replaces": stored.replaced.get(key)}
        for key, value in stored.values.items()
    ]
