"""TensorBoard logs in ``MODEL_DIR/logs/session_<id>/`` (off with ``-n``).

Written with ``tf.summary`` (event files need no TensorBoard install). Every iteration logs, at
global step = the model's total iterations: ``total``, ``loss_a``, ``loss_b``, each loss term as the
step returns it (``a/ssim``, ``a/ssim_weighted``, ``a/mask`` ...), ``learning_rate`` and
``examples_per_second`` of that iteration. The model's Keras config JSON is written once as the
text summary ``model_config``. Events are kept in memory and written at each save (so ``fs
analysis`` sees them), and the writer is closed when training ends.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from fs_core.folder.layout import session_log_dir
from fs_core.hookspecs import hookimpl
from fs_core.stash import StashKey
from fs_core.training.holdout import latest


@attrs.define
class TensorboardMemory:
    """The run's event writer (opened at the first save) and the steps not written yet."""

    first_step: int
    last: float  # time.monotonic() of the last step
    writer: Any = None
    pending: list[tuple[int, dict[str, float]]] = attrs.field(factory=list)


KEY: StashKey[TensorboardMemory] = StashKey("tensorboard")
QUEUE = 1000  # events kept in memory between flushes
FLUSH_MILLIS = 120_000


def learning_rate(optimizer: Any) -> float | None:
    """The optimizer's current learning rate (inside a loss-scale wrapper too), or None."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    rate = getattr(inner, "learning_rate", None)
    if rate is None:
        return None
    try:
        import keras  # noqa: PLC0415 (TensorFlow: builtins.tensorboard loads without it)

        return float(keras.ops.convert_to_numpy(rate))
    except (TypeError, ValueError):
        return None


def _model_json(session: Any) -> str:
    try:
        return session.model.to_json()
    except Exception as error:  # a layer without get_config must not stop training
        return f'{{"error": "model config could not be serialised: {type(error).__name__}"}}'


def _metadata(plugin: str) -> Any:
    """Summary metadata naming the TensorBoard plugin that displays a value (``scalars``/``text``);
    written through the core ``tf.summary.write``, which needs no TensorBoard install."""
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow: builtins.tensorboard loads without it)

    return tf.compat.v1.SummaryMetadata(
        plugin_data=tf.compat.v1.SummaryMetadata.PluginData(plugin_name=plugin)
    )


def _write_pending(memory: TensorboardMemory) -> None:
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow: builtins.tensorboard loads without it)

    scalars = _metadata("scalars")
    with memory.writer.as_default():
        for step, values in memory.pending:
            for name, value in values.items():
                # NumPy scalars, not Python ones: TensorFlow caches the eager tensor of every
                # distinct Python number it converts, for good (about 1 KiB each, 6 KiB an
                # iteration: the slow memory growth of a run of days)
                tf.summary.write(
                    name, tf.constant(np.float32(value)), step=np.int64(step), metadata=scalars
                )
    memory.pending.clear()
    memory.writer.flush()


def _open_writer(session: Any, memory: TensorboardMemory) -> None:
    """The writer is made at the first save: a new model folder holds nothing before its model."""
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow: builtins.tensorboard loads without it)

    folder = session_log_dir(session.model_dir, session.record.get("id", 0))
    folder.mkdir(parents=True, exist_ok=True)
    memory.writer = tf.summary.create_file_writer(
        str(folder), max_queue=QUEUE, flush_millis=FLUSH_MILLIS
    )
    with memory.writer.as_default():
        tf.summary.write(
            "model_config",
            tf.constant(_model_json(session)),
            step=memory.first_step,
            metadata=_metadata("text"),
        )


@hookimpl
def fs_train_start(session: Any) -> None:
    if session.request.no_logs:
        return
    session.stash[KEY] = TensorboardMemory(
        first_step=session.state.iterations, last=time.monotonic()
    )


@hookimpl
def fs_iteration_end(session: Any, iteration: int, losses: Mapping[str, float]) -> None:
    memory = session.stash.get(KEY, None)
    if memory is None:
        return
    now = time.monotonic()
    elapsed, memory.last = now - memory.last, now
    values = dict(losses)
    values["total"] = losses["loss_a"] + losses["loss_b"]
    rate = learning_rate(session.optimizer)
    if rate is not None:
        values["learning_rate"] = rate
    if elapsed > 0:
        values["examples_per_second"] = session.examples_per_iteration / elapsed
    memory.pending.append((int(iteration), values))


@hookimpl
def fs_save(session: Any) -> None:
    """Events are written at each save, so the logs never run ahead of the saved model."""
    memory = session.stash.get(KEY, None)
    if memory is None:
        return
    if memory.writer is None:
        _open_writer(session, memory)

    held = latest(session)
    if held is not None and held[0] == session.state.iterations:
        step, loss_a, loss_b = held
        memory.pending.append(
            (step, {"holdout_a": loss_a, "holdout_b": loss_b, "holdout_total": loss_a + loss_b})
        )
    _write_pending(memory)


@hookimpl
def fs_train_end(session: Any) -> None:
    memory = session.stash.pop(KEY, None)
    if memory is not None and memory.writer is not None:
        _write_pending(memory)
        memory.writer.close()
