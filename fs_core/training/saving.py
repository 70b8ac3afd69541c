"""A training save: the disk guard, the held-out loss, the model files, a backup at a new low of
the average loss, then the ``fs_save`` hook."""

from __future__ import annotations

import numpy as np

from fs_core.folder import backups, disk, model_files, snapshots
from fs_core.lifecycle import Lifecycle
from fs_core.model.state import now
from fs_core.model.weights import save_weights
from fs_core.training import heap, holdout
from fs_core.training.session import TrainingSession


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
    if session.running.face_losses is not None and session.is_chief:
        session.running.face_losses.save(session.model_dir, state.iterations)
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
