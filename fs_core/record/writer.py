"""The trainer's side of ``events.jsonl``: append whole lines, and keep the file small.

Each record is one line written with a single ``os.write`` on an ``O_APPEND`` descriptor, so a
reader never sees half a record in the middle of the file (at most an unfinished last line, which
readers skip). A multi-day run would grow the file without end, so when it passes
``compact_at`` bytes it is rewritten (temp file, fsync, rename): neighbouring ``progress`` records
of a session are merged (their losses averaged, weighted by how many iterations each covers) until
the file is under half the threshold; every other record is kept, except that only the newest
``message_limit`` messages survive a rewrite (a plugin printing every iteration must not defeat the
bound). Readers see the replaced file as shorter than their offset and read it again from 0.

Writing the record must never stop training: an error writing it (disk full, folder removed) is
reported once and the record is switched off for the rest of the session.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from fs_core.atomic import atomic_path
from fs_core.errors import FsUserError
from fs_core.folder.layout import events_file, previews_dir, record_dir
from fs_core.record.files import VERSION, encode, one_line, type_marker

#: the file is compacted when it grows past this many bytes (it ends up under half of it)
COMPACT_AT = 8 * 1024 * 1024
#: message records a compaction keeps (the newest)
MESSAGE_LIMIT = 5000
#: previews: the newest are all kept; older ones are thinned to this many, spread over the run
KEEP_NEWEST_PREVIEWS = 30
KEEP_OLDER_PREVIEWS = 30


def rounded(value: float | None) -> float | None:
    """Six significant digits: plenty for a loss curve, and about half the bytes of a full repr."""
    return None if value is None else float(f"{value:.6g}")


class RecordWriter:
    """Appends records of one training session to ``MODEL_DIR/record/events.jsonl``."""

    def __init__(
        self,
        model_dir: str | Path,
        session: int,
        *,
        compact_at: int = COMPACT_AT,
        message_limit: int = MESSAGE_LIMIT,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.folder = record_dir(model_dir)
        self.path = events_file(model_dir)
        self.session = int(session)
        self.compact_at = int(compact_at)
        self.message_limit = int(message_limit)
        self._warn = warn
        self._lock = threading.Lock()  # messages may be logged from other threads
        self.folder.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = self._open()
        self._size = os.fstat(self._fd).st_size

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)

    @property
    def active(self) -> bool:
        return self._fd is not None

    def write(self, kind: str, **fields: Any) -> None:
        """Append one record of ``kind`` (``v``, ``type``, ``time`` and ``session`` added)."""
        record = {
            "v": VERSION,
            "type": kind,
            "time": round(time.time(), 3),
            "session": self.session,
        }
        record.update(fields)
        data = encode(record)
        with self._lock:
            if self._fd is None:
                return
            try:
                written = os.write(self._fd, data)
                if written != len(data):
                    raise OSError(28, "short write (disk full?)")
                self._size += written
                if self._size > self.compact_at:
                    self._compact()
            except (OSError, FsUserError) as error:
                self._give_up(error)

    def _give_up(self, error: BaseException) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with_suppressed(lambda: os.close(fd))
        if self._warn is not None:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            self._warn(
                f"Training record: cannot write {self.path}: {one_line(reason)}; the record "
                "is off for the rest of this session (training goes on)"
            )

    def _compact(self) -> None:
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1  # a torn last line (after a crash) is dropped
        lines = compact_lines(
            data[:end].split(b"\n")[:-1], self.compact_at // 2, self.message_limit
        )
        with atomic_path(self.path) as temp:
            temp.write_bytes(b"".join(line + b"\n" for line in lines))
        assert self._fd is not None
        os.close(self._fd)
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            with_suppressed(lambda: os.close(fd))


def with_suppressed(action: Callable[[], Any]) -> None:
    try:
        action()
    except OSError:
        pass


def compact_lines(
    lines: list[bytes], target: int, message_limit: int = MESSAGE_LIMIT
) -> list[bytes]:
    """The lines of a compacted file: neighbouring progress records of a session merged until the
    file is under ``target`` bytes, other records kept as they are (messages beyond the newest
    ``message_limit`` dropped); lines that do not parse are dropped.

    Merging is capped by the iterations a record covers (2, 4, 8 ... until the file fits), so the
    history keeps an even resolution over iterations: old records are not merged again and again
    while new ones stay fine."""
    progress = type_marker("progress")
    message = type_marker("message")
    messages = sum(1 for line in lines if message in line)
    drop_messages = max(0, messages - message_limit)
    items: list[Any] = []  # bytes (kept as written) or a parsed progress dict
    other_bytes = progress_bytes = 0
    for line in lines:
        if progress in line:
            try:
                items.append(json.loads(line))
            except ValueError:
                continue
            progress_bytes += len(line) + 1
        elif message in line and drop_messages:
            drop_messages -= 1
        elif line.strip():
            items.append(line)
            other_bytes += len(line) + 1
    count = sum(1 for i in items if isinstance(i, dict))
    if count:
        average = progress_bytes / count  # merged records are about as long as the others
        cap = 2
        while other_bytes + count * average > target:
            merged = _merge_pass(items, cap)
            cap *= 2
            if len(merged) == len(items) and cap > 2**40:
                break
            items = merged
            count = sum(1 for i in items if isinstance(i, dict))
    return [i if isinstance(i, bytes) else encode(i)[:-1] for i in items]


def _merge_pass(items: list[Any], cap: int) -> list[Any]:
    """Merge runs of neighbouring progress records of a session while the merged record covers
    at most ``cap`` iterations; a session_start or end record between them keeps them apart."""
    out: list[Any] = []
    waiting: dict[Any, int] = {}  # session -> index in out of its last progress record
    for item in items:
        if isinstance(item, dict):
            session = item.get("session")
            index = waiting.get(session)
            record = item
            if index is not None and _count(out[index]) + _count(item) <= cap:
                first, out[index] = out[index], None
                record = merge_progress(first, item)
            waiting[session] = len(out)
            out.append(record)
            continue
        if type_marker("session_start") in item or type_marker("end") in item:
            waiting.clear()
        out.append(item)
    return [item for item in out if item is not None]


def _count(record: dict) -> int:
    return int(record.get("count") or 1)


def merge_progress(first: dict, second: dict) -> dict:
    """One progress record for the iterations of two: the later one's counters and times, the
    losses averaged weighted by the iterations each covers."""
    n1, n2 = int(first.get("count") or 1), int(second.get("count") or 1)
    merged = dict(second)
    merged["count"] = n1 + n2
    for key in ("loss_a", "loss_b"):
        merged[key] = _weighted(first.get(key), n1, second.get(key), n2)
    terms = dict(first.get("losses") or {})
    later = second.get("losses") or {}
    merged["losses"] = {
        name: _weighted(terms.get(name), n1, later.get(name), n2)
        for name in list(terms) + [n for n in later if n not in terms]
    }
    return merged


def _weighted(a: Any, n1: int, b: Any, n2: int) -> float | None:
    if not isinstance(a, (int, float)):
        return rounded(float(b)) if isinstance(b, (int, float)) else None
    if not isinstance(b, (int, float)):
        return rounded(float(a))
    return rounded((a * n1 + b * n2) / (n1 + n2))


def prune_previews(
    model_dir: str | Path,
    keep_newest: int = KEEP_NEWEST_PREVIEWS,
    keep_older: int = KEEP_OLDER_PREVIEWS,
) -> list[int]:
    """Delete preview pairs beyond the newest ``keep_newest``, keeping ``keep_older`` of the older
    ones evenly spread over the run (the oldest always among them); returns the iterations
    removed."""
    folder = previews_dir(model_dir)
    iterations = sorted(preview_iterations(folder))
    older = iterations[:-keep_newest] if keep_newest else iterations
    if len(older) <= keep_older:
        return []
    if keep_older <= 0:
        chosen: set[int] = set()
    elif keep_older == 1:
        chosen = {older[0]}
    else:
        step = (len(older) - 1) / (keep_older - 1)
        chosen = {older[round(i * step)] for i in range(keep_older)}
    removed = [i for i in older if i not in chosen]
    for iteration in removed:
        for name in (f"{iteration:09d}.png", f"{iteration:09d}_plain.png"):
            with_suppressed((folder / name).unlink)
    return removed


def preview_iterations(folder: Path) -> Iterable[int]:
    """Iterations of the preview files in ``folder`` (from ``<iteration:09d>.png``)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = set()
    for name in names:
        stem = name[:-4] if name.endswith(".png") else ""
        stem = stem[:-6] if stem.endswith("_plain") else stem
        if len(stem) == 9 and stem.isdigit():
            found.add(int(stem))
    return found
