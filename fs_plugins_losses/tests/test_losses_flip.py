"""LDR-FLIP against a NumPy version written from the paper (Andersson et al. 2020), plus its
behaviour: zero-ish on identical images, growing with noise, BGR handling, finite gradients."""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from fs_plugins_losses import flip

RNG = np.random.default_rng(3)
PPD = 0.7 * 3840 / 0.7 * math.pi / 180  # 0.7 m from a 0.7 m wide 4K screen
EPS = 1e-8
WHITE = np.array([0.950428545, 1.0, 1.088900371])
M = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)


def correlate_edge(image, kernel):
    radius = kernel.shape[0] // 2
    padded = np.pad(image, ((0, 0), (radius, radius), (radius, radius)), mode="edge")
    out = np.zeros_like(image)
    h, w = image.shape[1:]
    for i in range(kernel.shape[0]):
        for j in range(kernel.shape[1]):
            out += kernel[i, j] * padded[:, i : i + h, j : j + w]
    return out


def srgb_to_lin(x):
    return np.where(x > 0.04045, ((x + 0.055) / 1.055) ** 2.4, x / 12.92)


def lab_hunt(rgb):
    xyz = rgb @ M.T / WHITE
    d = 6 / 29
    f = np.where(xyz > d**3, np.cbrt(xyz), xyz / (3 * d * d) + 4 / 29)
    L = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return np.stack([L, L / 100 * a, L / 100 * b], -1)


def hyab(x, y):
    d = x - y
    return np.sqrt(np.maximum(d[..., 0] ** 2, EPS)) + np.sqrt(d[..., 1] ** 2 + d[..., 2] ** 2 + EPS)


def csf(a1, b1, a2, b2, radius):
    c = np.arange(-radius, radius + 1) / PPD
    xx, yy = np.meshgrid(c, c)
    r2 = xx**2 + yy**2
    g = a1 * np.sqrt(np.pi / b1) * np.exp(-(np.pi**2) * r2 / b1) + a2 * np.sqrt(
        np.pi / b2
    ) * np.exp(-(np.pi**2) * r2 / b2)
    return g / g.sum()


def detector(kind):
    sd = 0.5 * 0.082 * PPD
    r = math.ceil(3 * sd)
    xx, yy = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1))
    g = np.exp(-(xx**2 + yy**2) / (2 * sd * sd))
    k = -xx * g if kind == "edge" else (xx**2 / sd**2 - 1) * g
    return np.where(k > 0, k / k[k > 0].sum(), k / -k[k < 0].sum())


def np_flip(reference_rgb, test_rgb):
    radius = math.ceil(3 * math.sqrt(0.04 / (2 * math.pi**2)) * PPD)
    kernels = [
        csf(1, 0.0047, 0, 1e-5, radius),
        csf(1, 0.0053, 0, 1e-5, radius),
        csf(34.1, 0.04, 13.5, 0.025, radius),
    ]

    def prepare(rgb):
        xyz = srgb_to_lin(rgb) @ M.T / WHITE
        opp = np.stack(
            [
                116 * xyz[..., 1] - 16,
                500 * (xyz[..., 0] - xyz[..., 1]),
                200 * (xyz[..., 1] - xyz[..., 2]),
            ],
            -1,
        )
        filt = np.stack([correlate_edge(opp[..., c], kernels[c]) for c in range(3)], -1)
        y = (filt[..., 0] + 16) / 116
        back = np.stack([y + filt[..., 1] / 500, y, y - filt[..., 2] / 200], -1) * WHITE
        lin = np.clip(back @ np.linalg.inv(M).T, 0, 1)
        ach = (opp[..., 0] + 16) / 116
        feats = {}
        for kind in ("edge", "point"):
            k = detector(kind)
            fx, fy = correlate_edge(ach, k), correlate_edge(ach, k.T)
            feats[kind] = np.sqrt(fx**2 + fy**2 + EPS)
        return lab_hunt(lin), feats

    lab_r, f_r = prepare(reference_rgb)
    lab_t, f_t = prepare(test_rgb)
    c_max = hyab(lab_hunt(np.array([0.0, 1, 0])), lab_hunt(np.array([0.0, 0, 1]))) ** 0.7
    power = hyab(lab_r, lab_t) ** 0.7
    knee = 0.4 * c_max
    color = np.where(
        power < knee, 0.95 / knee * power, 0.95 + (power - knee) / (c_max - knee) * 0.05
    )
    feature = np.maximum(np.abs(f_r["edge"] - f_t["edge"]), np.abs(f_r["point"] - f_t["point"]))
    feature = np.maximum(feature / np.sqrt(2), EPS) ** 0.5
    return (color ** (1 - feature))[..., None]


def _pair(size=24, noise=0.05):
    true = RNG.random((2, size, size, 3))
    pred = np.clip(true + RNG.normal(0, noise, true.shape), 0, 1)
    return true, pred


def test_flip_matches_numpy_rgb():
    true, pred = _pair()
    ours = flip.make_flip("rgb")(true.astype(np.float32), pred.astype(np.float32)).numpy()
    assert ours.shape == (2, 24, 24, 1)
    np.testing.assert_allclose(ours, np_flip(true, pred), atol=1e-4)


def test_flip_reads_bgr_by_default():
    true, pred = _pair()
    bgr = flip.make_flip("bgr")(
        true[..., ::-1].astype(np.float32), pred[..., ::-1].astype(np.float32)
    ).numpy()
    rgb = flip.make_flip("rgb")(true.astype(np.float32), pred.astype(np.float32)).numpy()
    np.testing.assert_allclose(bgr, rgb, atol=1e-6)


def test_flip_c_max_is_the_green_blue_distance():
    expected = hyab(lab_hunt(np.array([0.0, 1, 0])), lab_hunt(np.array([0.0, 0, 1]))) ** 0.7
    assert abs(flip.make_flip().c_max - expected) < 1e-6


def test_flip_identical_images_near_zero_and_gradients_finite():
    true, _ = _pair(16)
    image = tf.Variable(true.astype(np.float32))
    with tf.GradientTape() as tape:
        value = tf.reduce_mean(flip.make_flip()(true.astype(np.float32), image))
    assert float(value) < 1e-3
    assert np.isfinite(tape.gradient(value, image).numpy()).all()


def test_separable_filters_equal_the_2d_kernels():
    factors, channels = flip.csf_separable()
    full = flip.csf_kernels()
    assert full.shape[0] == 2 * math.ceil(3 * math.sqrt(0.04 / (2 * math.pi**2)) * PPD) + 1
    for channel in range(3):
        rebuilt = sum(
            np.outer(factors[:, i], factors[:, i]) for i, c in enumerate(channels) if c == channel
        )
        np.testing.assert_allclose(rebuilt, full[..., channel], atol=1e-7)
    along_w, along_h = flip.feature_separable()
    edge, point = detector("edge"), detector("point")
    for index, kernel in enumerate((edge, edge.T, point, point.T)):
        np.testing.assert_allclose(
            np.outer(along_h[:, index], along_w[:, index]), kernel, atol=1e-7
        )
