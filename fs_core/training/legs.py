"""Running a schedule in legs: each leg trains one stage's stretch with that stage's settings.

A leg is an ordinary training session (its own ``[[sessions]]`` entry, compiled step and loader),
prepared from a request that :func:`plan_leg` derives from the command's request and the stage in
force at the model's total iteration. Because every leg is planned from the saved model, stopping
and resuming mid-recipe, or a stage that came due while the model trained without the schedule,
need nothing special: the next run plans from where the model is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from fs_core.folder.layout import state_file
from fs_core.folder.snapshots import take_snapshot
from fs_core.folder.state import load_state
from fs_core.training.schedule import RUN_SETTINGS, Schedule, Stage
from fs_core.training.session import TrainingSession, TrainRequest


@attrs.frozen
class Leg:
    """The request one leg trains, and the stages that begin with it (oldest first)."""

    request: TrainRequest
    beginning: tuple[Stage, ...]


def position(model_dir: str | Path) -> tuple[int, int | None]:
    """The saved model's total iterations and the ``at`` of the stage its state records
    (0 and None for a new model)."""
    if not state_file(model_dir).is_file():
        return 0, None
    state = load_state(model_dir)
    recorded = (state.schedule or {}).get("at")
    return state.iterations, recorded if isinstance(recorded, int) else None


def plan_leg(request: TrainRequest, remaining: int, batch_cap: int | None = None) -> Leg:
    """The next leg of ``request.schedule`` for a session with ``remaining`` iterations left:
    it ends at the next stage's ``at`` (or when ``remaining`` runs out). ``batch_cap``: the batch
    ``--auto-batch`` fell back to after running out of memory in this run."""
    schedule = request.schedule
    assert schedule is not None  # only scheduled runs go in legs
    iterations, recorded = position(request.model_dir)
    settings = schedule.settings_at(iterations)
    following = schedule.next_after(iterations)
    length = remaining if following is None else min(remaining, following.at - iterations)
    beginning = schedule.beginning(iterations, recorded)
    batch = int(settings.get("batch_size", request.batch_size))
    changes: dict[str, Any] = {
        "batch_size": batch,
        "input_a": str(settings.get("faces_a", request.input_a)),
        "input_b": str(settings.get("faces_b", request.input_b)),
        "iterations": length,
        "stage_options": {k: v for k, v in settings.items() if k not in RUN_SETTINGS},
        "stage_frozen": schedule.freezing_at(iterations),
        "reset_parts": tuple(dict.fromkeys(name for s in beginning for name in s.reset)),
    }
    if batch_cap is not None and batch > batch_cap:
        changes.update(batch_size=batch_cap, auto_batch_from=batch)
    return Leg(attrs.evolve(request, **changes), beginning)


def begin_stages(session: TrainingSession, leg: Leg) -> None:
    """The one-off part of the stages that begin with this leg: say so, snapshot the saved model
    when one of them asks (the model as it was when the stage began), and record the stage in the
    state (written with the leg's first save, so an unsaved beginning is redone on resume)."""
    schedule = session.request.schedule
    if schedule is None or not leg.beginning:
        return
    for stage in leg.beginning:
        session.print(f"Schedule: beginning {stage.describe()}")
    saved = session.state.iterations > 0 and state_file(session.model_dir).is_file()
    if any(stage.snapshot for stage in leg.beginning) and saved and session.is_chief:
        folder = take_snapshot(session, session.model_dir, session.state.iterations)
        if folder is not None:
            session.print(f"Schedule: snapshot {folder}")
    last = leg.beginning[-1]
    session.state.schedule = {"file": schedule.path, "stage": last.number, "at": last.at}


def after_optimizer(session: TrainingSession) -> None:
    """Once the leg's optimizer exists: after a reset its saved moments belong to the old
    weights, so the optimizer starts afresh."""
    request = session.request
    if request.reset_parts and session.state.iterations and session.optimizer is not None:
        for variable in session.optimizer.variables:
            variable.assign(variable.numpy() * 0)
        session.optimizer.learning_rate.assign(session.base_learning_rate)  # one of them


def upcoming_lines(schedule: Schedule, model_dir: str | Path) -> list[str]:
    """What ``fs train`` prints at the start: the stage in force and the stages to come."""
    return schedule.describe_upcoming(position(model_dir)[0])
