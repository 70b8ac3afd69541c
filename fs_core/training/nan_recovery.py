"""NaN recovery: roll back to the last good weights, lower the learning rate, and go on.

NaN protection alone stops training without saving, which keeps the last save clean but leaves a
user who trains overnight with nothing done. With ``[global] nan_recovery = "rollback"`` fs instead
loads the last backup (or, before any backup exists, the last save), clears the optimizer's
moments (they may hold the non-finite values), multiplies the learning rate by
``nan_lr_factor`` and continues; each rollback is written into the session's entry of
``state.toml``. After ``nan_max_rollbacks`` in one session it stops as plain NaN protection does.
"""

from __future__ import annotations

from pathlib import Path

from fs_core.model.state import load_state
from fs_core.model.weights import (
    WEIGHTS_FILE,
    has_optimizer_state,
    load_optimizer_state,
    load_weights,
)
from fs_core.training.model_dir import BACKUP_DIR


def _last_good(model_dir: Path) -> Path | None:
    """The folder holding the weights to go back to: backups/ first, else the last save."""
    for folder in (model_dir / BACKUP_DIR, model_dir):
        if (folder / WEIGHTS_FILE).exists() and (folder / "state.toml").exists():
            return folder
    return None


def roll_back(session, iteration: int) -> bool:
    """Undo the collapse; False when recovery is off, exhausted, or nothing was saved yet."""
    options = session.config.global_
    done = session.record.setdefault("nan_rollbacks", [])
    if options.nan_recovery != "rollback" or len(done) >= options.nan_max_rollbacks:
        return False
    folder = _last_good(session.model_dir)
    if folder is None:
        return False
    load_weights(
        folder / WEIGHTS_FILE,
        session.model,
        model_name=session.model_name,
        renamed_parts=session.built.descriptor.legacy_part_names,
    )
    if not (
        has_optimizer_state(folder / WEIGHTS_FILE)
        and load_optimizer_state(folder / WEIGHTS_FILE, session.optimizer)
    ):
        for variable in session.optimizer.variables:
            variable.assign(variable.numpy() * 0)
    restored_to = load_state(folder).iterations
    session.state.iterations = restored_to
    session.base_learning_rate *= options.nan_lr_factor
    session.optimizer.learning_rate.assign(session.base_learning_rate)
    session.loss_history.clear()
    done.append(
        {
            "iteration": iteration,
            "restored_to": restored_to,
            "from": "backup" if folder.name == BACKUP_DIR else "last save",
            "learning_rate": session.base_learning_rate,
        }
    )
    session.print(
        f"\nNaN at iteration {iteration}: rolled back to {restored_to} iterations "
        f"({done[-1]['from']}), learning rate now {session.base_learning_rate:.3g} "
        f"(rollback {len(done)} of {options.nan_max_rollbacks})."
    )
    return True
