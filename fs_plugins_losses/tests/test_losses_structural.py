"""Structural losses against tf.image and small NumPy versions written from the published maths.

ssim: the loss pads by reflection (full-size map) while ``tf.image.ssim`` uses VALID windows, so the
mean of our SSIM map over the interior (5 px from each edge, where no padded pixel enters an
11 px window) must equal ``tf.image.ssim`` to float32 rounding (1e-5); near the borders they differ
by design. ms_ssim: ``tf.image.ssim_multiscale`` multiplies per-scale *means*, our loss multiplies
per-scale *maps*; the per-scale maps (VALID windows) are checked exactly against it, and the loss
only approximately (same window, 64 px, noise whose statistics are the same everywhere).
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from fs_core.errors import FsUserError
from fs_plugins_losses import ffl, gmsd, gradient, laploss, ssim

RNG = np.random.default_rng(7)


def _pair(size: int = 32, noise: float = 0.1, batch: int = 2):
    base = RNG.random((batch, size // 4, size // 4, 3))
    true = np.kron(base, np.ones((1, 4, 4, 1)))  # blocky images: real edges and flat areas
    pred = np.clip(true + RNG.normal(0, noise, true.shape), 0, 1)
    return true.astype(np.float32), pred.astype(np.float32)


def np_correlate(image: np.ndarray, kernel: np.ndarray, mode: str) -> np.ndarray:
    """Same-size 2-D correlation of every channel; mode is np.pad's ('edge', 'reflect')."""
    radius = kernel.shape[0] // 2
    padded = np.pad(image, ((0, 0), (radius, radius), (radius, radius), (0, 0)), mode=mode)
    out = np.zeros_like(image, dtype=np.float64)
    height, width = image.shape[1:3]
    for i in range(kernel.shape[0]):
        for j in range(kernel.shape[1]):
            out += kernel[i, j] * padded[:, i : i + height, j : j + width, :]
    return out


def np_gaussian(size: int, sigma: float) -> np.ndarray:
    coords = np.arange(size) - (size - 1) / 2
    xx, yy = np.meshgrid(coords, coords)
    g = np.exp(-(xx**2 + yy**2) / (2 * sigma**2))
    return g / g.sum()


def np_resize_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Half-pixel-centre bilinear resize (the convention of torch align_corners=False)."""

    def axis_weights(n_in, n_out):
        src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        low = np.floor(src).astype(int)
        high = np.minimum(low + 1, n_in - 1)
        return low, high, src - low

    y0, y1, fy = axis_weights(image.shape[1], height)
    x0, x1, fx = axis_weights(image.shape[2], width)
    rows = image[:, y0] * (1 - fy)[None, :, None, None] + image[:, y1] * fy[None, :, None, None]
    return rows[:, :, x0] * (1 - fx)[None, None, :, None] + rows[:, :, x1] * fx[None, None, :, None]


def np_generalized(d: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    shape = abs(2 - alpha)
    return beta * shape / alpha * (((d / beta) ** 2 / shape + 1) ** (alpha / 2) - 1)


# ---------------------------------------------------------------- ssim / ms_ssim


def test_ssim_interior_matches_tf_image_ssim():
    true, pred = _pair(48)
    loss_map = ssim.ssim(true, pred).numpy()
    assert loss_map.shape == true.shape
    interior = 1.0 - loss_map[:, 5:-5, 5:-5, :].mean(axis=(1, 2, 3))
    np.testing.assert_allclose(interior, tf.image.ssim(true, pred, 1.0).numpy(), atol=1e-5)


def test_ssim_map_matches_numpy_with_reflect_padding():
    true, pred = _pair(32)
    g = np_gaussian(11, 1.5)
    t, p = true.astype(np.float64), pred.astype(np.float64)
    blur = lambda x: np_correlate(x, g, "reflect")  # noqa: E731
    mt, mp = blur(t), blur(p)
    lum = (2 * mt * mp + 1e-4) / (mt**2 + mp**2 + 1e-4)
    cs = (2 * (blur(t * p) - mt * mp) + 9e-4) / (
        np.maximum(blur(t * t) + blur(p * p) - mt**2 - mp**2, 0) + 9e-4
    )
    # float32 loses ~1e-5 in E[x²] - μ², amplified by the small constant 9e-4 in flat areas
    np.testing.assert_allclose(ssim.ssim(true, pred).numpy(), 1 - lum * cs, atol=2e-4)


def test_ms_ssim_scales_match_tf_image_ssim_multiscale():
    true, pred = _pair(64)
    # at 64 px the coarsest scale is 4 px, so both use a 3 px window
    assert ssim.ms_ssim_kernel_size(64, 64) == 3
    maps = ssim.ms_ssim_scales(true, pred, kernel_size=3, padding="valid")
    means = [np.maximum(m.numpy().mean(axis=(1, 2)), 0) for m in maps]
    ours = np.prod([m**w for m, w in zip(means, ssim.POWER_FACTORS)], axis=0).mean(axis=-1)
    reference = tf.image.ssim_multiscale(true, pred, 1.0, filter_size=3).numpy()
    np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_ms_ssim_loss_close_to_tf_on_uniform_noise():
    true = RNG.random((2, 64, 64, 3)).astype(np.float32)
    pred = np.clip(true + RNG.normal(0, 0.05, true.shape), 0, 1).astype(np.float32)
    loss_map = ssim.ms_ssim(true, pred).numpy()
    assert loss_map.shape == true.shape
    reference = tf.image.ssim_multiscale(true, pred, 1.0, filter_size=3).numpy()
    np.testing.assert_allclose(1 - loss_map.mean(axis=(1, 2, 3)), reference, atol=0.02)


@pytest.mark.parametrize(
    "size, kernel", [(176, 11), (256, 11), (128, 7), (96, 5), (64, 3), (48, 3)]
)
def test_ms_ssim_window_shrinks_to_fit_the_coarsest_scale(size, kernel):
    assert ssim.ms_ssim_kernel_size(size, size) == kernel


def test_ms_ssim_refuses_too_small_outputs():
    true, pred = _pair(32)
    with pytest.raises(FsUserError, match=r"ms_ssim.*48 px"):
        ssim.ms_ssim(true, pred)


# ---------------------------------------------------------------- gmsd


def test_gmsd_matches_numpy():
    true, pred = _pair(32)
    outer = [0.0007, 0.0052, 0.0370, 0.0052, 0.0007]
    inner = [0.0037, 0.1187, 0.2589, 0.1187, 0.0037]
    k_y = np.array([outer, inner, [0] * 5, [-v for v in inner], [-v for v in outer]])
    sims = []
    for kernel in (k_y, k_y.T):
        et = np_correlate(true.astype(np.float64), kernel, "reflect")
        ep = np_correlate(pred.astype(np.float64), kernel, "reflect")
        sims.append((2 * et * ep + 0.0025) / (et**2 + ep**2 + 0.0025))
    expected = 1 - (sims[0] + sims[1]) / 2
    np.testing.assert_allclose(gmsd.gmsd(true, pred).numpy(), expected, atol=1e-5)


# ---------------------------------------------------------------- laploss


def test_laploss_matches_numpy():
    true, pred = _pair(32)
    g = np_gaussian(5, 1.0)

    def pyramid(x):
        bands = []
        for _ in range(5):
            blurred = np_correlate(x, g, "edge")
            bands.append(x - blurred)
            n, h, w, c = blurred.shape
            x = blurred.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))
        return bands + [x]

    expected = sum(
        4.0**-i * np_resize_bilinear(np.abs(bp - bt), 32, 32)
        for i, (bt, bp) in enumerate(
            zip(pyramid(true.astype(np.float64)), pyramid(pred.astype(np.float64)))
        )
    )
    np.testing.assert_allclose(laploss.laploss(true, pred).numpy(), expected, atol=1e-5)


# ---------------------------------------------------------------- ffl


def test_ffl_matches_numpy():
    true, pred = _pair(32)
    ft = np.fft.fft2(true.astype(np.float64), axes=(1, 2), norm="ortho")
    fp = np.fft.fft2(pred.astype(np.float64), axes=(1, 2), norm="ortho")
    distance = np.abs(fp - ft) ** 2
    weight = np.sqrt(distance)
    weight = np.clip(weight / np.maximum(weight.max(axis=(1, 2), keepdims=True), 1e-6), 0, 1)
    np.testing.assert_allclose(ffl.ffl(true, pred).numpy(), weight * distance, rtol=1e-3, atol=1e-7)


def test_ffl_weight_is_constant_for_the_gradient():
    true, pred = _pair(16)
    pred_var = tf.Variable(pred)
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(ffl.ffl(true, pred_var))
    grad = tape.gradient(value, pred_var).numpy()
    # with w constant, d/dp sum(w·|F_p - F_t|²) = 2·Re(F*(w·(F_p - F_t))) (orthonormal, real input)
    ft = np.fft.fft2(true.astype(np.float64), axes=(1, 2), norm="ortho")
    fp = np.fft.fft2(pred.astype(np.float64), axes=(1, 2), norm="ortho")
    w = np.abs(fp - ft)
    w = w / w.max(axis=(1, 2), keepdims=True)
    expected = 2 * np.real(np.fft.ifft2(w * (fp - ft), axes=(1, 2), norm="ortho"))
    np.testing.assert_allclose(grad, expected, rtol=1e-3, atol=1e-6)


# ---------------------------------------------------------------- pixel_gradient_diff


def test_pixel_gradient_diff_matches_numpy():
    true, pred = _pair(16)

    def derivatives(x):
        p = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
        c = p[:, 1:-1, 1:-1]
        return {
            "dx": (p[:, 1:-1, 2:] - p[:, 1:-1, :-2]) / 2,
            "dy": (p[:, 2:, 1:-1] - p[:, :-2, 1:-1]) / 2,
            "dxx": p[:, 1:-1, 2:] + p[:, 1:-1, :-2] - 2 * c,
            "dyy": p[:, 2:, 1:-1] + p[:, :-2, 1:-1] - 2 * c,
            "dxy": (p[:, 2:, 2:] + p[:, :-2, :-2] - p[:, :-2, 2:] - p[:, 2:, :-2]) / 4,
        }

    dt, dp = derivatives(true), derivatives(pred)
    term = {k: np_generalized(dp[k] - dt[k], 1.9999, 1 / 255) for k in dt}
    expected = ((term["dx"] + term["dy"]) + (term["dxx"] + term["dyy"] + 2 * term["dxy"])) / 2
    np.testing.assert_allclose(
        gradient.pixel_gradient_diff(true, pred).numpy(), expected, rtol=1e-3, atol=1e-7
    )


def test_first_derivative_is_one_sided_at_the_border():
    ramp = np.tile(np.array([0.0, 1.0, 4.0, 9.0], np.float32)[None, None, :, None], (1, 2, 1, 1))
    dx = gradient.derivatives(tf.constant(ramp))["dx"].numpy()[0, 0, :, 0]
    np.testing.assert_allclose(dx, [0.5, 2.0, 4.0, 2.5])
