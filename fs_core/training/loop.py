"""The training loop: fetch a batch, run the compiled step, report, save on schedule.

Ctrl-C (and SIGTERM) and reaching the iteration count both end with a save. A non-finite loss
stops *without* saving (NaN protection), so the last save never holds a collapsed model. The
collapse guard (:mod:`fs_core.training.collapse`) watches each iteration's loss and, before each
save, the reconstructions; the held-out set (:mod:`fs_core.training.holdout`) is measured at each
save.
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import keras
import numpy as np

from fs_core.errors import FsUserError
from fs_core.folder import backups, disk, model_files, snapshots
from fs_core.lifecycle import Lifecycle
from fs_core.model.state import now
from fs_core.model.weights import (
    WEIGHTS_FILE,
    has_optimizer_state,
    load_optimizer_state,
    save_weights,
)
from fs_core.training import collapse, heap, holdout
from fs_core.training.clipping import make_gradient_clipper
from fs_core.training.nan_recovery import roll_back
from fs_core.training.session import TrainingSession
from fs_core.training.strategy import ReplicaSumClipper

#: Why a training session stopped: it reached ``-i``; Ctrl-C or SIGTERM; a stop request (the
#: GUI's stop button); a non-finite loss with no rollback left.
StopReason = Literal["done", "interrupted", "stopped", "nan"]

if TYPE_CHECKING:
    from fs_core.training.clipping import GradientClipper
    from fs_core.training.strategy import ReplicaSumClipper


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C so a polite kill also ends with a save."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def make_optimizer(session: TrainingSession) -> Any:
    options = session.config.global_
    if options.optimizer not in session.registry.optimizers:
        raise FsUserError(
            f"[global] optimizer: '{options.optimizer}' is not installed (installed: "
            f"{', '.join(sorted(session.registry.optimizers))})",
            session.config.path,
        )
    # optimizer slots and the clipper's state live where the model's variables do
    with session.distribution.scope():
        optimizer = _build_optimizer(session, options)
    weights = Path(session.request.model_dir) / WEIGHTS_FILE  # a non-chief worker's too
    if session.state.iterations and weights.exists() and has_optimizer_state(weights):
        if load_optimizer_state(weights, optimizer):
            session.print("Optimizer state restored")
    return optimizer


def _build_optimizer(session: TrainingSession, options: Any) -> Any:
    optimizer = session.registry.optimizers[options.optimizer].make(options)
    if options.gradient_clipping != "none" and not hasattr(optimizer, "set_gradient_clipper"):
        # clipping the user asked for is never skipped silently
        raise FsUserError(
            f"[global] gradient_clipping = '{options.gradient_clipping}' needs an optimizer that "
            f"can clip, and optimizer '{options.optimizer}' cannot; set gradient_clipping = "
            "'none' or choose a built-in optimizer",
            session.config.path,
        )
    if options.gradient_clipping != "none":
        # inside the optimizer: clipping sees unscaled, accumulated gradients (as faceswap clips)

        clipper: GradientClipper | ReplicaSumClipper = make_gradient_clipper(options)
        replicas = session.distribution.replicas
        if replicas > 1:  # clip the global gradient, not each replica's share
            clipper = ReplicaSumClipper(clipper, replicas)
        optimizer.set_gradient_clipper(clipper)
    if session.precision is not None and session.precision.policy == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    optimizer.build(session.model.trainable_variables)
    return optimizer


def _to_floats(values: dict) -> dict[str, float]:
    return {key: float(value) for key, value in values.items()}


def save(session: TrainingSession, *, is_exit: bool, hook: Lifecycle) -> None:
    """Save weights and state; back up when the average loss since the last save is a new low.

    The disk guard runs first: a save that does not fit, even after retention made room, stops
    training with FsUserError before anything is written (see :mod:`fs_core.folder.disk`)."""
    policy = session.config.global_.save_optimizer
    with_optimizer = policy == "always" or (policy == "exit" and is_exit)
    disk.ensure_room_for_save(
        session, disk.save_need(session, with_optimizer), lambda: _make_room(session)
    )
    holdout.evaluate(session)  # the held-out loss goes into this save's state and hooks
    state = session.state
    session.record["iterations"] = session.session_iterations
    session.record["end"] = now()
    session.record["examples_per_second"] = round(session.examples_per_second(), 3)
    average = float(np.mean(session.loss_history)) if session.loss_history else None
    new_low = average is not None and (
        state.lowest_avg_loss is None or average < state.lowest_avg_loss
    )
    first_record = state.lowest_avg_loss is None
    if new_low:
        state.lowest_avg_loss = average
    model_files.save_model_files(
        session.model_dir,
        state,
        lambda path: save_weights(
            path,
            session.model,
            model_name=session.model_name,
            iterations=state.iterations,
            optimizer=session.optimizer if with_optimizer else None,
            extra=(
                session.extensions.saved_entries(with_optimizer)
                if session.extensions is not None
                else ()
            ),
        ),
    )
    backup = new_low and not first_record and backups.take_backup(session, float(average or 0.0))
    session.loss_history.clear()
    hook.fs_save(
        session=session, model_dir=str(session.model_dir), iteration=state.iterations, backup=backup
    )
    heap.release_free_heap()  # the save's buffers are freed: keep a long run's footprint flat


def _make_room(session: TrainingSession) -> None:
    """Retention ahead of a save that does not fit: older backups and snapshots beyond what
    their options keep (the newest of each always stays)."""
    options = session.config.global_
    backups.make_room(session.model_dir, int(options.backup_keep))
    snapshots.make_room(
        session.model_dir, int(options.snapshot_keep), int(options.snapshot_keep_every)
    )


def train(session: TrainingSession, loader: Any, step: Any) -> StopReason:
    """Run until the iteration count, Ctrl-C, a NaN or a stop request; returns why it stopped.

    ``fs_train_end`` is called however the session ends, an exception included (with
    ``reason="error"`` and its one-line message), so every plugin can close what it opened."""
    hook = session.registry.hook()
    session.started = time.monotonic()  # examples/s count training, not loading the faces
    try:
        hook.fs_train_start(session=session)
        reason = _iterate(session, loader, step, hook)
        if reason != "nan" and session.session_iterations:
            collapse.before_save(session)
            save(session, is_exit=True, hook=hook)
    except BaseException as error:
        interrupted = isinstance(error, KeyboardInterrupt)
        with contextlib.suppress(Exception):  # the original error is the one to report
            hook.fs_train_end(
                session=session,
                reason="interrupted" if interrupted else "error",
                error=None if interrupted else _one_line(error),
            )
        raise
    hook.fs_train_end(session=session, reason=reason, error=None)
    return reason


def _iterate(session: TrainingSession, loader: Any, step: Any, hook: Lifecycle) -> StopReason:
    request = session.request
    try:
        with _sigterm_as_interrupt():
            for local in range(1, request.iterations + 1):
                warm_up(session)
                batch = next(loader)
                losses = _to_floats(step(batch))
                session.state.iterations += 1
                session.session_iterations += 1
                disk.refresh(session)  # the low-space indication, at most every 30 s
                if not all(math.isfinite(losses[k]) for k in ("loss_a", "loss_b")):
                    after_nan = _on_non_finite(session, losses, hook)
                    if after_nan == "stop":
                        return "nan"
                    if after_nan == "rolled back":
                        continue
                if collapse.watch(session, losses):
                    continue  # rolled back to the last backup
                session.loss_history.append(losses["loss_a"] + losses["loss_b"])
                hook.fs_iteration_end(
                    session=session, iteration=session.state.iterations, losses=losses
                )
                if session.stop_requested:
                    return "stopped"  # the exit save follows
                snapshot_due = (
                    request.snapshot_interval
                    and session.state.iterations % request.snapshot_interval == 0
                )
                if (
                    local % request.save_interval == 0 or snapshot_due
                ) and local != request.iterations:
                    collapse.before_save(session)  # a collapse here is undone before the save
                    save(session, is_exit=False, hook=hook)  # a snapshot copies this save
    except KeyboardInterrupt:
        return "interrupted"
    return "done"


def _on_non_finite(
    session: TrainingSession, losses: dict[str, float], hook: Lifecycle
) -> Literal["rolled back", "stop", "go on"]:
    """A loss went NaN or infinite: roll back to the last backup when NaN recovery can, else
    report it; training stops when NaN protection is on, and goes on from the non-finite weights
    when it is off."""
    protected = session.config.global_.nan_protection
    if protected and roll_back(session, session.state.iterations):
        hook.fs_nan(
            session=session, iteration=session.state.iterations, losses=losses, rolled_back=True
        )
        return "rolled back"
    _report_nan(session, losses, hook)
    return "stop" if protected else "go on"


def _one_line(error: BaseException) -> str:
    if isinstance(error, FsUserError):
        return error.one_line()
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def warm_up(session: TrainingSession) -> None:
    """``-a N``: the rate rises linearly from 0 to the base rate over this session's first N
    steps."""
    steps, done = session.request.warmup, session.session_iterations
    if steps and done <= steps:
        assert session.optimizer is not None  # made before training starts
        # a NumPy scalar: a Python float per step would be cached by TensorFlow for good
        rate = np.float32(session.base_learning_rate * done / steps)
        session.optimizer.learning_rate.assign(rate)
        if done and done % max(1, steps // 10) == 0 and done < steps:
            session.print(f"\nWarmup {100 * done // steps}%")


def _report_nan(session: TrainingSession, losses: dict[str, float], hook: Lifecycle) -> None:
    bad = [name for name, value in losses.items() if not math.isfinite(value)]
    hook.fs_nan(
        session=session, iteration=session.state.iterations, losses=losses, rolled_back=False
    )
    if not session.config.global_.nan_protection:
        return
    session.print(
        f"\nNaN protection: non-finite loss at iteration {session.state.iterations} "
        f"({', '.join(bad)}). Training stopped without saving; the last save is intact. "
        "Restore the last backup with 'fs restore' or lower [global] learning_rate."
    )
