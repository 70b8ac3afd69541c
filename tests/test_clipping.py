"""Gradient clipping (faceswap's lib/training/optimizer.py, lib/model/autoclip.py) against NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from fs_core.backend.tensorflow.clipping import (
    AUTOCLIP_UNBOUNDED_CAP,
    GradientClipper,
    percentile,
)
from fs_core.config.sections import GlobalOptions
from fs_core.errors import FsUserError
from fs_core.training.clipping import make_gradient_clipper


def _grads(rng, scale=1.0):
    return [
        rng.normal(0, scale, size=(3, 4)).astype(np.float32),
        rng.normal(0, scale, size=(5,)).astype(np.float32),
    ]


def _np(grads):
    return [None if g is None else np.asarray(g) for g in grads]


def _clipper(method, value=1.0, history=10000):
    return make_gradient_clipper(
        GlobalOptions(gradient_clipping=method, clipping_value=value, autoclip_history=history)
    )


def test_none_passes_through():
    grads = _grads(np.random.default_rng(0))
    clipper = _clipper("none")
    out = _np(clipper(grads + [None]))
    assert out[2] is None
    for a, b in zip(out, grads):
        np.testing.assert_array_equal(a, b)
    assert clipper.state_variables == ()


def test_norm_clips_each_gradient():
    grads = _grads(np.random.default_rng(1), scale=2.0)
    grads.append(np.full((2,), 0.1, np.float32))  # already small: unchanged
    out = _np(tf.function(_clipper("norm", 0.5))(grads))
    for g, o in zip(grads, out):
        norm = np.linalg.norm(g)
        expected = g * min(1.0, 0.5 / norm)
        np.testing.assert_allclose(o, expected, rtol=1e-5, atol=1e-7)
    assert np.linalg.norm(out[0]) == pytest.approx(0.5, rel=1e-5)


def test_global_norm_clips_jointly():
    grads = _grads(np.random.default_rng(2), scale=2.0)
    out = _np(tf.function(_clipper("global_norm", 1.5))(grads + [None]))
    total = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads))
    assert total > 1.5
    for g, o in zip(grads, out):
        np.testing.assert_allclose(o, g * 1.5 / total, rtol=1e-5)
    assert out[2] is None
    small = _grads(np.random.default_rng(3), scale=0.01)
    for g, o in zip(small, _np(_clipper("global_norm", 1.5)(small))):
        np.testing.assert_array_equal(g, o)


def test_value_clips_elements():
    grads = _grads(np.random.default_rng(4), scale=2.0)
    out = _np(tf.function(_clipper("value", 0.7))(grads))
    for g, o in zip(grads, out):
        np.testing.assert_array_equal(o, np.clip(g, -0.7, 0.7))


@pytest.mark.parametrize("q", [0.0, 10.0, 37.5, 50.0, 90.0, 100.0])
def test_percentile_matches_numpy(q):
    values = np.random.default_rng(5).normal(size=17).astype(np.float32)
    assert float(percentile(tf.constant(values), q)) == pytest.approx(
        np.percentile(values, q), rel=1e-5
    )


def _numpy_autoclip(steps, value, history):
    """Reference AutoClip: record finite norms (last ``history``), clip to their percentile."""
    seen, outputs = [], []
    for grads in steps:
        norm = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads))
        if not np.isfinite(norm):
            outputs.append(grads)
            continue
        seen = (seen + [norm])[-history:]
        threshold = np.percentile(seen, value * 10)
        factor = threshold / norm if norm > threshold else 1.0
        outputs.append([g * factor for g in grads])
    return outputs


@pytest.mark.parametrize("value,history", [(1.0, 4), (5.0, 3), (2.5, 100)])
def test_autoclip_matches_numpy(value, history):
    rng = np.random.default_rng(6)
    steps = [_grads(rng, scale=float(s)) for s in rng.uniform(0.1, 3.0, size=9)]
    steps[4] = [np.full((3, 4), np.inf, np.float32), steps[4][1]]  # non-finite: skipped
    clipper = _clipper("autoclip", value, history)
    step = tf.function(clipper)
    expected = _numpy_autoclip(steps, value, history)
    for grads, want in zip(steps, expected):
        got = _np(step(grads))
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5)
    assert int(clipper.count.numpy()) == 8  # the inf step was not recorded
    assert len(clipper.state_variables) == 2
    assert set(map(id, clipper.variables)) == set(map(id, clipper.state_variables))


def test_autoclip_clips_a_spike():
    clipper = _clipper("autoclip", 1.0, 50)
    for _ in range(10):
        clipper([np.ones((4,), np.float32)])  # norm 2
    spike = _np(clipper([np.full((4,), 50.0, np.float32)]))[0]
    assert np.linalg.norm(spike) == pytest.approx(2.0, rel=1e-5)


def test_autoclip_history_zero_is_the_cap():
    clipper = _clipper("autoclip", 1.0, 0)
    assert clipper.norms.shape == (AUTOCLIP_UNBOUNDED_CAP,)


def test_autoclip_state_lives_in_strategy_scope():
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        clipper = _clipper("autoclip", 1.0, 8)
    grads = [tf.constant([3.0, 4.0])]

    @tf.function
    def step():
        return strategy.run(clipper, args=(grads,))

    out = step()
    np.testing.assert_allclose(np.asarray(out[0]), [3.0, 4.0], rtol=1e-6)
    assert float(clipper.norms[0]) == pytest.approx(5.0)


def test_unknown_method_is_a_user_error():
    with pytest.raises(FsUserError, match="gradient_clipping"):
        GradientClipper("sometimes")
