"""The training record: what a trainer publishes in ``MODEL_DIR/record/`` (progress, saves,
previews, messages, NaN, the end) and the command channel into it; read by ``fs gui`` and
``fs analysis``, with the TensorBoard scalars the run wrote (``events.py``). The format is
documented in ``docs/training-record.md``."""

from __future__ import annotations

from fs_core.record.commands import send_command
from fs_core.record.files import COMMANDS
from fs_core.record.reader import (
    EventReader,
    is_training,
    loss_series,
    model_summary,
    previews,
    read_events,
    recent_messages,
    sessions_table,
)

__all__ = [
    "COMMANDS",
    "EventReader",
    "is_training",
    "loss_series",
    "model_summary",
    "previews",
    "read_events",
    "recent_messages",
    "send_command",
    "sessions_table",
]
