"""The training step with extensions: one forward pass, the model's update, then each extension's
own updates (its discriminators), all in one compiled step.

One forward pass records the model's outputs and every extension's losses, so a discriminator's
view of the fakes is computed once and serves both the generator's adversarial term
(differentiated over the model's variables) and the discriminator's own loss (over its variables
only). This module builds that forward pass; the backend
(:func:`fs_core.backend.tensorflow.step.compile_extended_step` for TensorFlow) differentiates,
applies and compiles around it. Without extensions :func:`fs_core.training.step.make_train_step`
builds its plain step, unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import keras
from keras import ops

from fs_core import backend
from fs_core.losses.compose import PER_FACE_KEYS, side_losses

if TYPE_CHECKING:
    from fs_core.extensions.activate import ActiveExtensions

#: the prefix of the extensions' values among the step's losses (status line, TensorBoard, record)
PREFIX = "ext/"


def make_extended_step(
    model: keras.Model,
    composer: Any,
    optimizer: keras.optimizers.Optimizer,
    active: ActiveExtensions,
    distribution: Any = None,
    *,
    per_face: bool = False,
) -> Callable[[dict], dict]:
    """The step on one device, or under a strategy whose backend runs extensions on several
    replicas (``-d ddp``; :func:`fs_core.extensions.activate.activate` refuses the others).
    There every loss differentiated is divided by the replica count, as the plain step's, so the
    replicas' summed gradients are the global batch's mean. ``per_face``: the results also hold
    each face's reconstruction loss, as the plain step's do (the extensions' terms not in it)."""
    replicas = distribution.replicas if distribution is not None else 1
    divisor = distribution.loss_divisor if distribution is not None else 1
    if replicas > 1:
        for part in active.parts().values():
            distribution.share_state(part.non_trainable_variables)
    variables = model.trainable_variables
    extensions = active.extensions
    own_variables = {name: part.trainable_variables for name, part in active.parts().items()}
    own_optimizers = active.optimizers()
    filters = [ext for ext in extensions if ext.filters_update]
    view_of = active.forward
    assert view_of is not None  # made whenever an extension is on

    def forward(batch: dict) -> tuple[Any, dict, dict]:
        view = view_of(batch)
        loss_a, terms_a, faces_a = side_losses(composer, view.outputs["a"], batch["a"], per_face)
        loss_b, terms_b, faces_b = side_losses(composer, view.outputs["b"], batch["b"], per_face)
        total = loss_a + loss_b
        reported: dict[str, Any] = {}
        own: dict[str, Any] = {}
        for extension in extensions:
            losses = extension.losses(view)
            for name, term in losses.generator.items():
                value = ops.cast(term, "float32")
                total = total + value
                reported[f"{PREFIX}{name}"] = value
            for name, value in losses.own.items():
                own[name] = ops.cast(value, "float32")
                reported[f"{PREFIX}{name}"] = own[name]
            for name, value in losses.report.items():
                reported[f"{PREFIX}{name}"] = ops.cast(value, "float32")
        result = {"loss_a": loss_a, "loss_b": loss_b}
        result.update({f"a/{name}": value for name, value in terms_a.items()})
        result.update({f"b/{name}": value for name, value in terms_b.items()})
        result.update(reported)
        if per_face:
            result.update({PER_FACE_KEYS["a"]: faces_a, PER_FACE_KEYS["b"]: faces_b})
        if divisor > 1:  # gradients are summed over replicas: each adds its share of the mean
            total = total / divisor
            own = {name: value / divisor for name, value in own.items()}
        return total, own, result

    # the distribution only where it has several replicas: backends that refuse extensions then
    # take no such argument
    multi = {"distribution": distribution} if replicas > 1 else {}
    return backend.get().compile_extended_step(
        forward, variables, optimizer, own_variables, own_optimizers, filters, **multi
    )
