"""JAX's parts of the built-in optimizers: gradients are dense arrays already, and there is no
fused Adam kernel (the Adam family takes its ``keras.ops`` path, which XLA fuses by itself)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp


def dense(gradient: Any) -> Any:
    """``gradient`` as an array (JAX has no sparse gradients)."""
    return jnp.asarray(gradient)


def can_fuse(variable: Any, gradient: Any) -> bool:
    """Never: the update is plain ``keras.ops`` inside the compiled step."""
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
    """Not available: :func:`can_fuse` is always False."""
    raise NotImplementedError("JAX has no fused Adam kernel; can_fuse() is False")
