"""The shared blocks and custom layers of the model pack, checked against faceswap's maths
(lib/model/nn_blocks.py, lib/model/layers.py, lib/model/normalization.py)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from fs_core.descriptors import InitializerDescriptor
from fs_core.model.context import BuildContext
from fs_plugins_models.blocks import (
    AdaInstanceNormalization,
    Conv2DBlock,
    Conv2DOutput,
    GlobalMinPooling2D,
    GlobalStdDevPooling2D,
    GroupNormalization,
    InstanceNormalization,
    KResizeImages,
    PixelShuffler,
    ReflectionPadding2D,
    ResidualBlock,
    RMSNormalization,
    SeparableConv2DBlock,
    Swish,
    Upscale2xBlock,
    UpscaleBlock,
    UpscaleDNYBlock,
    UpscaleResizeImagesBlock,
)

RNG = np.random.default_rng(3)


def rand(*shape: int) -> np.ndarray:
    return RNG.normal(size=shape).astype("float32")


def layer_named(model: keras.Model, name: str) -> keras.layers.Layer:
    return model.get_layer(name)


def test_pixel_shuffler_is_depth_to_space_dcr():
    x = rand(2, 3, 5, 4 * 6)
    np.testing.assert_allclose(PixelShuffler(2)(x), tf.nn.depth_to_space(x, 2), rtol=0, atol=0)
    x = rand(1, 2, 2, 9 * 2)
    np.testing.assert_allclose(PixelShuffler(3)(x), tf.nn.depth_to_space(x, 3))
    # channel (i*r + j)*C + c lands at sub-pixel (i, j) of channel c
    out = np.asarray(PixelShuffler(2)(x[:, :, :, :8]))
    assert out[0, 1, 0, 1] == x[0, 0, 0, (1 * 2 + 0) * 2 + 1]


def test_reflection_padding_amounts_and_values():
    x = np.arange(8 * 8, dtype="float32").reshape(1, 8, 8, 1)
    padded = np.asarray(ReflectionPadding2D(2, 5)(x))
    assert padded.shape == (1, 11, 11, 1)  # total 3 = 1 before, 2 after
    np.testing.assert_array_equal(padded[0, 1:9, 1:9, 0], x[0, :, :, 0])
    np.testing.assert_array_equal(padded[0, 0, 1:9, 0], x[0, 1, :, 0])  # reflect, edge not repeated
    np.testing.assert_array_equal(padded[0, 10, 1:9, 0], x[0, 5, :, 0])
    odd = ReflectionPadding2D(2, 5).compute_output_shape((None, 7, 7, 1))
    assert odd[1] == 7 + 4  # size % s = 1 -> total k - 1


def test_reflect_padding_keeps_the_same_sizes():
    for reflect in (False, True):
        ctx = BuildContext(reflect_padding=reflect)
        inputs = keras.Input((16, 16, 4))
        x = Conv2DBlock(ctx, 8, name="c")(inputs)
        x = ResidualBlock(ctx, 8, name="r")(x)
        model = keras.Model(inputs, x)
        assert tuple(model.output.shape) == (None, 8, 8, 8)
        assert any(isinstance(layer, ReflectionPadding2D) for layer in model.layers) == reflect


def test_instance_normalization_joint_scalar_affine():
    layer = InstanceNormalization()
    x = rand(2, 4, 4, 3) * 3 + 1
    out = np.asarray(layer(x))
    assert [tuple(w.shape) for w in layer.weights] == [(1,), (1,)]
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    std = x.std(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(out, (x - mean) / (std + 1e-3), rtol=1e-4, atol=1e-5)
    per_channel = InstanceNormalization(axis=-1)
    out = np.asarray(per_channel(x))
    assert tuple(per_channel.weights[0].shape) == (3,)
    mean, std = x.mean(axis=(1, 2), keepdims=True), x.std(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(out, (x - mean) / (std + 1e-3), rtol=1e-4, atol=1e-5)


def test_ada_instance_normalization():
    x, beta, gamma = rand(2, 4, 4, 3), rand(2, 3), rand(2, 3)
    out = np.asarray(AdaInstanceNormalization()([x, beta, gamma]))
    mean, std = x.mean(axis=(1, 2), keepdims=True), x.std(axis=(1, 2), keepdims=True)
    want = (x - mean) / (std + 1e-3) * gamma[:, None, None] + beta[:, None, None]
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)


def test_group_and_rms_normalization():
    x = rand(2, 3, 3, 8) * 2 + 0.5
    out = np.asarray(GroupNormalization(group=4)(x))
    grouped = x.reshape(2, 3, 3, 4, 2)
    mean = grouped.mean(axis=(1, 2, 4), keepdims=True)
    var = grouped.var(axis=(1, 2, 4), keepdims=True)
    np.testing.assert_allclose(
        out, ((grouped - mean) / np.sqrt(var + 1e-6)).reshape(x.shape), rtol=1e-4, atol=1e-5
    )
    out = np.asarray(RMSNormalization()(x))
    rms = np.sqrt((x**2).mean(axis=-1, keepdims=True))
    np.testing.assert_allclose(out, x / (rms + 1e-8), rtol=1e-5)
    out = np.asarray(RMSNormalization(partial=0.25)(x))
    rms = np.sqrt((x[..., :2] ** 2).mean(axis=-1, keepdims=True))
    np.testing.assert_allclose(out, x / (rms + 1e-8), rtol=1e-5)


def test_swish_resize_and_pooling():
    x = rand(2, 4, 4, 3)
    beta = 1.7
    np.testing.assert_allclose(Swish(beta)(x), beta * x / (1 + np.exp(-beta * x)), rtol=1e-5)
    assert KResizeImages(2, "bilinear")(x).shape == (2, 8, 8, 3)
    assert KResizeImages(0.5)(x).shape == (2, 2, 2, 3)
    np.testing.assert_allclose(GlobalMinPooling2D()(x), x.min(axis=(1, 2)))
    np.testing.assert_allclose(GlobalStdDevPooling2D()(x), x.std(axis=(1, 2)), rtol=1e-5)


def test_block_shapes_and_channels():
    ctx = BuildContext()
    inputs = keras.Input((8, 8, 16))
    shapes = {
        "up": UpscaleBlock(ctx, 12, name="up")(inputs),
        "up4": UpscaleBlock(ctx, 5, scale_factor=4, name="up4")(inputs),
        "hybrid": Upscale2xBlock(ctx, 12, name="hy")(inputs),
        "hybrid3": Upscale2xBlock(ctx, 10, sr_ratio=0.3, scale_factor=3, name="hy3")(inputs),
        "fast": Upscale2xBlock(ctx, 12, fast=True, name="fa")(inputs),
        "resize": UpscaleResizeImagesBlock(ctx, 6, name="rs")(inputs),
        "dny": UpscaleDNYBlock(ctx, 6, name="dny")(inputs),
        "sep": SeparableConv2DBlock(ctx, 6, name="sep")(inputs),
        "depthwise": Conv2DBlock(ctx, 16, use_depthwise=True, name="dw")(inputs),
    }
    got = {k: tuple(v.shape[1:]) for k, v in shapes.items()}
    assert got == {
        "up": (16, 16, 12),
        "up4": (32, 32, 5),
        "hybrid": (16, 16, 12),
        "hybrid3": (24, 24, 14),
        "fast": (16, 16, 12),
        "resize": (16, 16, 6),
        "dny": (16, 16, 6),
        "sep": (4, 4, 6),
        "depthwise": (4, 4, 16),
    }
    model = keras.Model(inputs, list(shapes.values()))
    assert layer_named(model, "up_conv2d").filters == 48
    assert layer_named(model, "hy_sr_conv2d").filters == 6 * 4  # f' = 12 - int(12 * 0.5)
    assert layer_named(model, "hy_conv2d").filters == 6
    assert (
        layer_named(model, "fa_sr_conv2d").filters == 48
        and layer_named(model, "fa_conv2d").filters == 12
    )
    assert layer_named(model, "rs_leakyrelu").negative_slope == pytest.approx(0.2)
    assert layer_named(model, "dny_conv0_leakyrelu").negative_slope == pytest.approx(0.2)
    transposed = layer_named(model, "rs_convtranspose").kernel_initializer
    assert isinstance(transposed, keras.initializers.GlorotUniform)


def test_conv2d_block_options():
    ctx = BuildContext()
    inputs = keras.Input((8, 8, 3))
    out = Conv2DBlock(ctx, 4, normalization="instance", activation="prelu", name="a")(inputs)
    out = Conv2DBlock(ctx, 4, 3, 1, normalization="batch", activation="swish", name="b")(out)
    out = Conv2DBlock(ctx, 4, activation=None, relu_alpha=0.3, name="c")(out)
    model = keras.Model(inputs, out)
    names = [layer.name for layer in model.layers[1:]]
    assert names == [
        "a_conv2d",
        "a_instancenorm",
        "a_prelu",
        "b_conv2d",
        "b_batchnorm",
        "b_swish",
        "c_conv2d",
    ]
    assert isinstance(model.get_layer("a_conv2d").kernel_initializer, keras.initializers.HeUniform)


def test_output_is_float32_sigmoid_even_under_mixed_precision():
    ctx = BuildContext()
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        inputs = keras.Input((8, 8, 4))
        out = Conv2DOutput(ctx, 3, 5, name="face_out")(inputs)
        model = keras.Model(inputs, out)
    finally:
        keras.config.set_dtype_policy(previous)
    assert model.get_layer("face_out_conv2d").compute_dtype == "float16"
    assert out.dtype == "float32"
    values = np.asarray(model(rand(1, 8, 8, 4) * 50))
    assert values.min() >= 0.0 and values.max() <= 1.0


def _fake_initializers(log: list) -> dict:
    def conv_aware(**kwargs):
        log.append(("conv_aware", kwargs))
        return keras.initializers.Orthogonal()

    def icnr(initializer, scale):
        log.append(("icnr", type(initializer).__name__, scale))
        return keras.initializers.Constant(0.5)

    return {
        "conv_aware": InitializerDescriptor(name="conv_aware", make=conv_aware),
        "icnr": InitializerDescriptor(name="icnr", make=icnr, wraps=True),
    }


def test_initializer_resolution_through_the_context():
    log: list = []
    ctx = BuildContext(icnr_init=True, initializers=_fake_initializers(log))
    inputs = keras.Input((4, 4, 8))
    x = Conv2DBlock(ctx, 8, name="plain")(inputs)
    x = UpscaleBlock(
        ctx, 8, kernel_initializer=keras.initializers.RandomNormal(0, 0.02), name="up"
    )(x)
    x = ResidualBlock(ctx, 8, name="res")(x)
    model = keras.Model(inputs, x)
    assert isinstance(
        model.get_layer("plain_conv2d").kernel_initializer, keras.initializers.HeUniform
    )
    assert isinstance(model.get_layer("up_conv2d").kernel_initializer, keras.initializers.Constant)
    assert log == [("icnr", "RandomNormal", 2)]
    second = model.get_layer("res_conv2d1").kernel_initializer
    assert isinstance(second, keras.initializers.VarianceScaling)
    assert second.get_config()["scale"] == pytest.approx(0.2)
    assert (
        second.get_config()["mode"] == "fan_in" and second.get_config()["distribution"] == "uniform"
    )

    aware = BuildContext(conv_aware_init=True, initializers=_fake_initializers(log))
    inputs = keras.Input((4, 4, 8))
    model = keras.Model(inputs, ResidualBlock(aware, 8, name="res")(inputs))
    for name in ("res_conv2d0", "res_conv2d1"):
        assert isinstance(model.get_layer(name).kernel_initializer, keras.initializers.Orthogonal)


def test_a_shared_initializer_instance_gives_different_kernels():
    ctx = BuildContext()
    init = keras.initializers.RandomNormal(0.0, 0.02)
    inputs = keras.Input((8, 8, 4))
    x = Conv2DBlock(ctx, 4, 3, 1, kernel_initializer=init, name="a")(inputs)
    x = Conv2DBlock(ctx, 4, 3, 1, kernel_initializer=init, name="b")(x)
    model = keras.Model(inputs, x)
    first, second = (model.get_layer(n).kernel.numpy() for n in ("a_conv2d", "b_conv2d"))
    assert not np.allclose(first, second)
    assert 0.01 < first.std() < 0.03


def test_residual_block_adds_its_input():
    ctx = BuildContext()
    inputs = keras.Input((6, 6, 4))
    model = keras.Model(inputs, ResidualBlock(ctx, 4, name="r")(inputs))
    for layer in (model.get_layer("r_conv2d0"), model.get_layer("r_conv2d1")):
        layer.kernel.assign(np.zeros(layer.kernel.shape, "float32"))
    x = rand(1, 6, 6, 4)
    np.testing.assert_allclose(model(x), np.where(x > 0, x, 0.2 * x), rtol=1e-6)


def test_custom_layers_survive_a_keras_save(tmp_path):
    inputs = keras.Input((8, 8, 8))
    x = ReflectionPadding2D(1, 3)(inputs)
    x = keras.layers.Conv2D(8, 3)(x)
    x = InstanceNormalization()(x)
    x = GroupNormalization(group=4)(x)
    x = RMSNormalization(partial=0.5, bias=True)(x)
    x = Swish(1.5)(x)
    x = PixelShuffler(2)(x)
    x = KResizeImages(0.5, "bilinear")(x)
    x = AdaInstanceNormalization()([x, GlobalMinPooling2D()(x), GlobalStdDevPooling2D()(x)])
    model = keras.Model(inputs, x)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    sample = rand(2, 8, 8, 8)
    np.testing.assert_allclose(loaded(sample), model(sample), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "size,kernel,strides,padding",
    [
        ((8, 8), 5, 2, "same"),
        ((4, 4), 3, 1, "same"),
        ((7, 5), 3, 2, "same"),
        ((6, 6), 3, 1, "valid"),
        ((9, 9), (3, 5), (2, 1), "same"),
        ((5, 4), 2, 2, "same"),
    ],
)
def test_matmul_convolution_equals_keras_conv2d_with_gradients(
    size, kernel, strides, padding, monkeypatch
):
    """The small-map matrix path gives Keras' outputs and gradients (to float rounding)."""
    from fs_plugins_models.layers import Conv2D

    monkeypatch.setattr(Conv2D, "matmul_max_pixels", 10**6)
    x = tf.constant(rand(3, *size, 6))
    reference = keras.layers.Conv2D(4, kernel, strides=strides, padding=padding)
    reference.build(x.shape)
    ours = Conv2D(4, kernel, strides=strides, padding=padding)
    ours.build(x.shape)
    ours.set_weights(reference.get_weights())
    assert ours._patches is not None  # the matrix path is the one under test
    results = []
    for layer in (reference, ours):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * tf.cos(y))
        results.append([y, *tape.gradient(loss, [x, *layer.trainable_variables])])
    for theirs, mine in zip(*results):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-5)


def test_matmul_convolution_only_for_small_output_maps():
    from fs_plugins_models.layers import Conv2D

    small, large = Conv2D(8, 5, strides=2, padding="same"), Conv2D(8, 3, padding="same")
    small.build((None, 8, 8, 4))  # 4x4 output: 16 pixels
    large.build((None, 8, 8, 4))  # 8x8 output: Keras' convolution
    assert small._patches is not None and large._patches is None
    dilated = Conv2D(8, 3, dilation_rate=2, padding="same")
    dilated.build((None, 4, 4, 4))
    assert dilated._patches is None
