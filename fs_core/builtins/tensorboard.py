"""TensorBoard logs in ``MODEL_DIR/logs/session_<id>/`` (off with ``-n``).

Written by the backend's summary writer (TensorFlow's ``tf.summary``: event files need no
TensorBoard install). Every iteration logs, at
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


def _write_pending(memory: TensorboardMemory) -> None:
    memory.writer.write_scalars(memory.pending)
    memory.pending.clear()
    memory.writer.flush()


def _open_writer(session: Any, memory: TensorboardMemory) -> None:
    """The writer is made at the first save: a new model folder holds nothing before its model."""
    from fs_core import backend  # noqa: PLC0415 (TensorFlow: builtins.tensorboard loads without it)

    folder = session_log_dir(session.model_dir, session.record.get("id", 0))
    folder.mkdir(parents=True, exist_ok=True)
    memory.writer = backend.get().create_summary_writer(
        folder, max_queue=QUEUE, flush_millis=FLUSH_MILLIS
    )
    memory.writer.write_text("model_config", _model_json(session), step=memory.first_step)


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
