"""The training record (``MODEL_DIR/record/``), as a built-in implementation of the lifecycle
hooks: what ``fs gui`` and ``fs analysis`` read, and the folder through which they send commands.

Written by the chief worker only, and only with ``[global] training_record`` on (the default).
Its save, iteration and end hooks run after the other plugins' (``trylast``, and registered after
the snapshots built-in), so a save record can name the snapshot just written and the end record
follows every message. The work is done by :class:`fs_core.builtins.record_trainer.TrainerRecord`.

The ``save``, ``snapshot`` and ``stop`` commands are asked of the loop as requests
(:mod:`fs_core.training.requests`) and answered in ``fs_request_done``, once the loop has done
them; a collapse rollback arrives through ``fs_collapse``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fs_core.builtins.record_trainer import TrainerRecord
from fs_core.hookspecs import hookimpl
from fs_core.stash import StashKey

if TYPE_CHECKING:
    from fs_core.training.requests import LoopRequest

KEY: StashKey[TrainerRecord] = StashKey("record")


@hookimpl
def fs_train_start(session: Any) -> None:
    if not session.is_chief or not getattr(session.config.global_, "training_record", True):
        return

    try:
        record = TrainerRecord(session)
    except OSError as error:
        session.print(
            f"Training record: cannot write in {session.model_dir}: "
            f"{error.strerror or error}; training without it"
        )
        return
    session.stash[KEY] = record
    record.start()


@hookimpl(trylast=True)
def fs_iteration_end(session: Any, losses: Mapping[str, float]) -> None:
    record = session.stash.get(KEY, None)
    if record is not None:
        record.iteration(losses)


@hookimpl(trylast=True)
def fs_save(session: Any, iteration: int, backup: bool = False) -> None:
    record = session.stash.get(KEY, None)
    if record is not None:
        record.saved(iteration, backup)


@hookimpl
def fs_nan(
    session: Any, iteration: int, losses: Mapping[str, float], rolled_back: bool = False
) -> None:
    record = session.stash.get(KEY, None)
    if record is not None:
        record.nan(iteration, losses, rolled_back)


@hookimpl
def fs_collapse(session: Any, event: Mapping[str, Any]) -> None:
    record = session.stash.get(KEY, None)
    if record is not None:
        record.collapse(event)


@hookimpl(trylast=True)
def fs_request_done(session: Any, request: LoopRequest) -> None:
    record = session.stash.get(KEY, None)
    if record is not None:
        record.request_done(request)


@hookimpl(trylast=True)
def fs_train_end(session: Any, reason: str = "done", error: str | None = None) -> None:
    record = session.stash.pop(KEY, None)
    if record is not None:
        record.end(reason, error)
