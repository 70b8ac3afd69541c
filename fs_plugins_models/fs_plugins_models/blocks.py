"""The shared building blocks of every architecture, in Keras 3 functional style.

They mirror faceswap's ``lib/model/nn_blocks.py`` (and its custom layers in ``lib/model/layers.py``)
so that each architecture has the same layers, in the same order, as in faceswap.

A block is a small callable object: configure it, then call it on a tensor to get a tensor back::

    x = Conv2DBlock(context, 128, name="conv1")(inputs)
    x = UpscaleBlock(context, 256, name="up1")(x)

Blocks are attrs classes: their fields are the constructor's arguments, in order, and
``conv_options`` (a dict) holds extra keyword arguments for their convolution layers, e.g.
``Conv2DBlock(context, 64, conv_options={"use_bias": False})``.

Every block takes the :class:`fs_core.model.context.BuildContext` first, because the global
switches live there: the kernel initializer of each faceswap convolution is resolved through
``context.kernel_initializer(requested, is_upscale)`` (conv-aware overrides, He-uniform by default,
ICNR around upscale convolutions) and ``context.reflect_padding`` swaps zero padding for reflection.

**Names.** Weights are saved by their path inside each part (``conv1_conv2d/kernel``), so a model
must get the same paths every time it is built. Keras' automatic names count up across builds in
one process, so models pass ``name=`` to every block; the block names its layers ``<name>_<role>``.
``name=None`` falls back to Keras' automatic names (fine for throw-away experiments only).

The custom layers (:mod:`.layers`, :mod:`.normalization`) are re-exported here so model code needs
one import.
"""

from __future__ import annotations

from typing import Any

import attrs
import keras

from fs_core.model.context import BuildContext
from fs_plugins_models.layers import (
    Conv2D,
    GlobalMinPooling2D,
    GlobalStdDevPooling2D,
    KResizeImages,
    PixelShuffler,
    ReflectionPadding2D,
    Swish,
)
from fs_plugins_models.normalization import (
    AdaInstanceNormalization,
    GroupNormalization,
    InstanceNormalization,
    RMSNormalization,
)

__all__ = [
    "AdaInstanceNormalization",
    "Conv2D",
    "Conv2DBlock",
    "Conv2DOutput",
    "GlobalMinPooling2D",
    "GlobalStdDevPooling2D",
    "GroupNormalization",
    "InstanceNormalization",
    "KResizeImages",
    "PixelShuffler",
    "RMSNormalization",
    "ReflectionPadding2D",
    "ResidualBlock",
    "SeparableConv2DBlock",
    "Swish",
    "Upscale2xBlock",
    "UpscaleBlock",
    "UpscaleDNYBlock",
    "UpscaleResizeImagesBlock",
    "activation_layer",
    "conv2d",
    "dense",
    "resolve_initializer",
    "sub_name",
]


def sub_name(name: str | None, role: str) -> str | None:
    """The name of a layer inside block ``name`` (None when the block is unnamed)."""
    return None if name is None else f"{name}_{role}"


def resolve_initializer(
    context: BuildContext,
    requested: str | keras.initializers.Initializer | None = None,
    is_upscale: bool = False,
) -> keras.initializers.Initializer:
    """The kernel initializer for one convolution, by the context's rule, on a fresh copy.

    A Keras 3 initializer *instance* returns the same values every time it is called, so one
    RandomNormal shared by several layers would give them identical kernels. Each convolution
    therefore gets its own copy (a new random seed when the original was unseeded).
    """
    if isinstance(requested, keras.initializers.Initializer):
        requested = type(requested).from_config(requested.get_config())
    return context.kernel_initializer(requested, is_upscale=is_upscale)


def conv2d(
    context: BuildContext,
    filters: int,
    kernel_size: int | tuple = 3,
    strides: int = 1,
    padding: str = "same",
    kernel_initializer: str | keras.initializers.Initializer | None = None,
    is_upscale: bool = False,
    name: str | None = None,
    **kwargs: Any,
) -> Conv2D:
    """A faceswap convolution: a :class:`Conv2D` whose kernel initializer follows faceswap's rule.

    See :meth:`fs_core.model.context.BuildContext.kernel_initializer`.
    """
    init = resolve_initializer(context, kernel_initializer, is_upscale)
    return Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        kernel_initializer=init,
        name=name,
        **kwargs,
    )


def dense(units: int, name: str | None = None, **kwargs: Any) -> keras.layers.Dense:
    """A Dense layer. Dense layers keep Keras' glorot-uniform default (they skip the conv rule)."""
    return keras.layers.Dense(units, name=name, **kwargs)


def activation_layer(
    activation: str | None, relu_alpha: float = 0.1, name: str | None = None
) -> keras.layers.Layer | None:
    """``"leakyrelu"`` (slope ``relu_alpha``), ``"swish"``, ``"prelu"``, ``"relu"`` or None."""
    if activation is None:
        return None
    if activation == "leakyrelu":
        return keras.layers.LeakyReLU(negative_slope=relu_alpha, name=name)
    if activation == "swish":
        return Swish(name=name)
    if activation == "prelu":
        return keras.layers.PReLU(name=name)
    if activation == "relu":
        return keras.layers.ReLU(name=name)
    raise ValueError(f"unknown activation {activation!r}")


def _activate(
    x: keras.KerasTensor, activation: str | None, relu_alpha: float, name: str | None
) -> keras.KerasTensor:
    layer = activation_layer(activation, relu_alpha, sub_name(name, activation or "linear"))
    return x if layer is None else layer(x)


def _normalize(
    x: keras.KerasTensor, normalization: str | None, name: str | None
) -> keras.KerasTensor:
    if normalization is None:
        return x
    if normalization == "instance":
        return InstanceNormalization(name=sub_name(name, "instancenorm"))(x)
    if normalization == "batch":
        return keras.layers.BatchNormalization(axis=3, name=sub_name(name, "batchnorm"))(x)
    if normalization == "group":
        return GroupNormalization(name=sub_name(name, "groupnorm"))(x)
    if normalization == "rms":
        return RMSNormalization(name=sub_name(name, "rmsnorm"))(x)
    raise ValueError(f"unknown normalization {normalization!r}")


@attrs.define
class Conv2DBlock:
    """[ReflectionPadding2D] → Conv2D (or DepthwiseConv2D) → [normalization] → [activation].

    ``normalization``: None, ``"instance"`` (faceswap InstanceNormalization), ``"batch"``,
    ``"group"`` or ``"rms"``. ``activation``: ``"leakyrelu"`` (slope ``relu_alpha``), ``"swish"``,
    ``"prelu"``, ``"relu"`` or None. With reflect padding on and ``padding="same"`` the input is
    reflect-padded and the convolution runs ``valid``, giving the same output size.
    ``conv_options`` go to the convolution (e.g. ``{"use_bias": False}``).
    """

    context: BuildContext
    filters: int
    kernel_size: int = 5
    strides: int = 2
    padding: str = "same"
    normalization: str | None = None
    activation: str | None = "leakyrelu"
    use_depthwise: bool = False
    relu_alpha: float = 0.1
    kernel_initializer: str | keras.initializers.Initializer | None = None
    is_upscale: bool = False
    name: str | None = None
    conv_options: dict = attrs.field(factory=dict)

    def __call__(self, inputs: keras.KerasTensor) -> keras.KerasTensor:
        x = inputs
        padding = self.padding
        if self.context.reflect_padding and padding == "same":
            x = ReflectionPadding2D(
                self.strides, self.kernel_size, name=sub_name(self.name, "reflectionpad")
            )(x)
            padding = "valid"
        init = resolve_initializer(self.context, self.kernel_initializer, self.is_upscale)
        if self.use_depthwise:
            conv = keras.layers.DepthwiseConv2D(
                self.kernel_size,
                strides=self.strides,
                padding=padding,
                depthwise_initializer=init,
                name=sub_name(self.name, "dwconv2d"),
                **self.conv_options,
            )
        else:
            conv = Conv2D(
                self.filters,
                self.kernel_size,
                strides=self.strides,
                padding=padding,
                kernel_initializer=init,
                name=sub_name(self.name, "conv2d"),
                **self.conv_options,
            )
        x = conv(x)
        x = _normalize(x, self.normalization, self.name)
        return _activate(x, self.activation, self.relu_alpha, self.name)


@attrs.define
class SeparableConv2DBlock:
    """SeparableConv2D (``same`` padding, the resolved initializer for both kernels) → ReLU."""

    context: BuildContext
    filters: int
    kernel_size: int = 5
    strides: int = 2
    kernel_initializer: str | keras.initializers.Initializer | None = None
    name: str | None = None
    conv_options: dict = attrs.field(factory=dict)

    def __call__(self, inputs: keras.KerasTensor) -> keras.KerasTensor:
        x = keras.layers.SeparableConv2D(
            self.filters,
            self.kernel_size,
            strides=self.strides,
            padding="same",
            depthwise_initializer=resolve_initializer(self.context, self.kernel_initializer),
            pointwise_initializer=resolve_initializer(self.context, self.kernel_initializer),
            name=sub_name(self.name, "sepconv2d"),
            **self.conv_options,
        )(inputs)
        return keras.layers.ReLU(name=sub_name(self.name, "relu"))(x)


@attrs.define
class Conv2DOutput:
    """An output head: Conv2D without activation, then an Activation layer forced to float32.

    The float32 activation keeps outputs (and so the losses) in full precision under mixed
    precision. The Activation layer carries ``name`` itself, so outputs are named e.g. ``face_out``.
    """

    context: BuildContext
    filters: int
    kernel_size: int = 5
    activation: str = "sigmoid"
    padding: str = "same"
    kernel_initializer: str | keras.initializers.Initializer | None = None
    name: str | None = None
    conv_options: dict = attrs.field(factory=dict)

    def __call__(self, inputs: keras.KerasTensor) -> keras.KerasTensor:
        x = conv2d(
            self.context,
            self.filters,
            self.kernel_size,
            padding=self.padding,
            kernel_initializer=self.kernel_initializer,
            name=sub_name(self.name, "conv2d"),
            **self.conv_options,
        )(inputs)
        return keras.layers.Activation(self.activation, dtype="float32", name=self.name)(x)


@attrs.define
class UpscaleBlock:
    """Sub-pixel upscale: Conv2DBlock(``filters * scale²``, stride 1, upscale init) → PixelShuffler.

    The activation (and normalization) runs before the shuffle, as in faceswap's ``UpscaleBlock``.
    """

    context: BuildContext
    filters: int
    kernel_size: int = 3
    padding: str = "same"
    scale_factor: int = 2
    normalization: str | None = None
    activation: str | None = "leakyrelu"
    relu_alpha: float = 0.1
    kernel_initializer: str | keras.initializers.Initializer | None = None
    name: str | None = None
    conv_options: dict = attrs.field(factory=dict)

    def __call__(self, inputs: keras.KerasTensor) -> keras.KerasTensor:
        x = Conv2DBlock(
            self.context,
            self.filters * self.scale_factor**2,
            self.kernel_size,
            strides=1,
            padding=self.padding,
            normalization=self.normalization,
            activation=self.activation,
            relu_alpha=self.relu_alpha,
            kernel_initializer=self.kernel_initializer,
            is_upscale=True,
            name=self.name,
            conv_options=self.conv_options,
        )(inputs)
        return PixelShuffler(self.scale_factor, name=sub_name(self.name, "pixelshuffler"))(x)


@attrs.define
class Upscale2xBlock:
    """Andenixa's hybrid/fast upscale: a sub-pixel branch plus a conv → interpolation branch.

    Hybrid (``fast=False``): ``f' = filters - int(filters * sr_ratio)``; UpscaleBlock(f') and
    [Conv2D(f') → UpSampling2D] are concatenated (``2f'`` channels). Fast: UpscaleBlock(filters)
    and [Conv2D(filters) → UpSampling2D] are added. Only the sub-pixel branch is activated.
    """

    context: BuildContext
    filters: int
    kernel_size: int = 3
    padding: str = "same"
    activation: str | None = "leakyrelu"
    interpolation: str = "bilinear"
    sr_ratio: float = 0.5
    scale_factor: int = 2
    fast: bool = False
    kernel_initializer: str | keras.initializers.Initializer | None = None
    name: str | None = None
    conv_options: dict = attrs.field(factory=dict)

    def __call__(self, inputs: keras.KerasTensor) -> keras.KerasTensor:
        branch_filters = (
            self.filters if self.fast else self.filters - int(self.filters * self.sr_ratio)
        )
        sub_pixel_only = branch_filters <= 0  # nothing left for the interpolation branch
        sub_pixel = UpscaleBlock(
            self.context,
            self.filters if sub_pixel_only else branch_filters,
            self.kernel_size,
            self.padding,
            self.scale_factor,
            activation=self.activation,
            kernel_initializer=self.kernel_initializer,
            name=sub_name(self.name, "sr"),
            conv_options=self.conv_options,
        )(inputs)
        if sub_pixel_only:
            return sub_pixel
        resized = conv2d(
            self.context,
            branch_filters,
            self.kernel_size,
            padding=self.padding,
            kernel_initializer=self.kernel_initializer,
            is_upscale=True,
            name=sub_name(self.name, "conv2d"),
            **self.conv_options,
        )(inputs)
        resized = keras.layers.UpSampling2D(
            self.scale_factor,
            interpolation=self.interpolation,
            name=sub_name(self.name, "upsampling"),
        )(resized)
        if self.fast:
            return keras.layers.Add(name=sub_name(self.name, "add"))([sub_pixel, resized])
        return keras.layers.Concatenate(name=sub_name(self.name, "concat"))([sub_pixel, resized])


@attrs.define
class UpscaleResizeImagesBlock:
    """[resize ×scale → Conv2D (upscale init)] + [Conv2DTranspose(3, stride 2)] → activation.

    The transposed convolution keeps Keras' default initializer (it is not a faceswap conv).
    ``"leakyrelu"`` here uses slope 0.2.
    """

    context: BuildContext
    filters: int
    kernel_size: int = 3
    padding: str = "same"
    activation: str | None = "leakyrelu"
    scale_factor: int = 2
    interpolation: str = "bilinear"
    kernel_initializer: str | keras.initializers.Initializer | None = None
    name: str | None = None

    def __call__(self, inputs: keras.KerasTensor) -> keras.KerasTensor:
        resized = KResizeImages(
            self.scale_factor, self.interpolation, name=sub_name(self.name, "resize")
        )(inputs)
        resized = conv2d(
            self.context,
            self.filters,
            self.kernel_size,
            padding=self.padding,
            kernel_initializer=self.kernel_initializer,
            is_upscale=True,
            name=sub_name(self.name, "conv2d"),
        )(resized)
        transposed = keras.layers.Conv2DTranspose(
            self.filters, 3, strides=2, padding="same", name=sub_name(self.name, "convtranspose")
        )(inputs)
        x = keras.layers.Add(name=sub_name(self.name, "add"))([resized, transposed])
        return _activate(x, self.activation, 0.2, self.name)


@attrs.define
class UpscaleDNYBlock:
    """UpSampling2D(size, interpolation) → 2 × Conv2DBlock(filters, stride 1,
    LReLU 0.2, upscale init)."""

    context: BuildContext
    filters: int
    kernel_size: int = 3
    padding: str = "same"
    activation: str | None = "leakyrelu"
    size: int = 2
    interpolation: str = "bilinear"
    kernel_initializer: str | keras.initializers.Initializer | None = None
    name: str | None = None
    conv_options: dict = attrs.field(factory=dict)

    def __call__(self, inputs: keras.KerasTensor) -> keras.KerasTensor:
        x = keras.layers.UpSampling2D(
            self.size, interpolation=self.interpolation, name=sub_name(self.name, "upsampling")
        )(inputs)
        for index in range(2):
            x = Conv2DBlock(
                self.context,
                self.filters,
                self.kernel_size,
                strides=1,
                padding=self.padding,
                activation=self.activation,
                relu_alpha=0.2,
                kernel_initializer=self.kernel_initializer,
                is_upscale=True,
                name=sub_name(self.name, f"conv{index}"),
                conv_options=self.conv_options,
            )(x)
        return x


@attrs.define
class ResidualBlock:
    """The dfaker residual: conv → LReLU(0.2) → conv (VarianceScaling 0.2) → add input → LReLU(0.2).

    The second convolution starts small (VarianceScaling(0.2, fan_in, uniform)) so the block begins
    close to identity; conv-aware init still overrides it. ``conv_options`` (``use_bias``)
    go to both convolutions. ``filters`` must equal the input's channels.
    """

    context: BuildContext
    filters: int
    kernel_size: int = 3
    padding: str = "same"
    kernel_initializer: str | keras.initializers.Initializer | None = None
    name: str | None = None
    conv_options: dict = attrs.field(factory=dict)

    def _conv(
        self,
        x: keras.KerasTensor,
        initializer: str | keras.initializers.Initializer | None,
        index: int,
    ) -> keras.KerasTensor:
        padding = self.padding
        if self.context.reflect_padding and padding == "same":
            x = ReflectionPadding2D(
                1, self.kernel_size, name=sub_name(self.name, f"reflectionpad{index}")
            )(x)
            padding = "valid"
        return conv2d(
            self.context,
            self.filters,
            self.kernel_size,
            padding=padding,
            kernel_initializer=initializer,
            name=sub_name(self.name, f"conv2d{index}"),
            **self.conv_options,
        )(x)

    def __call__(self, inputs: keras.KerasTensor) -> keras.KerasTensor:
        x = self._conv(inputs, self.kernel_initializer, 0)
        x = keras.layers.LeakyReLU(negative_slope=0.2, name=sub_name(self.name, "leakyrelu0"))(x)
        small = keras.initializers.VarianceScaling(scale=0.2, mode="fan_in", distribution="uniform")
        x = self._conv(x, small, 1)
        x = keras.layers.Add(name=sub_name(self.name, "add"))([x, inputs])
        return keras.layers.LeakyReLU(negative_slope=0.2, name=sub_name(self.name, "leakyrelu1"))(x)
