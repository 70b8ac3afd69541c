"""A model of the pack passes fs's model check (:func:`fs_core.testing.check_model_plugin`:
builds with and without a learned mask, outputs in [0, 1], the same weights twice, one optimizer
step that moves every trainable weight and no frozen one) on PyTorch and JAX, each in a process of
its own (``check_on_backends``). Lightweight at its own size keeps it short; every model trains one
real ``fs train`` iteration per backend in ``bench/check_backends_models.py``.
"""

from __future__ import annotations

import pytest

from fs_core.testing import check_on_backends


@pytest.mark.slow
def test_lightweight_passes_the_model_check_on_torch_and_jax():
    report = check_on_backends(
        "model", "lightweight", backends=("torch", "jax"), learn_mask=[True], batch_size=1
    )
    print(report.describe())
    if not report.of("passed"):
        pytest.skip("neither PyTorch nor JAX is installed")
