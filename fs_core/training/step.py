"""The compiled training step: both sides forward, per-side losses, one backward pass, one update.

The step is traced once by ``tf.function`` (the batch shapes never change during a session) and
returns every loss term as a tensor, so the Python loop does no per-iteration graph work.
"""
from __future__ import annotations

from typing import Any, Callable

import keras
import tensorflow as tf


def make_train_step(model: keras.Model, composer: Any, optimizer: keras.optimizers.Optimizer,
                    outputs_per_side: int, clipper: Callable[[list], list] | None = None,
                    jit_compile: bool = False) -> Callable[[dict], dict]:
    """A ``tf.function`` taking a TrainingBatch and returning ``loss_a``, ``loss_b`` and the terms."""
    variables = model.trainable_variables

    def step(batch: dict) -> dict:
        with tf.GradientTape() as tape:
            outputs = model([batch["a"]["input"], batch["b"]["input"]], training=True)
            outputs = [tf.cast(o, tf.float32) for o in tf.nest.flatten(outputs)]
            loss_a, terms_a = composer.side_loss(outputs[:outputs_per_side], batch["a"])
            loss_b, terms_b = composer.side_loss(outputs[outputs_per_side:], batch["b"])
            total = loss_a + loss_b
            scaled = optimizer.scale_loss(total) if hasattr(optimizer, "scale_loss") else total
        gradients = tape.gradient(scaled, variables)
        if clipper is not None:
            gradients = clipper(gradients)
        optimizer.apply_gradients(zip(gradients, variables))
        result = {"loss_a": loss_a, "loss_b": loss_b}
        result.update({f"a/{name}": value for name, value in terms_a.items()})
        result.update({f"b/{name}": value for name, value in terms_b.items()})
        return result

    return tf.function(step, jit_compile=jit_compile, reduce_retracing=True)
