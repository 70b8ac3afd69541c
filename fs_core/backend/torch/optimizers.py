"""PyTorch's parts of the built-in optimizers: dense gradients and an in-place Adam update.

The built-in optimizers' update rules are ``keras.ops`` (:mod:`fs_core.builtins.optimizers`) and
run as they are on torch. The Adam family's plain-ops update makes about ten passes over every
weight, each allocating a temporary (on a 2-core CPU it was 38% of Original's torch step); here
the same formula runs as in-place torch operations on Keras' own slot variables, as TensorFlow's
fused kernel does for TensorFlow.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import torch


def dense(gradient: Any) -> Any:
    """``gradient`` as a dense tensor (a sparse one from an embedding lookup too)."""
    if torch.is_tensor(gradient) and gradient.is_sparse:
        return gradient.to_dense()
    return keras.ops.convert_to_tensor(gradient)


def can_fuse(variable: Any, gradient: Any) -> bool:
    """Whether :func:`fused_adam_update` can update ``variable`` with ``gradient``: a Keras
    variable and a dense gradient of its dtype."""
    return (
        isinstance(variable, keras.Variable)
        and torch.is_tensor(gradient)
        and not gradient.is_sparse
        and gradient.dtype == variable.value.dtype
    )


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
    """One Adam step (AMSGrad when ``v_hat`` is not None), in place: ``m += (g - m)(1 - b1)``,
    ``v += (g² - v)(1 - b2)``, ``w -= lr·√(1 - b2^t)/(1 - b1^t) · m / (√v + ε)`` (the formula
    of the plain-ops path and of TensorFlow's kernel)."""
    b1, b2 = float(beta1), float(beta2)
    alpha = float(lr) * math.sqrt(1.0 - float(beta2_power)) / (1.0 - float(beta1_power))
    with torch.no_grad():
        first, second = m.value, v.value
        first.lerp_(gradient, 1.0 - b1)
        second.lerp_(gradient * gradient, 1.0 - b2)
        if v_hat is not None:
            torch.maximum(v_hat.value, second, out=v_hat.value)
            second = v_hat.value
        denominator = second.sqrt().add_(float(epsilon))
        variable.value.addcdiv_(first, denominator, value=-alpha)
