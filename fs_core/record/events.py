"""Reading scalar values back from TensorBoard event files, safely while training writes them.

An event file is a sequence of TFRecords (8-byte length, 4-byte length CRC, the data, 4-byte data
CRC), each an ``Event`` protocol buffer. The framing is read here in plain Python so that a record
still being written (a short tail) simply ends the read instead of raising, and the file is only
ever opened for reading. The backend decodes each ``Event`` (:mod:`fs_core.backend`). Values
written by ``tf.summary.write`` are tensors; older ``simple_value`` scalars are read too.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

HEADER = 12  # length (8) + length CRC (4)
FOOTER = 4  # data CRC


def records(path: str | Path) -> Iterator[bytes]:
    """Every complete record of one file; a truncated last record is left out."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return
    offset = 0
    while offset + HEADER <= len(data):
        (length,) = struct.unpack_from("<Q", data, offset)
        end = offset + HEADER + length + FOOTER
        if end > len(data):
            return
        yield data[offset + HEADER : offset + HEADER + length]
        offset = end


def read_scalars(
    paths: Iterable[str | Path], tags: Iterable[str] | None = None
) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value)] sorted by step, from every event file in ``paths``."""
    from fs_core import backend  # noqa: PLC0415 (TensorFlow: record.events loads without it)

    implementation = backend.get()
    wanted = set(tags) if tags is not None else None
    found: dict[str, list[tuple[int, float]]] = {}
    for path in paths:
        for record in records(path):
            try:
                event = implementation.parse_event(record)
            except Exception:  # a damaged record: skip it, keep the rest
                continue
            for value in event.summary.value:
                if wanted is not None and value.tag not in wanted:
                    continue
                number = implementation.scalar_value(value)
                if number is None:
                    continue
                found.setdefault(value.tag, []).append((int(event.step), number))
    return {tag: sorted(points) for tag, points in found.items()}


def text_values(paths: Iterable[str | Path], tag: str) -> list[str]:
    """The strings written under ``tag`` (e.g. ``model_config``)."""
    from fs_core import backend  # noqa: PLC0415 (TensorFlow: record.events loads without it)

    implementation = backend.get()
    texts = []
    for path in paths:
        for record in records(path):
            event = implementation.parse_event(record)
            for value in event.summary.value:
                if value.tag == tag and value.HasField("tensor"):
                    texts.append(implementation.text_value(value))
    return texts


def event_files(folder: str | Path) -> list[Path]:
    """The event files under ``folder`` (any depth), in name order (creation time order)."""
    root = Path(folder)
    return (
        sorted(p for p in root.rglob("events.out.tfevents.*") if p.is_file())
        if root.is_dir()
        else []
    )
