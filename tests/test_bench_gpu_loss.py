"""The GPU benchmark's keras.ops copy of fs's default loss (bench/gpu_loss.py) computes what the
loss composer computes with the real loss plugins, so the figures bench/bench_gpu.py reports under
JAX are for fs's own loss."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from fs_core.config.sections import LossOptions, MaskOptions
from fs_core.losses.compose import LossComposer
from fs_plugins_losses.plugin import LOSSES_NOT_PROVIDED, descriptors

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import gpu_loss


def random_side(rng: np.random.Generator, sizes: tuple[int, ...]) -> dict:
    def images(size: int, channels: int) -> np.ndarray:
        return rng.random((3, size, size, channels), dtype=np.float32)

    return {
        "targets": tuple(images(s, 3) for s in sizes),
        "masks": {name: tuple(images(s, 1) for s in sizes) for name in ("face", "eye", "mouth")},
    }


@pytest.mark.parametrize("sizes", [(16,), (16, 32)])
def test_matches_the_composer_with_default_options(sizes):
    rng = np.random.default_rng(3)
    composer = LossComposer(
        LossOptions(),
        MaskOptions(),
        {d.name: d for d in descriptors()},
        output_count=len(sizes),
        not_provided=LOSSES_NOT_PROVIDED,
    )
    assert composer.mask_names == ("face", "eye", "mouth")
    assert [(a.term, a.weight) for a in composer.active] == list(gpu_loss.DEFAULT_LOSSES)
    side = random_side(rng, sizes)
    outputs = [rng.random((3, s, s, 3), dtype=np.float32) for s in sizes]

    expected_total, expected_terms = composer.side_loss(outputs, side)
    total, terms = gpu_loss.side_loss(outputs, side)

    assert set(terms) == set(expected_terms)
    for name, value in expected_terms.items():
        np.testing.assert_allclose(float(terms[name]), float(value), rtol=1e-5, err_msg=name)
    np.testing.assert_allclose(float(total), float(expected_total), rtol=1e-5)


def test_ssim_map_is_zero_for_equal_images_and_positive_otherwise():
    rng = np.random.default_rng(4)
    image = rng.random((2, 24, 24, 3), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(gpu_loss.ssim_map(image, image)), 0.0, atol=1e-5)
    assert float(np.mean(np.asarray(gpu_loss.ssim_map(image, 1.0 - image)))) > 0.5
