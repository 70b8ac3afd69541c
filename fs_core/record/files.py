"""How one line of the training record is encoded, and the record's vocabulary (types, commands,
end reasons).

Everything is under ``MODEL_DIR/record/``: ``events.jsonl`` (the event log), ``trainer.json`` (who
is training), ``previews/`` (one PNG pair per save) and ``commands/`` (requests to the trainer);
those names and paths are :mod:`fs_core.folder.layout`'s. Kept apart from the writer and the readers
so both agree on the encoding without importing each other.
"""

from __future__ import annotations

import json
import math
from typing import Any

VERSION = 1
COMMANDS = ("stop", "save", "snapshot", "preview", "set")
TYPES = (
    "session_start",
    "progress",
    "save",
    "preview",
    "message",
    "nan",
    "command",
    "settings",
    "end",
)
END_REASONS = ("done", "interrupted", "stopped", "nan", "settings", "error")


def encode(record: dict[str, Any]) -> bytes:
    """One record as one line: compact separators, ``v`` and ``type`` first, so a reader can pick
    lines of one type by a byte search (``"type":"message"``) before parsing them. Non-finite
    floats are written as null (JSON has no NaN)."""
    return (
        json.dumps(_finite(record), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        + "\n"
    ).encode("utf-8")


def type_marker(kind: str) -> bytes:
    """The bytes every encoded record of ``kind`` contains."""
    return f'"type":"{kind}"'.encode()


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def one_line(text: Any) -> str:
    """Whitespace (newlines included) collapsed, so a message or error fits one line."""
    return " ".join(str(text).split())


def preview_names(iteration: int) -> tuple[str, str]:
    """File names of the preview pair at ``iteration``: (with the mask, plain)."""
    return f"{int(iteration):09d}.png", f"{int(iteration):09d}_plain.png"
