"""TensorFlow's parts of the built-in optimizers: dense gradients and the fused Adam kernel.

The update rules are ``keras.ops`` in :mod:`fs_core.builtins.optimizers`; TensorFlow adds a fused
``ResourceApplyAdam`` kernel that the Adam family uses where it can (a dense gradient on a
variable with a resource handle), with a per-step epsilon that makes it torch's rule.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf


def dense(gradient: Any) -> Any:
    """``gradient`` as a dense tensor (an ``IndexedSlices`` from an embedding lookup too)."""
    return tf.convert_to_tensor(gradient)


def resource_handle(variable: Any) -> Any:
    """The TensorFlow resource handle behind a Keras variable (None when there is none)."""
    value = variable.value if isinstance(variable, keras.Variable) else variable
    return getattr(value, "handle", None)


def can_fuse(variable: Any, gradient: Any) -> bool:
    """Whether :func:`fused_adam_update` can update ``variable`` with ``gradient``."""
    return resource_handle(variable) is not None and not isinstance(gradient, tf.IndexedSlices)


def fused_adam_update(
    variable: Any,
    m: Any,
    v: Any,
    v_hat: Any,
    gradient: Any,
    *,
    beta1_power: Any,
    beta2_power: Any,
    lr: Any,
    beta1: Any,
    beta2: Any,
    epsilon: Any,
) -> None:
    """One Adam step (AMSGrad when ``v_hat`` is not None) in TensorFlow's fused kernel, on Keras'
    slot variables ``m``, ``v`` and ``v_hat``, where :func:`can_fuse` said it can."""
    arguments = dict(
        var=resource_handle(variable),
        m=resource_handle(m),
        v=resource_handle(v),
        beta1_power=beta1_power,
        beta2_power=beta2_power,
        lr=lr,
        beta1=beta1,
        beta2=beta2,
        epsilon=epsilon,
        grad=gradient,
        use_locking=False,
    )
    if v_hat is not None:
        tf.raw_ops.ResourceApplyAdamWithAmsgrad(vhat=resource_handle(v_hat), **arguments)
    else:
        tf.raw_ops.ResourceApplyAdam(**arguments)
