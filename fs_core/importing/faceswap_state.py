"""faceswap's ``<name>_state.json``: the model's name, iterations, sessions and creation config.

faceswap writes it with ``plugins/train/model/_base/state.py`` (``State.save``) as a JSON object:
``name``, ``iterations``, ``lowest_avg_loss``, ``lr_finder`` (-1 when the finder never ran),
``mixed_precision_layers``, ``config`` (every global and model option, one flat table) and
``sessions`` (``{"1": {"timestamp", "no_logs", "batchsize", "iterations", "config"}}``). The file
comes from the user, so every field is type-checked here and a bad one names the file.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import attrs

from fs_core.errors import FsUserError

MAX_STATE_BYTES = 64 * 1024 * 1024


@attrs.frozen
class FaceswapState:
    name: str
    iterations: int
    lowest_avg_loss: float | None
    lr_finder: float | None
    config: dict[str, Any]
    sessions: list[dict[str, Any]]


def state_file(folder: Path, name: str) -> Path:
    return folder / f"{name}_state.json"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _iso(timestamp: Any) -> str | None:
    seconds = _number(timestamp)
    if seconds is None:
        return None
    try:
        moment = _dt.datetime.fromtimestamp(seconds, tz=_dt.UTC).astimezone()
    except (OverflowError, OSError, ValueError):
        return None
    return moment.isoformat(timespec="seconds")


def _session(key: str, entry: Any, path: Path) -> dict[str, Any]:
    """One faceswap session as an fs ``[[sessions]]`` entry (fs's keys, faceswap's values)."""
    if not isinstance(entry, dict):
        raise FsUserError(f"session {key!r} is not a JSON object", path)
    try:
        number = int(key)
        iterations = int(entry.get("iterations", 0))
        batch = int(entry.get("batchsize", 0))
    except (TypeError, ValueError):
        raise FsUserError(
            f"session {key!r} has a non-numeric id, batch size or count", path
        ) from None
    config = entry.get("config", {})
    return {
        "id": number,
        "start": _iso(entry.get("timestamp")),
        "batch_size": batch,
        "iterations": iterations,
        "imported_from": "faceswap",
        "faceswap_config": config if isinstance(config, dict) else {},
    }


def read_state(path: Path) -> FaceswapState:
    """The parsed state file; FsUserError naming ``path`` when it is missing or malformed."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_STATE_BYTES + 1)
    except FileNotFoundError:
        raise FsUserError("faceswap state file is missing", path) from None
    except OSError as error:
        raise FsUserError(f"cannot read: {error.strerror or error}", path) from None
    if len(raw) > MAX_STATE_BYTES:
        raise FsUserError(f"state file is larger than {MAX_STATE_BYTES} bytes", path)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FsUserError(f"state file is not valid JSON ({error})", path) from None
    if not isinstance(data, dict):
        raise FsUserError("state file is not a JSON object", path)
    iterations = data.get("iterations", 0)
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise FsUserError(f"'iterations' must be a whole number >= 0, got {iterations!r}", path)
    config = data.get("config", {})
    if not isinstance(config, dict):
        raise FsUserError("'config' is not a JSON object", path)
    raw_sessions = data.get("sessions", {})
    if not isinstance(raw_sessions, dict):
        raise FsUserError("'sessions' is not a JSON object", path)
    sessions = sorted(
        (_session(str(key), entry, path) for key, entry in raw_sessions.items()),
        key=lambda session: int(session["id"]),
    )
    lowest_raw = data.get("lowest_avg_loss")
    if isinstance(lowest_raw, dict):  # faceswap 1's per-side losses: faceswap itself sums them
        lowest_raw = sum(v for v in lowest_raw.values() if _number(v) is not None)
    lowest = _number(lowest_raw)
    finder = _number(data.get("lr_finder"))
    return FaceswapState(
        name=str(data.get("name", "")),
        iterations=iterations,
        lowest_avg_loss=lowest if lowest else None,  # faceswap's 0.0 means "none yet"
        lr_finder=finder if finder is not None and finder > 0 else None,
        config=config,
        sessions=sessions,
    )
