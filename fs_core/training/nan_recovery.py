"""NaN recovery: roll back to the last good weights, lower the learning rate, and go on.

NaN protection alone stops training without saving, which keeps the last save clean but leaves a
user who trains overnight with nothing done. With ``[global] nan_recovery = "rollback"`` fs instead
loads the newest backup (or, before any backup exists, the last save), clears the optimizer's
moments (they may hold the non-finite values), multiplies the learning rate by
``nan_lr_factor`` and continues; each rollback is written into the session's entry of
``state.toml``. After ``nan_max_rollbacks`` in one session it stops as plain NaN protection does.
"""

from __future__ import annotations

from fs_core.folder.backups import last_good
from fs_core.folder.layout import weights_file
from fs_core.folder.state import load_state
from fs_core.model.weights import has_optimizer_state, load_optimizer_state, load_weights


def roll_back(session, iteration: int) -> bool:
    """Undo the collapse; False when recovery is off, exhausted, or nothing was saved yet."""
    options = session.config.global_
    done = session.record.setdefault("nan_rollbacks", [])
    if options.nan_recovery != "rollback" or len(done) >= options.nan_max_rollbacks:
        return False
    restored = restore_last_good(session, options.nan_lr_factor)
    if restored is None:
        return False
    restored_to, source = restored
    done.append(
        {
            "iteration": iteration,
            "restored_to": restored_to,
            "from": source,
            "learning_rate": session.base_learning_rate,
        }
    )
    session.print(
        f"\nNaN at iteration {iteration}: rolled back to {restored_to} iterations "
        f"({done[-1]['from']}), learning rate now {session.base_learning_rate:.3g} "
        f"(rollback {len(done)} of {options.nan_max_rollbacks})."
    )
    return True


def restore_last_good(session, lr_factor: float) -> tuple[int, str] | None:
    """Load the newest backup (or the last save) into the running model, reset the optimizer's
    moments unless they were saved with it, multiply the learning rate by ``lr_factor``; returns
    the iterations restored to and where from ("backup", "last save"), or None when nothing was
    saved yet. The collapse guard (:mod:`fs_core.training.collapse`) uses it too."""
    found = last_good(session.model_dir)
    if found is None:
        return None
    folder, source = found
    load_weights(
        weights_file(folder),
        session.model,
        model_name=session.model_name,
        renamed_parts=session.built.descriptor.legacy_part_names,
    )
    if not (
        has_optimizer_state(weights_file(folder))
        and load_optimizer_state(weights_file(folder), session.optimizer)
    ):
        for variable in session.optimizer.variables:
            variable.assign(variable.numpy() * 0)
    if session.extensions is not None:  # the discriminators go back with the model
        session.extensions.restore(weights_file(folder))
    restored_to = load_state(folder).iterations
    session.state.iterations = restored_to
    session.running.base_learning_rate *= lr_factor
    session.optimizer.learning_rate.assign(session.base_learning_rate)
    session.loss_history.clear()
    return restored_to, source
