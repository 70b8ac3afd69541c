"""The built-in initializers keep the properties they exist for (faceswap's
lib/model/initializers.py)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from fs_core.builtins import initializers as init_mod
from fs_core.builtins.initializers import ICNR, ConvolutionAware, conv_aware_kernel, fs_initializers
from fs_core.model.context import BuildContext


def _registry():
    return {d.name: d for d in fs_initializers()}


def test_registry_names_and_wraps():
    reg = _registry()
    assert set(reg) == {"he_uniform", "icnr", "conv_aware"}
    assert reg["icnr"].wraps and not reg["conv_aware"].wraps
    assert isinstance(reg["he_uniform"].make(), keras.initializers.HeUniform)


@pytest.mark.parametrize("base", [keras.initializers.HeUniform(seed=3), ConvolutionAware(seed=4)])
def test_icnr_conv_then_depth_to_space_is_nearest_upsampling(base):
    k, cin = 3, 2
    kernel = ICNR(initializer=base, scale=2)((3, 3, cin, 4 * k))
    kernel = np.asarray(kernel)
    base_kernel = kernel[..., :k]
    # every group of k output channels holds the same kernels, and not all channels are equal
    for j in range(4 * k):
        np.testing.assert_array_equal(kernel[..., j], base_kernel[..., j % k])
    assert not np.allclose(base_kernel[..., 0], base_kernel[..., 1])

    x = tf.random.stateless_normal((2, 8, 8, cin), seed=(1, 2))
    shuffled = tf.nn.depth_to_space(tf.nn.conv2d(x, kernel, 1, "SAME"), 2)
    low = tf.nn.conv2d(x, base_kernel, 1, "SAME")
    nearest = tf.image.resize(low, (16, 16), method="nearest")
    np.testing.assert_allclose(shuffled.numpy(), nearest.numpy(), atol=1e-5)


def test_icnr_scale_one_is_the_wrapped_initializer():
    base = keras.initializers.HeUniform(seed=1)
    assert _registry()["icnr"].make(initializer=base, scale=1) is base


def test_icnr_refuses_channels_not_divisible():
    with pytest.raises(ValueError, match="multiple of 4"):
        ICNR(scale=2)((3, 3, 2, 6))


def test_build_context_uses_registry():
    ctx = BuildContext(icnr_init=True, conv_aware_init=True, initializers=_registry())
    outer = ctx.kernel_initializer(is_upscale=True)
    assert isinstance(outer, ICNR) and isinstance(outer.initializer, ConvolutionAware)
    assert outer.scale == 2


def test_serialization_round_trip():
    icnr = ICNR(initializer=ConvolutionAware(eps_std=0.01, seed=5), scale=2)
    again = keras.initializers.deserialize(keras.initializers.serialize(icnr))
    assert isinstance(again, ICNR) and again.scale == 2
    assert isinstance(again.initializer, ConvolutionAware)
    assert again.initializer.eps_std == 0.01 and again.initializer.seed == 5
    np.testing.assert_array_equal(np.asarray(icnr((3, 3, 2, 8))), np.asarray(again((3, 3, 2, 8))))


@pytest.mark.parametrize(
    "shape", [(3, 3, 4, 8), (5, 5, 20, 6), (1, 1, 8, 4), (4, 3, 5), (3, 3, 3, 2, 4)]
)
@pytest.mark.parametrize("eps_std", [0.0, 0.05])
def test_conv_aware_variance_is_he(shape, eps_std):
    kernel = np.asarray(ConvolutionAware(eps_std=eps_std, seed=0)(shape))
    assert kernel.shape == shape and kernel.dtype == np.float32
    fan_in = np.prod(shape[:-1])
    assert np.var(kernel) == pytest.approx(2.0 / fan_in, rel=1e-4)


def _spectral_gram(kernel: np.ndarray, filt: int) -> np.ndarray:
    """Gram matrix, over input channels, of one filter's real-FFT coefficients."""
    spatial = tuple(range(kernel.ndim - 2))
    spectrum = np.fft.rfftn(kernel[..., filt], axes=spatial)
    rows = np.moveaxis(spectrum, -1, 0).reshape(kernel.shape[-2], -1)
    return rows.conj() @ rows.T


@pytest.mark.parametrize(
    "shape", [(1, 4, 3, 5), (2, 2, 3, 2), (2, 4, 6, 3), (5, 3, 4), (1, 2, 4, 3, 2)]
)
def test_conv_aware_channels_are_orthogonal_in_fourier_space(shape):
    """Where the real spectrum needs no Hermitian symmetrisation (spatial dims other than the last
    of size ≤ 2), the FFT of each filter gives back orthogonal, equal-norm rows, one per input
    channel."""
    kernel = conv_aware_kernel(shape, 0.0, np.random.default_rng(1))
    for filt in range(shape[-1]):
        gram = _spectral_gram(kernel, filt)
        assert np.abs(gram.imag).max() < 1e-9
        np.testing.assert_allclose(gram.real, gram.real[0, 0] * np.eye(shape[-2]), atol=1e-9)
    # filters differ from each other
    assert not np.allclose(kernel[..., 0], kernel[..., 1])


def test_conv_aware_orthogonal_per_block_when_channels_exceed_spectrum():
    shape = (2, 2, 6, 2)  # spectrum size S = 2·2 = 4: channels 0-3 one block, 4-5 the next
    kernel = conv_aware_kernel(shape, 0.0, np.random.default_rng(2))
    gram = _spectral_gram(kernel, 0).real
    scale = gram[0, 0]
    np.testing.assert_allclose(gram[:4, :4], scale * np.eye(4), atol=1e-9)
    np.testing.assert_allclose(gram[4:, 4:], scale * np.eye(2), atol=1e-9)


def test_conv_aware_coefficients_are_orthonormal_before_the_transform():
    """For any kernel size the spectral coefficients the construction draws are orthonormal."""
    rows = init_mod._orthogonal_rows(np.random.default_rng(3), 4, 5, 6, 0.05)  # 3x3: S = 3·2
    for filt in range(4):
        np.testing.assert_allclose(rows[filt] @ rows[filt].T, np.eye(5), atol=1e-9)


def test_conv_aware_noise_and_seed():
    quiet = conv_aware_kernel((3, 3, 4, 4), 0.0, np.random.default_rng(7))
    noisy = conv_aware_kernel((3, 3, 4, 4), 0.5, np.random.default_rng(7))
    assert not np.allclose(quiet, noisy)
    a, b = ConvolutionAware(seed=9)((3, 3, 2, 2)), ConvolutionAware(seed=9)((3, 3, 2, 2))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    keras.utils.set_random_seed(11)
    c = np.asarray(ConvolutionAware()((3, 3, 2, 2)))
    keras.utils.set_random_seed(11)
    np.testing.assert_array_equal(c, np.asarray(ConvolutionAware()((3, 3, 2, 2))))


def test_conv_aware_other_ranks_fall_back_to_orthogonal():
    matrix = np.asarray(ConvolutionAware(seed=1)((6, 6)))
    np.testing.assert_allclose(matrix.T @ matrix, np.eye(6), atol=1e-5)


def test_conv_aware_in_a_layer():
    layer = keras.layers.Conv2D(4, 3, kernel_initializer=ConvolutionAware(seed=0))
    out = layer(np.zeros((1, 8, 8, 3), np.float32))
    assert out.shape == (1, 6, 6, 4)
    assert np.var(layer.kernel.numpy()) == pytest.approx(2.0 / 27, rel=1e-4)
