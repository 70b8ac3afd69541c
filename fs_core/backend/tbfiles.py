"""TensorBoard event files without TensorFlow: written and read with the ``tensorboard`` package's
protocol buffers, for the backends that do not have ``tf.summary`` (torch, JAX).

The files hold what TensorFlow's writer (:mod:`fs_core.backend.tensorflow.summaries`) writes: a
``brain.Event:2`` version record, then one ``Event`` per value with a ``Summary.Value`` whose
metadata names the TensorBoard plugin (``scalars``/``text``) and whose tensor is a float32 scalar
or a string; the file is named ``events.out.tfevents.<time>.<host>.<pid>.<n>.v2``. So
``fs analysis``, the GUI and TensorBoard read them whichever backend trained.

The records are framed here (``RecordWriter``) and the file is written with plain Python I/O:
``tensorboard``'s own ``EventFileWriter`` opens files through ``tensorboard.compat.tf``, which
imports TensorFlow whenever it is installed. Events are queued and written when ``max_queue`` are
waiting, when ``flush_millis`` has passed at a write, and on ``flush``/``close``.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.summary.writer.record_writer import RecordWriter
from tensorboard.util import tensor_util

_FILE_NUMBER = itertools.count()


def _metadata(plugin: str) -> summary_pb2.SummaryMetadata:
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin)
    )


def _scalar_tensor(value: float) -> tensor_pb2.TensorProto:
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        float_val=[float(np.float32(value))],
    )


def _text_tensor(text: str) -> tensor_pb2.TensorProto:
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        string_val=[text.encode()],
    )


class SummaryWriter:
    """One event file in ``folder``, written as TensorFlow's writer writes it."""

    def __init__(self, folder: Path, max_queue: int, flush_millis: int) -> None:
        name = (
            f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
            f"{os.getpid()}.{next(_FILE_NUMBER)}.v2"
        )
        self.path = Path(folder) / name
        self._file = open(self.path, "ab")
        self._records = RecordWriter(self._file)
        self._max_queue = max(int(max_queue), 1)
        self._flush_seconds = max(int(flush_millis), 0) / 1000.0
        self._queue: list[bytes] = []
        self._last_flush = time.monotonic()
        self._add(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))
        self.flush()

    def _add(self, event: event_pb2.Event) -> None:
        self._queue.append(event.SerializeToString())
        if (
            len(self._queue) >= self._max_queue
            or time.monotonic() - self._last_flush >= self._flush_seconds
        ):
            self.flush()

    def _summary(self, step: int, tag: str, tensor: Any, plugin: str) -> None:
        value = summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=_metadata(plugin))
        self._add(
            event_pb2.Event(
                wall_time=time.time(), step=int(step), summary=summary_pb2.Summary(value=[value])
            )
        )

    def write_scalars(self, steps: Iterable[tuple[int, Mapping[str, float]]]) -> None:
        """Each ``(step, {name: value})`` as scalar summaries."""
        for step, values in steps:
            for name, value in values.items():
                self._summary(step, name, _scalar_tensor(value), "scalars")

    def write_text(self, name: str, text: str, step: int) -> None:
        """``text`` as a text summary."""
        self._summary(step, name, _text_tensor(text), "text")

    def flush(self) -> None:
        if self._file.closed:
            return
        for record in self._queue:
            self._records.write(record)
        self._queue.clear()
        self._records.flush()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        if not self._file.closed:
            self.flush()
            self._records.close()


def create_summary_writer(folder: Path, max_queue: int, flush_millis: int) -> SummaryWriter:
    """A writer of event files in ``folder`` (which exists)."""
    return SummaryWriter(folder, max_queue, flush_millis)


def parse_event(record: bytes) -> Any:
    """One event file record as an ``Event`` (``step``, ``summary.value``); raises when damaged."""
    return event_pb2.Event.FromString(record)


def scalar_value(value: Any) -> float | None:
    """A summary value's number: a ``simple_value`` or a one-element float32 tensor; else None."""
    if value.HasField("simple_value"):
        return float(value.simple_value)
    if value.HasField("tensor") and value.tensor.dtype == types_pb2.DT_FLOAT:
        array = tensor_util.make_ndarray(value.tensor)
        if array.size != 1:
            return None
        return float(np.asarray(array).reshape(()))
    return None


def text_value(value: Any) -> str:
    """A text summary value's string."""
    array = tensor_util.make_ndarray(value.tensor)
    return str(np.asarray(array).reshape(-1)[0].decode())
