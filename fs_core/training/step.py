"""The compiled training step: both sides forward, per-side losses, one backward pass, one update.

The step is traced once by ``tf.function`` (the batch shapes never change during a session) and
returns every loss term as a tensor, so the Python loop does no per-iteration graph work. It is
traced without AutoGraph, as Keras 3's own trainer traces its steps: models, losses and extensions
branch on tensors with ``keras.ops.where``/``cond`` (the plugin checks say so), and converting
every function the step calls took half of the first step's tracing (0.6 s for Original, 2 cores).
Under a multi-replica strategy (``fs_core.training.strategy``) the same step runs on every
replica with its share of the batch; the loss it differentiates is divided by the replica count so
that the summed gradients are the global batch's mean, and the reported losses are the replicas'
mean.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import keras
import tensorflow as tf

from fs_core.extensions.step import make_extended_step
from fs_core.training.strategy import replica_mean

if TYPE_CHECKING:
    from fs_core.extensions.activate import ActiveExtensions


def make_train_step(
    model: keras.Model,
    composer: Any,
    optimizer: keras.optimizers.Optimizer,
    outputs_per_side: int,
    distribution: Any = None,
    extensions: ActiveExtensions | None = None,
) -> Callable[[dict], dict]:
    """A callable taking a TrainingBatch and returning ``loss_a``, ``loss_b`` and the terms.

    ``distribution`` (a :class:`fs_core.training.strategy.Distribution`, or None for one device)
    whose scope created ``model`` and ``optimizer``. ``extensions`` (the session's
    :class:`fs_core.extensions.activate.ActiveExtensions`, or None): with them the step is
    :func:`fs_core.extensions.step.make_extended_step`'s; without (or with none on), this plain
    one, unchanged.
    """
    if extensions is not None and extensions.extensions:
        return make_extended_step(model, composer, optimizer, extensions)
    variables = model.trainable_variables
    replicas = distribution.replicas if distribution is not None else 1
    # Keras' loss-scale optimizer decides "finite" from the first replica's gradients alone; with
    # each replica holding the replicas' mean, every replica sees the same (inf on any => inf).
    share_first = replicas > 1 and isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    def step(batch: dict) -> dict:
        with tf.GradientTape() as tape:
            outputs = model([batch["a"]["input"], batch["b"]["input"]], training=True)
            outputs = [tf.cast(o, tf.float32) for o in tf.nest.flatten(outputs)]
            loss_a, terms_a = composer.side_loss(outputs[:outputs_per_side], batch["a"])
            loss_b, terms_b = composer.side_loss(outputs[outputs_per_side:], batch["b"])
            total = loss_a + loss_b
            if replicas > 1:  # gradients are summed over replicas: each adds its share of the mean
                total = total / replicas
            scaled = optimizer.scale_loss(total) if hasattr(optimizer, "scale_loss") else total
        gradients = tape.gradient(scaled, variables)
        if share_first:
            gradients = replica_mean(gradients)
        optimizer.apply_gradients(zip(gradients, variables))
        result = {"loss_a": loss_a, "loss_b": loss_b}
        result.update({f"a/{name}": value for name, value in terms_a.items()})
        result.update({f"b/{name}": value for name, value in terms_b.items()})
        return result

    if distribution is None or distribution.name == "default":
        return tf.function(step, jit_compile=False, reduce_retracing=True, autograph=False)
    return distribution.wrap_step(step, jit_compile=False)
