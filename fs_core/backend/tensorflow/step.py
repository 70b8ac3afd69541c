"""TensorFlow's training steps: a ``GradientTape`` around the core's forward pass, the optimizer's
update, all compiled once by ``tf.function``.

The step is traced once (the batch shapes never change during a session) and returns every loss
term as a tensor, so the Python loop does no per-iteration graph work. It is traced without
AutoGraph, as Keras 3's own trainer traces its steps: models, losses and extensions branch on
tensors with ``keras.ops.where``/``cond`` (the plugin checks say so), and converting every
function the step calls took half of the first step's tracing (0.6 s for Original, 2 cores).

The extended step (training extensions on) is compiled with TensorFlow's arithmetic graph
optimizer off. With it on, two runs with the same seed in two processes drifted apart by rounding
from the first iteration (the model's gradient through a discriminator differed by about 1e-8,
about 1e-4 in the weights after five iterations), although each process repeated itself exactly:
the rewritten graph regroups sums in a way that is not fixed from one process to the next. Off,
the runs are bit-identical, at no measurable cost (Original at 64 px, batch 4, patch GAN on:
0.88-0.92 s per step either way on 2 cores). The setting is TensorFlow's, for the process; it is
made before the step is first traced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import tensorflow as tf

from fs_core.backend.tensorflow.distribute import replica_mean


def _scaled(optimizer: Any, loss: Any) -> Any:
    return optimizer.scale_loss(loss) if hasattr(optimizer, "scale_loss") else loss


def compile_train_step(
    forward: Callable[[Any], tuple[Any, dict]],
    variables: Sequence[Any],
    optimizer: Any,
    distribution: Any = None,
) -> Callable[[dict], dict]:
    """The compiled step: ``forward(batch)`` under a tape, its loss scaled, differentiated over
    ``variables`` and applied by ``optimizer``; returns ``forward``'s results.

    ``distribution`` (a :class:`fs_core.training.strategy.Distribution`, or None for one device):
    under several replicas the step runs on each and its results are the replicas' mean.
    """
    replicas = distribution.replicas if distribution is not None else 1
    # Keras' loss-scale optimizer decides "finite" from the first replica's gradients alone; with
    # each replica holding the replicas' mean, every replica sees the same (inf on any => inf).
    share_first = replicas > 1 and isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    def step(batch: dict) -> dict:
        with tf.GradientTape() as tape:
            total, result = forward(batch)
            scaled = _scaled(optimizer, total)
        gradients = tape.gradient(scaled, variables)
        if share_first:
            gradients = replica_mean(gradients)
        optimizer.apply_gradients(zip(gradients, variables))
        return result

    if distribution is None or distribution.name == "default":
        return tf.function(step, jit_compile=False, reduce_retracing=True, autograph=False)
    return distribution.wrap_step(step, jit_compile=False)


def compile_extended_step(
    forward: Callable[[Any], tuple[Any, dict, dict]],
    variables: Sequence[Any],
    optimizer: Any,
    own_variables: Mapping[str, Sequence[Any]],
    own_optimizers: Mapping[str, Any],
    filters: Sequence[Any],
) -> Callable[[dict], dict]:
    """The compiled step with extensions, on one device.

    ``forward(batch) -> (total, own, result)``: the model's loss, each extension network's own
    loss by name, and the values to report. One persistent tape records it all, so a
    discriminator's view of the fakes serves both the generator's term and its own loss. After
    the model's update each of ``filters`` (extensions with ``filter_update``) sees the variables
    before and after it; then each extension network's optimizer applies its own gradients.
    """
    tf.config.optimizer.set_experimental_options({"arithmetic_optimization": False})

    def step(batch: dict) -> dict:
        with tf.GradientTape(persistent=True) as tape:
            total, own, result = forward(batch)
            scaled = _scaled(optimizer, total)
            own_scaled = {name: _scaled(own_optimizers[name], value) for name, value in own.items()}
        gradients = tape.gradient(scaled, variables)
        own_gradients = {
            name: tape.gradient(value, own_variables[name]) for name, value in own_scaled.items()
        }
        del tape
        before = [tf.identity(v) for v in variables] if filters else []
        optimizer.apply_gradients(zip(gradients, variables))
        for extension in filters:
            extension.filter_update(variables, before)
        for name, grads in own_gradients.items():
            own_optimizers[name].apply_gradients(zip(grads, own_variables[name]))
        return result

    return tf.function(step, jit_compile=False, reduce_retracing=True, autograph=False)


def compile_function(function: Callable) -> Callable:
    """``function`` traced as the training step traces: ``tf.function`` without AutoGraph."""
    return tf.function(function, autograph=False)


def gradients(loss: Callable[[], Any], variables: Sequence[Any]) -> tuple[Any, list[Any]]:
    """``loss()`` and its gradients over ``variables`` (None where none reaches one)."""
    with tf.GradientTape() as tape:
        value = loss()
    return value, list(tape.gradient(value, variables))


def input_gradient(loss: Callable[[Any], Any], value: Any) -> Any:
    """The gradient of ``loss(x)`` at ``x = value`` as NumPy, or None where none reaches it."""
    variable = tf.Variable(value)
    with tf.GradientTape() as tape:
        total = loss(variable)
    gradient = tape.gradient(total, variable)
    return None if gradient is None else gradient.numpy()
