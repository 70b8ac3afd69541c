"""TensorBoard event files, written with ``tf.summary`` (no TensorBoard install needed) and read
with TensorFlow's own ``Event`` protocol buffer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf


def _metadata(plugin: str) -> Any:
    """Summary metadata naming the TensorBoard plugin that displays a value (``scalars``/``text``);
    written through the core ``tf.summary.write``, which needs no TensorBoard install."""
    return tf.compat.v1.SummaryMetadata(
        plugin_data=tf.compat.v1.SummaryMetadata.PluginData(plugin_name=plugin)
    )


class SummaryWriter:
    """One event-file writer (``tf.summary.create_file_writer``)."""

    def __init__(self, folder: Path, max_queue: int, flush_millis: int) -> None:
        self._writer = tf.summary.create_file_writer(
            str(folder), max_queue=max_queue, flush_millis=flush_millis
        )

    def write_scalars(self, steps: Iterable[tuple[int, Mapping[str, float]]]) -> None:
        """Each ``(step, {name: value})`` as scalar summaries."""
        scalars = _metadata("scalars")
        with self._writer.as_default():
            for step, values in steps:
                for name, value in values.items():
                    # NumPy scalars, not Python ones: TensorFlow caches the eager tensor of every
                    # distinct Python number it converts, for good (about 1 KiB each, 6 KiB an
                    # iteration: the slow memory growth of a run of days)
                    tf.summary.write(
                        name, tf.constant(np.float32(value)), step=np.int64(step), metadata=scalars
                    )

    def write_text(self, name: str, text: str, step: int) -> None:
        """``text`` as a text summary."""
        with self._writer.as_default():
            tf.summary.write(name, tf.constant(text), step=step, metadata=_metadata("text"))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def create_summary_writer(folder: Path, max_queue: int, flush_millis: int) -> SummaryWriter:
    """A writer of event files in ``folder`` (which exists)."""
    return SummaryWriter(folder, max_queue, flush_millis)


def parse_event(record: bytes) -> Any:
    """One event file record as an ``Event`` (``step``, ``summary.value``); raises when damaged."""
    return tf.compat.v1.Event.FromString(record)


def scalar_value(value: Any) -> float | None:
    """A summary value's number: a ``simple_value`` or a one-element float32 tensor; else None."""
    if value.HasField("simple_value"):
        return float(value.simple_value)
    if value.HasField("tensor") and value.tensor.dtype == tf.float32.as_datatype_enum:
        array = tf.make_ndarray(value.tensor)
        if array.size != 1:
            return None
        return float(np.asarray(array).reshape(()))
    return None


def text_value(value: Any) -> str:
    """A text summary value's string."""
    array = tf.make_ndarray(value.tensor)
    return str(np.asarray(array).reshape(-1)[0].decode())
