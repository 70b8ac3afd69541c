"""The training step: both sides forward, per-side losses, one backward pass, one update.

This module builds the backend-neutral half, the forward pass and the loss (Keras and
``keras.ops``); the backend (:mod:`fs_core.backend`) takes the gradients, applies them and
compiles the whole once (for TensorFlow: :func:`fs_core.backend.tensorflow.step.compile_train_step`,
``tf.function`` without AutoGraph), so the Python loop does no per-iteration graph work.
Under a multi-replica strategy (``fs_core.training.strategy``) the same step runs on every
replica with its share of the batch; the loss it differentiates is divided by the replica count so
that the summed gradients are the global batch's mean (where the framework sums them:
``Distribution.loss_divisor``), and the reported losses are the replicas' mean.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import keras
from keras import ops

from fs_core import backend
from fs_core.extensions.step import make_extended_step
from fs_core.losses.compose import PER_FACE_KEYS, side_losses

if TYPE_CHECKING:
    from fs_core.extensions.activate import ActiveExtensions


def make_train_step(
    model: keras.Model,
    composer: Any,
    optimizer: keras.optimizers.Optimizer,
    outputs_per_side: int,
    distribution: Any = None,
    extensions: ActiveExtensions | None = None,
    per_face: bool = False,
) -> Callable[[dict], dict]:
    """A callable taking a TrainingBatch and returning ``loss_a``, ``loss_b`` and the terms.

    ``distribution`` (a :class:`fs_core.training.strategy.Distribution`, or None for one device)
    whose scope created ``model`` and ``optimizer``. ``extensions`` (the session's
    :class:`fs_core.extensions.activate.ActiveExtensions`, or None): with them the step is
    :func:`fs_core.extensions.step.make_extended_step`'s; without (or with none on), this plain
    one, unchanged. ``per_face``: the results also hold each face's loss, (N,) per side under
    :data:`PER_FACE_KEYS` (one device only: under several replicas they would be averaged
    across replicas like every other result, see :mod:`fs_core.training.face_losses`).
    """
    if distribution is not None:  # kept equal on every worker where the strategy does not
        distribution.share_state(model.non_trainable_variables)
    if extensions is not None and extensions.extensions:
        return make_extended_step(
            model, composer, optimizer, extensions, distribution, per_face=per_face
        )
    divisor = distribution.loss_divisor if distribution is not None else 1

    def forward(batch: dict) -> tuple[Any, dict]:
        outputs = model([batch["a"]["input"], batch["b"]["input"]], training=True)
        outputs = [ops.cast(o, "float32") for o in keras.tree.flatten(outputs)]
        loss_a, terms_a, faces_a = side_losses(
            composer, outputs[:outputs_per_side], batch["a"], per_face
        )
        loss_b, terms_b, faces_b = side_losses(
            composer, outputs[outputs_per_side:], batch["b"], per_face
        )
        total = loss_a + loss_b
        if divisor > 1:  # gradients are summed over replicas: each adds its share of the mean
            total = total / divisor
        result = {"loss_a": loss_a, "loss_b": loss_b}
        result.update({f"a/{name}": value for name, value in terms_a.items()})
        result.update({f"b/{name}": value for name, value in terms_b.items()})
        if per_face:
            result.update({PER_FACE_KEYS["a"]: faces_a, PER_FACE_KEYS["b"]: faces_b})
        return total, result

    return backend.get().compile_train_step(
        forward, model.trainable_variables, optimizer, distribution
    )
