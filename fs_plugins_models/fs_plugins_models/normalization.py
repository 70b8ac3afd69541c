"""Normalization layers with faceswap's semantics (lib/model/normalization.py), not Keras' own.

The differences matter for weights to mean the same thing: faceswap's InstanceNormalization with
``axis=None`` normalizes each sample over (H, W, C) jointly with *scalar* gamma/beta, and adds the
epsilon to the standard deviation rather than to the variance.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


def _axis(axis: int, rank: int) -> int:
    return axis % rank


@keras.saving.register_keras_serializable(package="fs")
class InstanceNormalization(keras.layers.Layer):
    """``(x - mean) / (std + epsilon) * gamma + beta`` per sample.

    ``axis=None``: statistics over every non-batch axis, gamma/beta are single scalars.
    ``axis=k``: statistics over the other non-batch axes, one gamma/beta per index of axis ``k``
    (classic instance norm with ``axis=-1``).
    """

    def __init__(
        self,
        axis: int | None = None,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale
        self.beta_initializer = keras.initializers.get(beta_initializer)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.gamma = None
        self.beta = None

    def build(self, input_shape: tuple) -> None:
        shape = (1,) if self.axis is None else (input_shape[self.axis],)
        if self.scale:
            self.gamma = self.add_weight(
                shape=shape, name="gamma", initializer=self.gamma_initializer
            )
        if self.center:
            self.beta = self.add_weight(shape=shape, name="beta", initializer=self.beta_initializer)

    def call(self, inputs: Any) -> Any:
        rank = len(inputs.shape)
        if self.axis is None:
            reduce = tuple(range(1, rank))
            bshape = None
        else:
            keep = _axis(self.axis, rank)
            reduce = tuple(i for i in range(1, rank) if i != keep)
            bshape = [1] * rank
            bshape[keep] = inputs.shape[keep]
        mean = ops.mean(inputs, axis=reduce, keepdims=True)
        std = ops.std(inputs, axis=reduce, keepdims=True)
        out = (inputs - mean) / (std + self.epsilon)
        if self.scale:
            out = out * (self.gamma if bshape is None else ops.reshape(self.gamma, bshape))
        if self.center:
            out = out + (self.beta if bshape is None else ops.reshape(self.beta, bshape))
        return out

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": keras.initializers.serialize(self.beta_initializer),
            "gamma_initializer": keras.initializers.serialize(self.gamma_initializer),
        }


@keras.saving.register_keras_serializable(package="fs")
class AdaInstanceNormalization(keras.layers.Layer):
    """Adaptive instance norm: inputs ``[x, beta, gamma]``; ``x`` normalized over H, W per channel.

    Returns ``(x - mean) / (std + epsilon) * gamma + beta``. ``beta``/``gamma`` come from the
    network (style codes), shaped ``(N, C)`` or ``(N, 1, 1, C)``; the layer has no weights.
    """

    def __init__(
        self,
        axis: int = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale

    def call(self, inputs: list) -> Any:
        x, beta, gamma = inputs
        rank = len(x.shape)
        keep = _axis(self.axis, rank)
        reduce = tuple(i for i in range(1, rank) if i != keep)
        mean = ops.mean(x, axis=reduce, keepdims=True)
        std = ops.std(x, axis=reduce, keepdims=True)
        normed = (x - mean) / (std + self.epsilon)

        def expand(value: Any) -> Any:
            while len(value.shape) < rank:
                value = ops.expand_dims(value, 1)
            return value

        if self.scale:
            normed = normed * expand(gamma)
        if self.center:
            normed = normed + expand(beta)
        return normed

    def compute_output_shape(self, input_shape: list) -> tuple:
        return input_shape[0]

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
        }


@keras.saving.register_keras_serializable(package="fs")
class GroupNormalization(keras.layers.Layer):
    """Group norm over channels-last images: channels split into ``group`` groups, each normalized
    over (H, W, channels-in-group) with ``(x - mean) / sqrt(var + epsilon)``; per-channel
    gamma/beta.
    """

    def __init__(
        self,
        axis: int = -1,
        group: int = 32,
        epsilon: float = 1e-6,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.axis = axis
        self.group = int(group)
        self.epsilon = float(epsilon)
        self.beta_initializer = keras.initializers.get(beta_initializer)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)

    def build(self, input_shape: tuple) -> None:
        channels = input_shape[self.axis]
        if channels % self.group:
            raise ValueError(
                f"{self.name}: {channels} channels do not split into {self.group} groups"
            )
        self.gamma = self.add_weight(
            shape=(channels,), name="gamma", initializer=self.gamma_initializer
        )
        self.beta = self.add_weight(
            shape=(channels,), name="beta", initializer=self.beta_initializer
        )

    def call(self, inputs: Any) -> Any:
        if _axis(self.axis, len(inputs.shape)) != len(inputs.shape) - 1:
            raise ValueError(f"{self.name}: only channels-last (axis -1) is supported")
        shape = ops.shape(inputs)
        channels = inputs.shape[-1]
        grouped = ops.reshape(inputs, (-1, shape[1], shape[2], self.group, channels // self.group))
        mean = ops.mean(grouped, axis=(1, 2, 4), keepdims=True)
        var = ops.var(grouped, axis=(1, 2, 4), keepdims=True)
        normed = (grouped - mean) / ops.sqrt(var + self.epsilon)
        normed = ops.reshape(normed, (-1, shape[1], shape[2], channels))
        return normed * self.gamma + self.beta

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "axis": self.axis,
            "group": self.group,
            "epsilon": self.epsilon,
            "beta_initializer": keras.initializers.serialize(self.beta_initializer),
            "gamma_initializer": keras.initializers.serialize(self.gamma_initializer),
        }


@keras.saving.register_keras_serializable(package="fs")
class RMSNormalization(keras.layers.Layer):
    """Root-mean-square norm (Zhang & Sennrich 2019) over the last axis:
    ``scale * x * rsqrt(mean(x²) + eps) [+ offset]``.

    The epsilon sits inside the root, as in faceswap's lib/model/normalization.py, so a near-zero
    input is scaled by at most ``1/sqrt(eps)`` rather than ``1/eps``. ``partial`` in (0, 1)
    estimates the mean square from the first ``int(channels * partial)`` channels only (pRMSNorm;
    at least one, where faceswap would average over none); ``bias`` adds a learned offset. No mean
    is subtracted.
    """

    def __init__(
        self,
        axis: int = -1,
        epsilon: float = 1e-8,
        partial: float = 0.0,
        bias: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= partial <= 1.0:
            raise ValueError(f"partial must be between 0 and 1, got {partial}")
        self.axis = axis
        self.epsilon = float(epsilon)
        self.partial = float(partial)
        self.bias = bias
        self.offset = None

    def build(self, input_shape: tuple) -> None:
        channels = input_shape[self.axis]
        self.scale = self.add_weight(shape=(channels,), name="scale", initializer="ones")
        if self.bias:
            self.offset = self.add_weight(shape=(channels,), name="offset", initializer="zeros")

    def call(self, inputs: Any) -> Any:
        if _axis(self.axis, len(inputs.shape)) != len(inputs.shape) - 1:
            raise ValueError(f"{self.name}: only the last axis is supported")
        channels = inputs.shape[-1]
        used = inputs
        if 0.0 < self.partial < 1.0:
            used = inputs[..., : max(int(channels * self.partial), 1)]
        mean_square = ops.mean(ops.square(used), axis=-1, keepdims=True)
        out = self.scale * inputs * ops.rsqrt(mean_square + self.epsilon)
        if self.offset is not None:
            out = out + self.offset
        return out

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "partial": self.partial,
            "bias": self.bias,
        }
