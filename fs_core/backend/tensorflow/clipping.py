"""TensorFlow's gradient clipper for the train step: none, norm, global_norm, value and AutoClip.

:func:`fs_core.training.clipping.make_gradient_clipper` makes it from the options. The clipper is
the backend's because AutoClip's history is replica-aware state (variables aggregated
``ONLY_FIRST_REPLICA`` under ``tf.distribute``). It is a ``tf.Module`` so it can own that state
and be created by the caller inside a distribution strategy scope, then called inside the traced
train step on the *unscaled* gradients (after mixed-precision loss-scale division), just before
the optimizer step, as faceswap's ``lib/training/optimizer.py`` and ``lib/model/autoclip.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from fs_core.errors import FsUserError

#: AutoClip history length used for ``autoclip_history = 0`` ("remember every norm"). A truly
#: unbounded history would grow the buffer and the per-step sort for ever; the option's own
#: maximum is a cap no user-set history can exceed, so 0 means "the largest history allowed".
AUTOCLIP_UNBOUNDED_CAP = 100_000

METHODS = ("none", "norm", "global_norm", "value", "autoclip")


def _dense(grads: Sequence[Any]) -> list[Any]:
    return [None if g is None else tf.convert_to_tensor(g) for g in grads]


def _global_norm(grads: Sequence[Any]) -> tf.Tensor:
    """√Σ‖g‖² over every gradient, in float32 whatever the gradients' dtype."""
    squares = [tf.reduce_sum(tf.square(tf.cast(g, tf.float32))) for g in grads if g is not None]
    return tf.sqrt(tf.add_n(squares)) if squares else tf.constant(0.0)


def _scale_to_norm(grads: Sequence[Any], norm: tf.Tensor, limit: tf.Tensor) -> list[Any]:
    """Scale every gradient by ``limit / norm`` when ``norm`` exceeds ``limit``."""
    scale = tf.where(norm > limit, tf.math.divide_no_nan(limit, norm), tf.ones_like(norm))
    return [None if g is None else g * tf.cast(scale, g.dtype) for g in grads]


def percentile(values: tf.Tensor, q: tf.Tensor) -> tf.Tensor:
    """The ``q``-th percentile (0-100) of a 1-D tensor, linear interpolation as NumPy's default."""
    ordered = tf.sort(values)
    last = tf.cast(tf.size(ordered) - 1, tf.float32)
    position = tf.clip_by_value(tf.cast(q, tf.float32) / 100.0, 0.0, 1.0) * last
    low = tf.floor(position)
    high = tf.minimum(low + 1.0, last)
    low_value = tf.gather(ordered, tf.cast(low, tf.int32))
    high_value = tf.gather(ordered, tf.cast(high, tf.int32))
    return low_value + (high_value - low_value) * (position - low)


class GradientClipper(tf.Module):
    """Clips a list of gradients (``None`` entries pass through) by one method.

    ``norm``: each gradient's L2 norm ≤ ``value``. ``global_norm``: the joint L2 norm ≤ ``value``.
    ``value``: each element in ``[-value, value]``. ``autoclip``: the joint norm ≤ the
    ``value × 10``-th percentile of the joint norms seen so far (the last ``history`` of them),
    current one included; a non-finite norm is neither recorded nor clipped (the loss scaler or
    NaN protection deals with that step). ``none``: unchanged.

    AutoClip's state is two variables, ``norms`` (a ring buffer) and ``count`` (norms recorded so
    far), listed by :attr:`state_variables`; create the clipper under the strategy scope that
    owns the model. They are ``ONLY_FIRST_REPLICA`` aggregated, so replicas share one history.
    """

    def __init__(
        self,
        method: str = "none",
        value: float = 1.0,
        history: int = 10000,
        name: str = "gradient_clipper",
    ) -> None:
        super().__init__(name=name)
        if method not in METHODS:
            raise FsUserError(
                f"gradient_clipping must be one of {', '.join(METHODS)}; got {method!r}"
            )
        self.method = method
        self.value = float(value)
        self.history = int(history) if history else AUTOCLIP_UNBOUNDED_CAP
        self.norms: tf.Variable | None = None
        self.count: tf.Variable | None = None
        if method == "autoclip":
            shared = dict(
                trainable=False,
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
                synchronization=tf.VariableSynchronization.ON_WRITE,
            )
            self.norms = tf.Variable(
                tf.zeros((self.history,), tf.float32), name="autoclip_norms", **shared
            )
            self.count = tf.Variable(tf.constant(0, tf.int64), name="autoclip_count", **shared)

    @property
    def state_variables(self) -> tuple[tf.Variable, ...]:
        """The variables this clipper owns (empty unless AutoClip)."""
        return tuple(v for v in (self.norms, self.count) if v is not None)

    def __call__(self, grads: Sequence[Any]) -> list[Any]:
        grads = _dense(grads)
        if self.method == "none":
            return grads
        limit = tf.constant(self.value, tf.float32)
        if self.method == "norm":
            return [
                None if g is None else tf.clip_by_norm(g, tf.cast(limit, g.dtype)) for g in grads
            ]
        if self.method == "value":
            return [
                None
                if g is None
                else tf.clip_by_value(g, -tf.cast(limit, g.dtype), tf.cast(limit, g.dtype))
                for g in grads
            ]
        norm = _global_norm(grads)
        if self.method == "global_norm":
            return _scale_to_norm(grads, norm, limit)
        return self._autoclip(grads, norm)

    def _autoclip(self, grads: list[Any], norm: tf.Tensor) -> list[Any]:
        assert self.norms is not None and self.count is not None  # made with the clipper
        finite = tf.math.is_finite(norm)
        recorded = tf.where(finite, norm, 0.0)
        slot = tf.math.floormod(self.count, self.history)
        updated = tf.tensor_scatter_nd_update(
            tf.convert_to_tensor(self.norms), tf.reshape(slot, (1, 1)), tf.reshape(recorded, (1,))
        )
        # record only finite norms: a non-finite step leaves the history as it was
        self.norms.assign(tf.where(finite, updated, self.norms))
        self.count.assign_add(tf.cast(finite, tf.int64))
        filled = tf.cast(tf.minimum(self.count, self.history), tf.int32)
        seen = self.norms[: tf.maximum(filled, 1)]
        threshold = percentile(seen, self.value * 10.0)
        # a non-finite norm is never clipped: compare against +inf so nothing is scaled
        limit = tf.where(finite & (filled > 0), threshold, float("inf"))
        return _scale_to_norm(grads, tf.where(finite, norm, 0.0), limit)


def gradient_clipper(method: str, value: float, history: int) -> GradientClipper:
    """The clipper for ``method`` with threshold ``value`` and AutoClip ``history`` (0: the cap)."""
    return GradientClipper(method, value, history)
