"""Every registered loss: zero (or its minimum) on identical images, growing with noise, traceable
in tf.function with a dynamic batch dimension, and with finite gradients."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from fs_plugins_losses.plugin import descriptors

LOSSES = {d.name: d for d in descriptors()}
SIZE = 48  # the smallest size ms_ssim accepts
RNG = np.random.default_rng(11)
BASE = np.kron(RNG.random((2, SIZE // 4, SIZE // 4, 3)), np.ones((1, 4, 4, 1))).astype(np.float32)
NOISE = RNG.normal(0, 1, BASE.shape).astype(np.float32)


def _mean_loss(descriptor, true, pred) -> float:
    return float(tf.reduce_mean(descriptor(tf.constant(true), tf.constant(pred))))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_identical_images_give_the_minimum(name):
    value = _mean_loss(LOSSES[name], BASE, BASE)
    assert abs(value) < (1e-3 if name == "flip" else 1e-5), value


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_grows_with_noise(name):
    values = [
        _mean_loss(LOSSES[name], BASE, np.clip(BASE + level * NOISE, 0, 1))
        for level in (0.01, 0.05, 0.2)
    ]
    assert values[0] < values[1] < values[2], values


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_traces_with_dynamic_batch_and_has_finite_gradients(name):
    descriptor = LOSSES[name]
    spec = tf.TensorSpec((None, SIZE, SIZE, 3), tf.float32)

    @tf.function(input_signature=[spec, spec])
    def step(true, pred):
        with tf.GradientTape() as tape:
            tape.watch(pred)
            value = descriptor(true, pred)
            total = tf.reduce_mean(value)
        return value, tape.gradient(total, pred)

    for batch in (1, 3):
        true = np.repeat(BASE[:1], batch, 0)
        pred = np.clip(true + 0.05 * NOISE[:1], 0, 1)
        value, grad = step(true, pred)
        if descriptor.per_pixel:
            assert value.shape[:3] == (batch, SIZE, SIZE) and value.shape[3] in (1, 3)
        else:
            assert value.shape == (batch,)
        assert value.dtype == tf.float32
        assert np.isfinite(grad.numpy()).all() and np.abs(grad.numpy()).sum() > 0
