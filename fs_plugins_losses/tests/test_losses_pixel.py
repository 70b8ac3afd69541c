"""Pixel losses against NumPy, and what the pack registers (names, kinds, LPIPS left out)."""

from __future__ import annotations

import numpy as np
import pytest

from fs_plugins_losses import pixel
from fs_plugins_losses.plugin import LOSSES_NOT_PROVIDED, descriptors, fs_losses

RNG = np.random.default_rng(1)
TRUE = RNG.random((3, 16, 16, 3)).astype(np.float32)
PRED = RNG.random((3, 16, 16, 3)).astype(np.float32)
DIFF = PRED.astype(np.float64) - TRUE


@pytest.mark.parametrize(
    "function, expected",
    [
        (pixel.mae, np.abs(DIFF)),
        (pixel.mse, DIFF**2),
        (pixel.logcosh, np.log(np.cosh(DIFF))),
        # Barron, alpha 1, beta 1/255: beta * (sqrt((d/beta)^2 + 1) - 1)
        (pixel.smooth_loss, (1 / 255) * (np.sqrt((DIFF * 255) ** 2 + 1) - 1)),
    ],
)
def test_per_pixel_losses_match_numpy(function, expected):
    result = function(TRUE, PRED).numpy()
    assert result.shape == TRUE.shape
    np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-6)


def test_logcosh_is_stable_for_large_differences():
    big = np.full((1, 2, 2, 1), 60.0, np.float32)
    result = pixel.logcosh(np.zeros_like(big), big).numpy()
    np.testing.assert_allclose(result, 60.0 - np.log(2.0), rtol=1e-6)


def test_l_inf_norm_is_mean_over_channels_of_spatial_max():
    expected = np.abs(DIFF).max(axis=(1, 2)).mean(axis=-1)
    result = pixel.l_inf_norm(TRUE, PRED).numpy()
    assert result.shape == (3,)
    np.testing.assert_allclose(result, expected, rtol=1e-6)


def test_registered_losses_and_kinds():
    found = {d.name: d for d in fs_losses()}
    assert set(found) == {
        "mae",
        "mse",
        "logcosh",
        "smooth_loss",
        "l_inf_norm",
        "pixel_gradient_diff",
        "ssim",
        "ms_ssim",
        "gmsd",
        "laploss",
        "ffl",
        "flip",
    }
    assert [n for n, d in found.items() if not d.per_pixel] == ["l_inf_norm"]
    assert [n for n, d in found.items() if not d.primary_allowed] == ["flip"]
    assert all(d.help for d in found.values())
    assert len(descriptors()) == len(found)


def test_lpips_is_declared_not_provided():
    assert set(LOSSES_NOT_PROVIDED) == {"lpips_alex", "lpips_squeeze", "lpips_vgg16"}
    assert all("pretrained" in reason for reason in LOSSES_NOT_PROVIDED.values())
    from pathlib import Path

    from fs_plugins_losses import plugin

    assert "LPIPS" in plugin.__doc__
    # the package docstring (read from the file: run from the repo root, the distribution folder
    # of the same name can shadow the package as a namespace package)
    assert "LPIPS" in (Path(plugin.__file__).parent / "__init__.py").read_text()
