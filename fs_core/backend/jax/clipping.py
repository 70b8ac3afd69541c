"""JAX's gradient clipper for the train step: none, norm, global_norm, value and AutoClip, with
the TensorFlow clipper's maths (:mod:`fs_core.backend.tensorflow.clipping`).

AutoClip's history is two Keras variables (a fixed-size ring buffer of norms and a count), so the
compiled step (:mod:`fs_core.backend.jax.step`) finds them, passes their values in and takes the
new ones out like any optimizer slot. The percentile over the filled part of the buffer is taken
by sorting with the unfilled slots set to +inf, as shapes under ``jax.jit`` cannot depend on the
count. Like TensorFlow's, the history is not saved with the model: a session starts it afresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import keras

from fs_core.errors import FsUserError

#: AutoClip history length used for ``autoclip_history = 0`` (the option's own maximum, as
#: TensorFlow's clipper)
AUTOCLIP_UNBOUNDED_CAP = 100_000

METHODS = ("none", "norm", "global_norm", "value", "autoclip")


def _global_norm(grads: Sequence[Any]) -> Any:
    """√Σ‖g‖² over every gradient, in float32 whatever the gradients' dtype."""
    squares = [jnp.sum(jnp.square(jnp.asarray(g, jnp.float32))) for g in grads if g is not None]
    return jnp.sqrt(sum(squares[1:], squares[0])) if squares else jnp.asarray(0.0, jnp.float32)


def _scale_to_norm(grads: Sequence[Any], norm: Any, limit: Any) -> list[Any]:
    """Scale every gradient by ``limit / norm`` when ``norm`` exceeds ``limit``."""
    safe = jnp.where(norm == 0.0, 1.0, norm)
    ratio = jnp.where(norm == 0.0, 0.0, limit / safe)  # tf.math.divide_no_nan
    scale = jnp.where(norm > limit, ratio, jnp.ones_like(norm))
    return [None if g is None else g * scale.astype(g.dtype) for g in grads]


def _clip_by_norm(gradient: Any, limit: float) -> Any:
    """``tf.clip_by_norm``: ``g · limit / max(‖g‖, limit)`` with its safe square root at 0."""
    total = jnp.sum(gradient * gradient)
    positive = total > 0
    norm = jnp.where(positive, jnp.sqrt(jnp.where(positive, total, 1.0)), total)
    limit_value = jnp.asarray(limit, gradient.dtype)
    return gradient * limit_value / jnp.maximum(norm, limit_value)


def percentile(values: Any, filled: Any, q: float) -> Any:
    """The ``q``-th percentile (0-100) of the first ``filled`` (≥ 1) of ``values``, linear
    interpolation as NumPy's default."""
    size = values.shape[0]
    ordered = jnp.sort(jnp.where(jnp.arange(size) < filled, values, jnp.inf))
    last = (jnp.maximum(filled, 1) - 1).astype(jnp.float32)
    position = jnp.clip(jnp.float32(q) / 100.0, 0.0, 1.0) * last
    low = jnp.floor(position)
    high = jnp.minimum(low + 1.0, last)
    low_value = ordered[low.astype(jnp.int32)]
    high_value = ordered[high.astype(jnp.int32)]
    return low_value + (high_value - low_value) * (position - low)


class GradientClipper:
    """Clips a list of gradients (``None`` entries pass through) by one method; see
    :class:`fs_core.backend.tensorflow.clipping.GradientClipper` for each method's rule.

    AutoClip's state is ``norms`` (a ring buffer) and ``count`` (norms recorded so far), listed by
    :attr:`state_variables`.
    """

    def __init__(self, method: str = "none", value: float = 1.0, history: int = 10000) -> None:
        if method not in METHODS:
            raise FsUserError(
                f"gradient_clipping must be one of {', '.join(METHODS)}; got {method!r}"
            )
        self.method = method
        self.value = float(value)
        self.history = int(history) if history else AUTOCLIP_UNBOUNDED_CAP
        self.norms: keras.Variable | None = None
        self.count: keras.Variable | None = None
        if method == "autoclip":
            self.norms = keras.Variable(
                jnp.zeros((self.history,), jnp.float32), trainable=False, name="autoclip_norms"
            )
            self.count = keras.Variable(0, dtype="int32", trainable=False, name="autoclip_count")

    @property
    def state_variables(self) -> tuple[keras.Variable, ...]:
        """The variables this clipper owns (empty unless AutoClip)."""
        return tuple(v for v in (self.norms, self.count) if v is not None)

    @property
    def variables(self) -> tuple[keras.Variable, ...]:
        return self.state_variables

    def __call__(self, grads: Sequence[Any]) -> list[Any]:
        grads = [None if g is None else jnp.asarray(g) for g in grads]
        if self.method == "none":
            return grads
        if self.method == "norm":
            return [None if g is None else _clip_by_norm(g, self.value) for g in grads]
        if self.method == "value":
            return [
                None if g is None else jnp.clip(g, -self.value, self.value).astype(g.dtype)
                for g in grads
            ]
        norm = _global_norm(grads)
        if self.method == "global_norm":
            return _scale_to_norm(grads, norm, jnp.float32(self.value))
        return self._autoclip(grads, norm)

    def _autoclip(self, grads: list[Any], norm: Any) -> list[Any]:
        assert self.norms is not None and self.count is not None  # made with the clipper
        norms, count = jnp.asarray(self.norms.value), jnp.asarray(self.count.value)
        finite = jnp.isfinite(norm)
        recorded = jnp.where(finite, norm, 0.0)
        slot = count % self.history
        # record only finite norms: a non-finite step leaves the history as it was
        norms = jnp.where(finite, norms.at[slot].set(recorded), norms)
        count = count + finite.astype(count.dtype)
        self.norms.assign(norms)
        self.count.assign(count)
        filled = jnp.minimum(count, self.history)
        threshold = percentile(norms, filled, self.value * 10.0)
        # a non-finite norm is never clipped: compare against +inf so nothing is scaled
        limit = jnp.where(finite & (filled > 0), threshold, jnp.inf)
        return _scale_to_norm(grads, jnp.where(finite, norm, 0.0), limit)


def gradient_clipper(method: str, value: float, history: int) -> GradientClipper:
    """The clipper for ``method`` with threshold ``value`` and AutoClip ``history`` (0: the cap)."""
    return GradientClipper(method, value, history)
