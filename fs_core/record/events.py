"""Reading scalar values back from TensorBoard event files, safely while training writes them.

An event file is a sequence of TFRecords (8-byte length, 4-byte length CRC, the data, 4-byte data
CRC), each an ``Event`` protocol buffer. The framing is read here in plain Python so that a record
still being written (a short tail) simply ends the read instead of raising, and the file is only
ever opened for reading. Values written by ``tf.summary.write`` are tensors; older ``simple_value``
scalars are read too.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

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
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow: record.events loads without it)

    wanted = set(tags) if tags is not None else None
    found: dict[str, list[tuple[int, float]]] = {}
    for path in paths:
        for record in records(path):
            try:
                event = tf.compat.v1.Event.FromString(record)
            except Exception:  # a damaged record: skip it, keep the rest
                continue
            for value in event.summary.value:
                if wanted is not None and value.tag not in wanted:
                    continue
                if value.HasField("simple_value"):
                    number = float(value.simple_value)
                elif value.HasField("tensor") and value.tensor.dtype == tf.float32.as_datatype_enum:
                    array = tf.make_ndarray(value.tensor)
                    if array.size != 1:
                        continue
                    number = float(np.asarray(array).reshape(()))
                else:
                    continue
                found.setdefault(value.tag, []).append((int(event.step), number))
    return {tag: sorted(points) for tag, points in found.items()}


def text_values(paths: Iterable[str | Path], tag: str) -> list[str]:
    """The strings written under ``tag`` (e.g. ``model_config``)."""
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow: record.events loads without it)

    texts = []
    for path in paths:
        for record in records(path):
            event = tf.compat.v1.Event.FromString(record)
            for value in event.summary.value:
                if value.tag == tag and value.HasField("tensor"):
                    array = tf.make_ndarray(value.tensor)
                    texts.append(np.asarray(array).reshape(-1)[0].decode())
    return texts


def event_files(folder: str | Path) -> list[Path]:
    """The event files under ``folder`` (any depth), in name order (creation time order)."""
    root = Path(folder)
    return (
        sorted(p for p in root.rglob("events.out.tfevents.*") if p.is_file())
        if root.is_dir()
        else []
    )
