"""PyTorch's gradient clipper for the train step: none, norm, global_norm, value and AutoClip.

The same maths as TensorFlow's (:mod:`fs_core.backend.tensorflow.clipping`), written with torch
ops on the gradients Keras' optimizer is about to apply (already unscaled by the loss-scale
optimizer, already accumulated), so a run clips the same whichever backend trains it. AutoClip's
history is two non-trainable Keras variables, as TensorFlow's are two ``tf.Variable``; like those
it lives for the session (a resumed run starts a new history on either backend).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import torch

from fs_core.errors import FsUserError

#: AutoClip history length for ``autoclip_history = 0``: the option's maximum (see TensorFlow's)
AUTOCLIP_UNBOUNDED_CAP = 100_000

METHODS = ("none", "norm", "global_norm", "value", "autoclip")


def _dense(grads: Sequence[Any]) -> list[Any]:
    return [None if g is None else (g.to_dense() if g.is_sparse else g) for g in grads]


def _global_norm(grads: Sequence[Any]) -> torch.Tensor:
    """√Σ‖g‖² over every gradient, in float32 whatever the gradients' dtype."""
    squares = [torch.sum(torch.square(g.float())) for g in grads if g is not None]
    return torch.sqrt(torch.stack(squares).sum()) if squares else torch.tensor(0.0)


def _scale_to_norm(grads: Sequence[Any], norm: torch.Tensor, limit: torch.Tensor) -> list[Any]:
    """Scale every gradient by ``limit / norm`` when ``norm`` exceeds ``limit``."""
    ratio = torch.where(norm > 0, limit / torch.where(norm > 0, norm, 1.0), 0.0)
    scale = torch.where(norm > limit, ratio, torch.ones_like(norm))
    return [None if g is None else g * scale.to(g.dtype) for g in grads]


def _clip_by_norm(gradient: torch.Tensor, limit: float) -> torch.Tensor:
    """``tf.clip_by_norm``: ``g · limit / max(‖g‖, limit)``."""
    norm = torch.sqrt(torch.sum(gradient * gradient))
    bound = torch.tensor(limit, dtype=gradient.dtype, device=gradient.device)
    return gradient * bound / torch.maximum(norm, bound)


def percentile(values: torch.Tensor, q: float) -> torch.Tensor:
    """The ``q``-th percentile (0-100) of a 1-D tensor, linear interpolation as NumPy's default."""
    ordered = torch.sort(values).values
    last = float(ordered.numel() - 1)
    position = min(max(q / 100.0, 0.0), 1.0) * last
    low = int(position)
    high = min(low + 1, int(last))
    weight = torch.tensor(position - low, dtype=torch.float32, device=values.device)
    return ordered[low] + (ordered[high] - ordered[low]) * weight


class GradientClipper:
    """Clips a list of gradients (``None`` entries pass through) by one method.

    ``norm``: each gradient's L2 norm ≤ ``value``. ``global_norm``: the joint L2 norm ≤ ``value``.
    ``value``: each element in ``[-value, value]``. ``autoclip``: the joint norm ≤ the
    ``value × 10``-th percentile of the joint norms seen so far (the last ``history`` of them),
    current one included; a non-finite norm is neither recorded nor clipped. ``none``: unchanged.
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
                keras.ops.zeros((self.history,), "float32"), trainable=False, name="autoclip_norms"
            )
            self.count = keras.Variable(0, dtype="int64", trainable=False, name="autoclip_count")

    @property
    def state_variables(self) -> tuple[keras.Variable, ...]:
        """The variables this clipper owns (empty unless AutoClip)."""
        return tuple(v for v in (self.norms, self.count) if v is not None)

    def __call__(self, grads: Sequence[Any]) -> list[Any]:
        grads = _dense(grads)
        if self.method == "none":
            return grads
        if self.method == "norm":
            return [None if g is None else _clip_by_norm(g, self.value) for g in grads]
        if self.method == "value":
            return [None if g is None else torch.clamp(g, -self.value, self.value) for g in grads]
        norm = _global_norm(grads)
        limit = torch.tensor(self.value, dtype=torch.float32, device=norm.device)
        if self.method == "global_norm":
            return _scale_to_norm(grads, norm, limit)
        return self._autoclip(grads, norm)

    def _autoclip(self, grads: list[Any], norm: torch.Tensor) -> list[Any]:
        assert self.norms is not None and self.count is not None  # made with the clipper
        if not bool(torch.isfinite(norm)):  # the loss scaler or NaN protection deals with it
            return grads
        with torch.no_grad():
            count = int(self.count.value)
            norms = self.norms.value
            norms[count % self.history] = norm.to(norms.device)
            self.count.assign(count + 1)
            seen = norms[: min(count + 1, self.history)]
            threshold = percentile(seen, self.value * 10.0)
        return _scale_to_norm(grads, norm, threshold.to(norm.device))


def gradient_clipper(method: str, value: float, history: int) -> GradientClipper:
    """The clipper for ``method`` with threshold ``value`` and AutoClip ``history`` (0: the cap)."""
    return GradientClipper(method, value, history)
