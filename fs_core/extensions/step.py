"""The compiled training step with extensions: one forward pass, the model's update, then each
extension's own updates (its discriminators), all in one ``tf.function``.

One persistent gradient tape records the forward pass and every extension's losses, so a
discriminator's view of the fakes is computed once and serves both the generator's adversarial
term (differentiated over the model's variables) and the discriminator's own loss (over its
variables only). Without extensions :func:`fs_core.training.step.make_train_step` builds its
plain step, unchanged.

The step is compiled with TensorFlow's arithmetic graph optimizer off. With it on, two runs with
the same seed in two processes drifted apart by rounding from the first iteration (the model's
gradient through a discriminator differed by about 1e-8, about 1e-4 in the weights after five
iterations), although each process repeated itself exactly: the rewritten graph regroups sums
in a way that is not fixed from one process to the next. Off, the runs are bit-identical, at no
measurable cost (Original at 64 px, batch 4, patch GAN on: 0.88-0.92 s per step either way on 2
cores). The setting is TensorFlow's, for the process; it is made before the step is first traced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import keras
import tensorflow as tf

if TYPE_CHECKING:
    from fs_core.extensions.activate import ActiveExtensions

#: the prefix of the extensions' values among the step's losses (status line, TensorBoard, record)
PREFIX = "ext/"


def _scaled(optimizer: Any, loss: Any) -> Any:
    return optimizer.scale_loss(loss) if hasattr(optimizer, "scale_loss") else loss


def make_extended_step(
    model: keras.Model,
    composer: Any,
    optimizer: keras.optimizers.Optimizer,
    active: ActiveExtensions,
) -> Callable[[dict], dict]:
    """The step on one device (extensions refuse other strategies before this is built)."""
    variables = model.trainable_variables
    extensions = active.extensions
    own_variables = {name: part.trainable_variables for name, part in active.parts().items()}
    own_optimizers = active.optimizers()
    filters = [ext for ext in extensions if ext.filters_update]
    forward = active.forward
    assert forward is not None  # made whenever an extension is on
    tf.config.optimizer.set_experimental_options({"arithmetic_optimization": False})

    def step(batch: dict) -> dict:
        with tf.GradientTape(persistent=True) as tape:
            view = forward(batch)
            loss_a, terms_a = composer.side_loss(view.outputs["a"], batch["a"])
            loss_b, terms_b = composer.side_loss(view.outputs["b"], batch["b"])
            total = loss_a + loss_b
            reported: dict[str, Any] = {}
            own: dict[str, Any] = {}
            for extension in extensions:
                losses = extension.losses(view)
                for name, term in losses.generator.items():
                    value = tf.cast(term, tf.float32)
                    total = total + value
                    reported[f"{PREFIX}{name}"] = value
                for name, value in losses.own.items():
                    own[name] = tf.cast(value, tf.float32)
                    reported[f"{PREFIX}{name}"] = own[name]
                for name, value in losses.report.items():
                    reported[f"{PREFIX}{name}"] = tf.cast(value, tf.float32)
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
        result = {"loss_a": loss_a, "loss_b": loss_b}
        result.update({f"a/{name}": value for name, value in terms_a.items()})
        result.update({f"b/{name}": value for name, value in terms_b.items()})
        result.update(reported)
        return result

    return tf.function(step, jit_compile=False, reduce_retracing=True, autograph=False)
