"""The lifecycle hooks, called with their real types.

pluggy's hook relay takes any keyword arguments and returns ``Any``; the training loop calls the
hooks through :class:`Lifecycle` instead, so a wrong argument is a type error where it is written,
and each call says what it passes. The hooks themselves (what a plugin implements) are specified in
:mod:`fs_core.hookspecs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

import attrs
import pluggy

if TYPE_CHECKING:
    from fs_core.training.requests import LoopRequest
    from fs_core.training.session import TrainingSession

EndReason = Literal["done", "interrupted", "stopped", "nan", "settings", "error"]


@attrs.frozen
class Lifecycle:
    """Calls every registered implementation of a lifecycle hook (see :mod:`fs_core.hookspecs`)."""

    relay: pluggy.HookRelay

    def fs_train_start(self, session: TrainingSession) -> None:
        self.relay.fs_train_start(session=session)

    def fs_iteration_end(
        self, session: TrainingSession, iteration: int, losses: Mapping[str, float]
    ) -> None:
        self.relay.fs_iteration_end(session=session, iteration=iteration, losses=losses)

    def fs_save(
        self, session: TrainingSession, model_dir: str, iteration: int, backup: bool
    ) -> None:
        self.relay.fs_save(session=session, model_dir=model_dir, iteration=iteration, backup=backup)

    def fs_nan(
        self,
        session: TrainingSession,
        iteration: int,
        losses: Mapping[str, float],
        rolled_back: bool,
    ) -> None:
        self.relay.fs_nan(
            session=session, iteration=iteration, losses=losses, rolled_back=rolled_back
        )

    def fs_collapse(self, session: TrainingSession, event: Mapping[str, object]) -> None:
        self.relay.fs_collapse(session=session, event=event)

    def fs_request_done(self, session: TrainingSession, request: LoopRequest) -> None:
        self.relay.fs_request_done(session=session, request=request)

    def fs_train_end(self, session: TrainingSession, reason: EndReason, error: str | None) -> None:
        self.relay.fs_train_end(session=session, reason=reason, error=error)
