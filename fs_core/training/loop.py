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
from typing import Any, Literal

import numpy as np

from fs_core.errors import FsUserError
from fs_core.folder import disk
from fs_core.folder.snapshots import take_snapshot
from fs_core.lifecycle import Lifecycle
from fs_core.training import collapse, live
from fs_core.training.face_losses import split_results
from fs_core.training.nan_recovery import roll_back
from fs_core.training.requests import LastSnapshot, LoopRequest
from fs_core.training.saving import save
from fs_core.training.session import TrainingSession

#: Why a training session stopped: it reached ``-i``; Ctrl-C or SIGTERM; a stop request (the
#: GUI's stop button); a non-finite loss with no rollback left; a live change of settings that
#: needs a new session (the run goes on in one at once: :mod:`fs_core.training.run`).
StopReason = Literal["done", "interrupted", "stopped", "nan", "settings"]


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


def _to_floats(values: dict) -> dict[str, float]:
    return {key: float(value) for key, value in values.items()}


def train(session: TrainingSession, loader: Any, step: Any) -> StopReason:
    """Run until the iteration count, Ctrl-C, a NaN or a stop request; returns why it stopped.

    ``fs_train_end`` is called however the session ends, an exception included (with
    ``reason="error"`` and its one-line message), so every plugin can close what it opened."""
    hook = session.registry.hook()
    session.running.started = time.monotonic()  # examples/s count training, not loading faces
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
                results, per_face = split_results(step(batch))
                losses = _to_floats(results)
                session.state.iterations += 1
                session.running.session_iterations += 1
                disk.refresh(session)  # the low-space indication, at most every 30 s
                if not all(math.isfinite(losses[k]) for k in ("loss_a", "loss_b")):
                    after_nan = _on_non_finite(session, losses, hook)
                    if after_nan == "stop":
                        return "nan"
                    if after_nan == "rolled back":
                        continue
                if collapse.watch(session, losses):
                    continue  # rolled back to the last backup
                faces = getattr(loader, "last_faces", None)
                if per_face is not None and faces and session.running.face_losses is not None:
                    session.running.face_losses.update(faces, per_face, session.state.iterations)
                session.loss_history.append(losses["loss_a"] + losses["loss_b"])
                hook.fs_iteration_end(
                    session=session, iteration=session.state.iterations, losses=losses
                )
                honour_requests(session, hook)
                if session.stop_requested:
                    return "stopped"  # the exit save follows
                if session.running.rebuild_requested:
                    return "settings"  # the exit save follows, then a new session
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


def honour_requests(session: TrainingSession, hook: Lifecycle) -> None:
    """After an iteration: do what plugins asked (:mod:`fs_core.training.requests`), in the
    order they asked, and tell them through ``fs_request_done``. A stop is only marked here: the
    loop ends after this, with its exit save. A requested save that fails is answered as failed
    and training goes on (the scheduled saves still run their own disk guard)."""
    running = session.running
    while running.requests:
        request = running.requests.pop(0)
        request.iteration = session.state.iterations
        try:
            _do(session, request, hook)
        except Exception as error:
            request.outcome, request.error = "failed", error
        hook.fs_request_done(session=session, request=request)


def _do(session: TrainingSession, request: LoopRequest, hook: Lifecycle) -> None:
    iteration = session.state.iterations
    if request.action == "stop":
        session.running.stop_requested = True
        request.outcome = "done"
        return
    if request.action == "settings":
        live.apply_between_iterations(session, request)
        request.outcome = "done"
        return
    if not session.session_iterations:
        raise ValueError("nothing trained yet this session")
    save(session, is_exit=False, hook=hook)
    if request.action == "snapshot":
        request.snapshot = _snapshot_of_save(session, iteration)
        if request.snapshot is None:
            raise ValueError(
                f"saved at iteration {iteration}; the snapshot was skipped (see the messages)"
            )
    request.outcome = "done"


def _snapshot_of_save(session: TrainingSession, iteration: int) -> str | None:
    """The snapshot of the save just made: the one ``-I`` took of it, else a new one (None when
    it was skipped, the reason told)."""
    last = session.running.last_snapshot
    if last is None or last.iteration != iteration:
        folder = take_snapshot(session, session.model_dir, iteration)
        if folder is None:
            return None
        last = session.running.last_snapshot = LastSnapshot(iteration, folder.name)
    return last.folder
