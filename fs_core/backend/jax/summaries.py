"""TensorBoard event files on JAX: the framework-free writer and reader of
:mod:`fs_core.backend.tbfiles` (no TensorFlow needed)."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any


def _tbfiles() -> ModuleType:
    """The framework-free event-file module, imported when summaries are first used (fs train
    -n writes none)."""
    return importlib.import_module("fs_core.backend.tbfiles")


def create_summary_writer(folder: Path, max_queue: int, flush_millis: int) -> Any:
    """A writer of event files in ``folder`` (which exists)."""
    return _tbfiles().create_summary_writer(folder, max_queue, flush_millis)


def parse_event(record: bytes) -> Any:
    """One event file record as an event (``step``, ``summary.value``); raises when damaged."""
    return _tbfiles().parse_event(record)


def scalar_value(value: Any) -> float | None:
    """A summary value's number, or None."""
    return _tbfiles().scalar_value(value)


def text_value(value: Any) -> str:
    """A text summary value's string."""
    return _tbfiles().text_value(value)
