"""Reading the training record: for ``fs gui``, ``fs analysis`` and any other tool.

Everything here only reads, and never locks: it is safe while a trainer writes the record. A
final line without its newline is a record still being written and is skipped; a line that does
not parse is skipped. Nothing is cached between calls; callers that poll keep their own offset
(or an :class:`EventReader`).

The file is bounded (the trainer compacts it), but still up to several MiB on a long run, so the
summary of a model reads only the end of the file and a few samples spread over it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import socket
import time
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from fs_core.folder.layout import (
    events_file,
    lock_file,
    logs_dir,
    preview_relpath,
    previews_dir,
    session_log_id,
    state_file,
    trainer_file,
)
from fs_core.locking import exclusive_lock
from fs_core.record.events import event_files, read_scalars
from fs_core.record.files import type_marker

TAIL_BYTES = 256 * 1024
TREND_POINTS = 40
SAMPLE_BYTES = 8 * 1024
#: a trainer on another host counts as training while the record changed this recently
REMOTE_STALE_SECONDS = 600.0
SESSION_COLUMNS = (
    "id",
    "start",
    "end",
    "elapsed",
    "batch_size",
    "iterations",
    "examples_per_second",
)
NOT_LOSSES = ("total", "learning_rate", "examples_per_second")


# ---------------------------------------------------------------- parsing


def parse_lines(data: bytes) -> list[dict]:
    """The records in ``data`` (whole lines); lines that do not parse are left out."""
    lines = [line for line in data.split(b"\n") if line.strip()]
    if not lines:
        return []
    try:  # one parse for the whole block: several times faster than line by line
        records = json.loads(b"[" + b",".join(lines) + b"]")
    except ValueError:
        records = []
        for line in lines:
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return [r for r in records if isinstance(r, dict) and "type" in r]


def _whole_lines(data: bytes) -> bytes:
    return data[: data.rfind(b"\n") + 1]


def read_events(model_dir: Path, offset: int = 0) -> tuple[list[dict], int]:
    """Complete records from byte ``offset`` on; returns (records, the offset to pass next time).

    A file replaced by a compaction (shorter than ``offset``, or ``offset`` no longer at the start
    of a line) is read again from 0: the caller sees records again, and the ``session_start``
    records tell it to reset."""
    path = events_file(model_dir)
    try:
        handle = open(path, "rb")
    except OSError:
        return [], 0
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if offset > size or offset < 0:
            offset = 0
        elif offset > 0:
            handle.seek(offset - 1)
            if handle.read(1) != b"\n":
                offset = 0
        handle.seek(offset)
        data = _whole_lines(handle.read(size - offset))
    return parse_lines(data), offset + len(data)


class EventReader:
    """Follows one model's ``events.jsonl`` across calls, noticing a replaced file by its inode
    as well as its size (exact, where :func:`read_events` with a bare offset must guess)."""

    def __init__(self, model_dir: Path) -> None:
        self.path = events_file(model_dir)
        self.inode: int | None = None
        self.offset = 0

    def read(self) -> tuple[list[dict], bool]:
        """New records since the last call, and whether the file was replaced (the records then
        start from the beginning of the new file)."""
        try:
            stat = self.path.stat()
        except OSError:
            return [], False
        reset = self.inode is not None and (stat.st_ino != self.inode or stat.st_size < self.offset)
        if reset:
            self.offset = 0
        self.inode = stat.st_ino
        records, self.offset = read_events(self.path.parent.parent, self.offset)
        return records, reset


def _tail(path: Path, size: int, limit: int) -> tuple[bytes, bool]:
    """The last whole lines within ``limit`` bytes of the file; True when that is all of it."""
    with open(path, "rb") as handle:
        start = max(0, size - limit)
        handle.seek(start)
        data = handle.read(size - start)
    if start > 0:
        data = data[data.find(b"\n") + 1 :]
    return _whole_lines(data), start == 0


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _read_state(model_dir: Path) -> dict | None:
    try:
        with open(state_file(model_dir), "rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(float(seconds)).astimezone().isoformat(timespec="seconds")


# ---------------------------------------------------------------- is the trainer alive


def process_start_time(pid: int) -> float | None:
    """When process ``pid`` started (unix seconds), from /proc; None where that cannot be read
    (not Linux, or the process is gone or a zombie)."""
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] in ("Z", "X"):
            return None
        ticks = int(fields[19])
        with open("/proc/stat") as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def trainer_alive(trainer: dict, events: Path | None = None) -> bool:
    """Whether the trainer of ``trainer.json`` still runs: on this host, its pid is alive, not a
    zombie, and not reused by a later process; on another host, its record changed recently."""
    if not trainer.get("pid"):
        return False
    if trainer.get("host") != socket.gethostname():
        try:
            return (
                events is not None and time.time() - events.stat().st_mtime < REMOTE_STALE_SECONDS
            )
        except OSError:
            return False
    pid = int(trainer["pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except OSError:
        return False
    started = process_start_time(pid)
    if started is None:
        return not Path("/proc/self/stat").exists()  # no /proc: trust the signal check
    recorded = trainer.get("process_started")
    if isinstance(recorded, (int, float)):
        return abs(started - recorded) < 2.0
    return started <= float(trainer.get("started", started)) + 2.0


# ---------------------------------------------------------------- the model list


def model_summary(model_dir: Path) -> dict:
    """One model folder at a glance (see ``docs/training-record.md``); reads ``state.toml``,
    ``trainer.json``, the last part of ``events.jsonl`` and 40 samples of the rest."""
    folder = Path(model_dir)
    summary: dict[str, Any] = {
        "name": folder.name,
        "model": None,
        "iterations": 0,
        "last_save": None,
        "state": "new",
        "error": None,
        "trend": [],
        "session": None,
        "status": None,
        "target": None,
    }
    state = _read_state(folder)
    if state is not None:
        model = state.get("model")
        summary["model"] = model.get("name") if isinstance(model, dict) else model
        summary["iterations"] = int(state.get("iterations", 0))
        ends = [s.get("end") for s in state.get("sessions", []) if s.get("end")]
        summary["last_save"] = ends[-1] if ends else None
        summary["state"] = "stopped"
    path = events_file(folder)
    try:
        size = path.stat().st_size
    except OSError:
        return summary
    trainer = _read_json(trainer_file(folder))
    tail, whole = _tail(path, size, TAIL_BYTES)
    records = parse_lines(tail)
    last: dict[str, dict] = {}
    boundary = None  # the last session_start or end record
    for record in records:
        last[record["type"]] = record
        if record["type"] in ("session_start", "end"):
            boundary = record
    session = trainer.get("session", (last.get("session_start") or {}).get("session"))
    summary["session"] = session
    summary["model"] = (
        summary["model"] or trainer.get("model") or (last.get("session_start") or {}).get("model")
    )
    summary["target"] = trainer.get("target", (last.get("session_start") or {}).get("target"))
    status = last.get("progress")
    if status is not None:
        summary["status"] = {k: v for k, v in status.items() if k not in ("v", "type")}
        summary["iterations"] = max(summary["iterations"], int(status.get("iteration", 0)))
    if "save" in last:
        summary["last_save"] = _iso(last["save"].get("time"))
    summary["trend"] = _trend(path, size, records if whole else None)
    if (
        boundary is not None
        and boundary["type"] == "end"
        and boundary.get("session") == session
        and not (boundary.get("reason") == "settings" and trainer_alive(trainer, path))
    ):  # (a live change ended a session: the next one of the same run is starting)
        reason = boundary.get("reason")
        if reason in ("error", "nan"):
            summary["state"] = "failed"
            summary["error"] = (
                boundary.get("error")
                or "stopped on a non-finite loss (NaN protection); the last save is intact"
            )
        else:
            summary["state"] = "stopped"
    elif not trainer and boundary is None:
        summary["state"] = "stopped" if state is not None else "new"
    elif trainer_alive(trainer, path):
        summary["state"] = "training"
    else:
        summary["state"] = "failed"
        summary["error"] = (
            f"the trainer (pid {trainer.get('pid')}) ended without finishing "
            "its record: killed, or out of memory?"
        )
    return summary


def is_training(model_dir: Path) -> bool:
    """Whether a trainer runs on ``model_dir`` now: its record says so (the trainer is alive and
    its session has not ended), or it holds the folder's lock while it starts."""
    return model_summary(Path(model_dir)).get("state") == "training" or _lock_held(model_dir)


def _lock_held(model_dir: Path) -> bool:
    """Whether a run holds the model folder's lock (``fs_core.folder.model_files.training_lock``;
    a trainer loading its faces holds it before it writes its record)."""
    try:
        handle = open(lock_file(model_dir), "rb")  # never creates it
    except OSError:
        return False
    with handle:
        try:
            with exclusive_lock(handle) as free:
                return not free
        except OSError:
            return False


def _trend(path: Path, size: int, records: list[dict] | None) -> list[float]:
    """Up to 40 values of loss_a + loss_b over the history: every progress record bucket-averaged
    when the whole file was read, else the first progress record at 40 evenly spaced places."""
    marker = type_marker("progress")
    if records is not None:
        totals = [_total(r) for r in records if r["type"] == "progress"]
        values = [v for v in totals if v is not None]
        if len(values) <= TREND_POINTS:
            return values
        return [float(np.mean(chunk)) for chunk in np.array_split(np.array(values), TREND_POINTS)]
    values = []
    with open(path, "rb") as handle:
        for index in range(TREND_POINTS):
            handle.seek(index * size // TREND_POINTS)
            chunk = handle.read(SAMPLE_BYTES)
            for line in chunk.split(b"\n")[1:-1]:
                if marker in line:
                    try:
                        value = _total(json.loads(line))
                    except ValueError:
                        continue
                    if value is not None:
                        values.append(value)
                    break
    return values


def _total(record: dict) -> float | None:
    a, b = record.get("loss_a"), record.get("loss_b")
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return round(float(a) + float(b), 6)
    return None


# ---------------------------------------------------------------- losses


def loss_series(
    model_dir: Path, session: int | None = None, last: int | None = None, max_points: int = 2000
) -> dict:
    """Losses against iterations, bucket-averaged to at most ``max_points`` points.

    From the record's progress records (each weighted by the iterations it covers); for a model
    trained before the record existed, from its TensorBoard logs. Over all sessions, iterations
    undone by a restore (a later session starting below them) are left out, so the curve is the
    history of the model as it is. ``last=N`` keeps the last N iterations."""
    points = _record_points(Path(model_dir), session)
    if points is None:
        points = _tensorboard_points(Path(model_dir), session)
    iterations, counts, sessions, terms = points
    if len(iterations) and last is not None and last > 0:
        keep = iterations > iterations.max() - int(last)
        iterations, counts, sessions = iterations[keep], counts[keep], sessions[keep]
        terms = {name: values[keep] for name, values in terms.items()}
    table = _session_spans(iterations, counts, sessions)
    if len(iterations) > max(1, int(max_points)):
        iterations, terms = _buckets(iterations, counts, terms, max(1, int(max_points)))
    order = ["loss_a", "loss_b"] + sorted(n for n in terms if n not in ("loss_a", "loss_b"))
    low = int(iterations.min()) if len(iterations) else None
    return {
        "markers": [
            m
            for m in settings_markers(Path(model_dir), session)
            if low is None or m["iteration"] >= low
        ],
        "iterations": [int(i) for i in iterations],
        "terms": {
            name: [None if math.isnan(v) else round(float(v), 7) for v in terms[name]]
            for name in order
            if name in terms
        },
        "sessions": table,
    }


#: short names of the settings most often changed, for the graph's markers
_SHORT_NAMES = {"global.learning_rate": "lr", "batch_size": "batch"}


def settings_markers(model_dir: Path, session: int | None = None) -> list[dict[str, Any]]:
    """``[{"iteration", "label"}]``: where a live change of settings (a ``settings`` record)
    was applied, e.g. ``"lr 5e-05 -> 2e-05"``, oldest first."""
    try:
        data = _whole_lines(events_file(model_dir).read_bytes())
    except OSError:
        return []
    marker = type_marker("settings")
    lines = b"\n".join(line for line in data.split(b"\n") if marker in line)
    found = []
    for record in parse_lines(lines):
        if session is not None and record.get("session") != session:
            continue
        changes = [c for c in record.get("changes") or () if isinstance(c, dict)]
        if not changes or not isinstance(record.get("iteration"), int):
            continue
        label = ", ".join(
            f"{_short(str(c.get('key')))} {_short_value(c.get('old'))} -> "
            f"{_short_value(c.get('new'))}"
            for c in changes
        )
        found.append({"iteration": record["iteration"], "label": label})
    return found


def _short(key: str) -> str:
    return _SHORT_NAMES.get(key, key.rpartition(".")[2])


def _short_value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _record_points(folder: Path, session: int | None) -> tuple | None:
    try:
        data = events_file(folder).read_bytes()
    except OSError:
        return None
    data = _whole_lines(data)
    wanted = (type_marker("progress"), type_marker("session_start"))
    lines = b"\n".join(line for line in data.split(b"\n") if wanted[0] in line or wanted[1] in line)
    rows: list[dict] = []
    for record in parse_lines(lines):
        if session is not None and record.get("session") != session:
            continue
        if record["type"] == "session_start":
            if session is None:  # a restore went back: drop what it undid
                start = record.get("iteration", 0)
                while rows and rows[-1].get("iteration", 0) > start:
                    rows.pop()
            continue
        if isinstance(record.get("iteration"), int):
            rows.append(record)
    if not rows:
        return None
    iterations = np.array([r["iteration"] for r in rows], np.int64)
    counts = np.array([max(1, int(r.get("count") or 1)) for r in rows], np.float64)
    ids = np.array([int(r.get("session") or 0) for r in rows], np.int64)
    names: dict[str, None] = {"loss_a": None, "loss_b": None}
    for r in rows:
        for name in r.get("losses") or ():
            names.setdefault(name, None)
    terms = {}
    for name in names:
        if name in ("loss_a", "loss_b"):
            values = [r.get(name) for r in rows]
        else:
            values = [(r.get("losses") or {}).get(name) for r in rows]
        terms[name] = np.array(
            [v if isinstance(v, (int, float)) else np.nan for v in values], np.float64
        )
    return iterations, counts, ids, terms


def _tensorboard_points(folder: Path, session: int | None) -> tuple:
    logs = logs_dir(folder)
    found: dict[int, dict[str, list[tuple[int, float]]]] = {}
    if logs.is_dir():
        for sub in sorted(logs.iterdir()):
            ident = session_log_id(sub.name)
            if ident is None:
                continue
            if session is not None and ident != session:
                continue
            scalars = read_scalars(event_files(sub))
            found[ident] = {tag: points for tag, points in scalars.items() if tag not in NOT_LOSSES}
    steps: dict[int, int] = {}  # step -> session (a step logged twice keeps its last value)
    values: dict[str, dict[int, float]] = {}
    for number in sorted(found):
        for tag, points in found[number].items():
            for step, value in points:
                values.setdefault(tag, {})[step] = value
                steps[step] = number
    order = sorted(steps)
    iterations = np.array(order, np.int64)
    terms = {
        tag: np.array([by_step.get(s, np.nan) for s in order], np.float64)
        for tag, by_step in values.items()
    }
    return iterations, np.ones(len(order)), np.array([steps[s] for s in order], np.int64), terms


def _session_spans(iterations: np.ndarray, counts: np.ndarray, sessions: np.ndarray) -> list[dict]:
    spans: list[dict] = []
    for index in range(len(iterations)):
        ident = int(sessions[index])
        first = int(iterations[index] - counts[index] + 1)
        if spans and spans[-1]["id"] == ident:
            spans[-1]["last_iteration"] = int(iterations[index])
        else:
            spans.append(
                {"id": ident, "first_iteration": first, "last_iteration": int(iterations[index])}
            )
    return spans


def _buckets(
    iterations: np.ndarray, counts: np.ndarray, terms: dict[str, np.ndarray], points: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Equal-width iteration buckets; each value the count-weighted mean of its records, each
    iteration the last of its bucket; empty buckets left out."""
    low, high = int(iterations.min()), int(iterations.max())
    index = ((iterations - low) * points // (high - low + 1)).astype(np.int64)
    filled = np.bincount(index, minlength=points) > 0
    last = np.zeros(points, np.int64)
    np.maximum.at(last, index, iterations)
    out = {}
    for name, values in terms.items():
        present = ~np.isnan(values)
        weights = np.where(present, counts, 0.0)
        total = np.bincount(
            index, weights=np.where(present, values * counts, 0.0), minlength=points
        )
        weight = np.bincount(index, weights=weights, minlength=points)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = (total / weight)[filled]
    return last[filled], out


# ---------------------------------------------------------------- sessions, previews, messages


def _elapsed(start: Any, end: Any) -> str:
    try:
        first, last = dt.datetime.fromisoformat(str(start)), dt.datetime.fromisoformat(str(end))
    except (TypeError, ValueError):
        return ""
    seconds = max(0, int((last - first).total_seconds()))
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def session_rows(sessions: Iterable[dict]) -> list[dict[str, Any]]:
    """One row per ``[[sessions]]`` entry of state.toml,
    with the elapsed time (H:MM:SS from its start to its last save)."""
    rows = []
    for entry in sessions:
        rows.append(
            {
                "id": int(entry.get("id", 0)),
                "start": entry.get("start", ""),
                "end": entry.get("end", ""),
                "elapsed": _elapsed(entry.get("start"), entry.get("end")),
                "batch_size": entry.get("batch_size", ""),
                "iterations": int(entry.get("iterations", 0)),
                "examples_per_second": entry.get("examples_per_second", ""),
            }
        )
    return rows


def sessions_table(model_dir: Path) -> list[dict]:
    """The sessions ``fs analysis`` prints: each saved session as state.toml holds it, with the
    session being trained brought up to its last progress record (or added, before its first
    save). Columns: id, start, end, elapsed, batch_size, iterations, examples_per_second."""
    folder = Path(model_dir)
    state = _read_state(folder) or {}
    rows = session_rows(state.get("sessions", []))
    path = events_file(folder)
    try:
        size = path.stat().st_size
    except OSError:
        return rows
    trainer = _read_json(trainer_file(folder))
    records = parse_lines(_tail(path, size, TAIL_BYTES)[0])
    progress = next((r for r in reversed(records) if r["type"] == "progress"), None)
    if progress is None or progress.get("session") is None:
        return rows
    ident = int(progress["session"])
    row = next((r for r in rows if r["id"] == ident), None)
    if row is None:
        if trainer.get("session") != ident:
            return rows
        row = {
            "id": ident,
            "start": _iso(trainer.get("started")),
            "end": "",
            "elapsed": "",
            "batch_size": trainer.get("batch_size", ""),
            "iterations": 0,
            "examples_per_second": "",
        }
        rows.append(row)
    if int(progress.get("session_iterations", 0)) > row["iterations"]:
        row["iterations"] = int(progress["session_iterations"])
        row["end"] = _iso(progress.get("time"))
        row["elapsed"] = _elapsed(row["start"], row["end"])
        row["examples_per_second"] = progress.get("examples_per_second", "")
    return rows


def previews(model_dir: Path) -> list[dict]:
    """The preview pairs in ``record/previews/``, oldest first: iteration, time (unix seconds) and
    the two images' paths relative to the model folder (None where a file is missing)."""
    folder = previews_dir(model_dir)
    found: dict[int, dict] = {}
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        name = entry.name
        if not name.endswith(".png") or name.startswith("."):
            continue
        stem = name[:-4]
        key = "plain" if stem.endswith("_plain") else "mask"
        stem = stem[:-6] if key == "plain" else stem
        if len(stem) != 9 or not stem.isdigit():
            continue
        item = found.setdefault(
            int(stem), {"iteration": int(stem), "time": None, "mask": None, "plain": None}
        )
        item[key] = preview_relpath(name)
        try:
            mtime = entry.stat().st_mtime
        except OSError:
            continue
        item["time"] = max(item["time"] or 0.0, mtime)
    return [found[i] for i in sorted(found)]


def recent_messages(model_dir: Path, limit: int = 200) -> list[dict]:
    """The newest ``limit`` message records, newest last (read backwards from the end)."""
    path = events_file(model_dir)
    marker = type_marker("message")
    try:
        handle = open(path, "rb")
    except OSError:
        return []
    found: list[bytes] = []
    with handle:
        end = os.fstat(handle.fileno()).st_size
        carry = b""
        first = True
        while end > 0 and len(found) < limit:
            start = max(0, end - TAIL_BYTES)
            handle.seek(start)
            block = handle.read(end - start) + carry
            if first:
                block, first = _whole_lines(block), False
            lines = block.split(b"\n")
            carry = lines[0] if start > 0 else b""
            body = lines[1:] if start > 0 else lines
            found = [line for line in body if marker in line] + found
            end = start
    return parse_lines(b"\n".join(found[-limit:]))[-limit:] if limit > 0 else []


__all__ = [
    "EventReader",
    "loss_series",
    "model_summary",
    "previews",
    "process_start_time",
    "read_events",
    "recent_messages",
    "session_rows",
    "sessions_table",
    "trainer_alive",
]
