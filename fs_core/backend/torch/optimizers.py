"""PyTorch's parts of the built-in optimizers: dense gradients; no fused kernel.

The built-in optimizers' update rules are ``keras.ops`` (:mod:`fs_core.builtins.optimizers`) and
run as they are on torch; TensorFlow's fused Adam kernel has no counterpart here, so the Adam
family takes its plain-ops path (the same formula).
"""

from __future__ import annotations

from typing import Any

import keras
import torch


def dense(gradient: Any) -> Any:
    """``gradient`` as a dense tensor (a sparse one from an embedding lookup too)."""
    if torch.is_tensor(gradient) and gradient.is_sparse:
        return gradient.to_dense()
    return keras.ops.convert_to_tensor(gradient)


def can_fuse(variable: Any, gradient: Any) -> bool:
    """Never: there is no fused update on torch."""
    return False


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
    """Not available on torch (:func:`can_fuse` is always False, so it is never called)."""
    raise NotImplementedError("the fused Adam update is TensorFlow's")
