"""The built-in optimizers: options mapping, training steps, weight decay, accumulation,
formulas."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from fs_core.backend.tensorflow.clipping import GradientClipper
from fs_core.builtins.optimizers import AdaBelief, FsOptimizerMixin, Lion, fs_optimizers
from fs_core.config.sections import GlobalOptions

NAMES = ["adam", "nadam", "adamax", "adamw", "rms-prop", "adabelief", "lion"]


def _make(name, **options):
    registry = {d.name: d for d in fs_optimizers()}
    return registry[name].make(GlobalOptions(**options))


def _model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4)(inputs)
    outputs = keras.layers.LayerNormalization()(hidden)
    return keras.Model(inputs, outputs)


def _data():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(4, 4)).astype(np.float32))


def _train_step(model, optimizer):
    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    return step


def test_registry_names():
    assert sorted(d.name for d in fs_optimizers()) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_each_optimizer_reduces_a_quadratic_loss(name):
    model, optimizer = _model(), _make(name, optimizer=name)
    optimizer.learning_rate.assign(
        0.01 if name != "lion" else 0.003
    )  # change LR on a live optimizer
    step = _train_step(model, optimizer)
    x, y = _data()
    losses = [float(step(x, y)) for _ in range(25)]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.9 * losses[0], losses
    assert int(optimizer.iterations.numpy()) == 25


DECOUPLED = {"adamw", "adabelief", "lion"}


@pytest.mark.parametrize("name", NAMES)
def test_weight_decay_skips_biases_and_one_dimensional_weights(name):
    """A zero gradient: decoupled decay shrinks kernels by lr·wd; coupled L2 (torch's Adam, NAdam,
    Adamax, RMSprop) turns into the gradient wd·w, so kernels step toward zero; 1-D never move."""
    model, optimizer = _model(), _make(name, weight_decay=0.5)
    optimizer.learning_rate.assign(0.1)
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    zeros = [tf.zeros_like(v) for v in model.trainable_variables]
    tf.function(lambda: optimizer.apply(zeros, model.trainable_variables))()
    for v in model.trainable_variables:
        old = before[v.path]
        if len(v.shape) > 1 and name in DECOUPLED:
            np.testing.assert_allclose(v.numpy(), old * (1 - 0.1 * 0.5), rtol=1e-6)
        elif len(v.shape) > 1:
            assert np.all(np.sign(v.numpy() - old) == -np.sign(old))
            assert not np.allclose(v.numpy(), old * (1 - 0.1 * 0.5), rtol=1e-3)
        else:  # dense bias, layer-norm gamma and beta
            np.testing.assert_array_equal(v.numpy(), old)


def test_options_reach_the_optimizers():
    opts = dict(
        epsilon_exponent=-5, ada_beta_1=0.8, ada_beta_2=0.99, ada_amsgrad=True, learning_rate=2e-5
    )
    adam = _make("adam", **opts)
    assert (adam.epsilon, adam.beta_1, adam.beta_2, adam.amsgrad) == (1e-5, 0.8, 0.99, True)
    assert float(adam.learning_rate.numpy()) == pytest.approx(2e-5)
    assert adam.weight_decay is None and adam.gradient_accumulation_steps is None
    assert _make("adabelief", **opts).amsgrad is True
    assert _make("adamw", **opts).amsgrad is True and _make("adamw").weight_decay == 0.0
    assert not hasattr(_make("nadam", **opts), "amsgrad")
    assert _make("nadam").momentum_decay == 4e-3  # torch NAdam's default
    lion = _make("lion", **opts)
    assert (lion.beta_1, lion.beta_2) == (0.8, 0.99) and not hasattr(lion, "epsilon")
    assert _make("lion").beta_2 == 0.999  # faceswap passes Adam's betas to Lion
    rms = _make("rms-prop", **opts)
    assert rms.epsilon == 1e-5 and rms.rho == 0.99
    assert _make("adamax", gradient_accumulation=4).gradient_accumulation_steps == 4


@pytest.mark.parametrize("name", NAMES)
def test_serialization_round_trip(name):
    optimizer = _make(name, ada_beta_1=0.7, weight_decay=0.01)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(again) is type(optimizer) and isinstance(again, FsOptimizerMixin)
    assert again.get_config() == optimizer.get_config()


def test_lion_matches_the_formula():
    lr, wd, b1, b2 = 0.1, 0.2, 0.9, 0.99
    optimizer = Lion(learning_rate=lr, beta_1=b1, beta_2=b2, weight_decay=wd)
    kernel = keras.Variable(np.array([[1.0, -2.0], [0.5, 0.0]], np.float32), name="kernel")
    grads = [
        np.array([[0.3, -0.1], [0.0, 2.0]], np.float32),
        np.array([[-0.3, -0.1], [0.02, -1.0]], np.float32),
    ]
    p, m = kernel.numpy().astype(np.float64), np.zeros((2, 2))
    for g in grads:
        optimizer.apply([tf.constant(g)], [kernel])
        p = p * (1 - lr * wd) - lr * np.sign(b1 * m + (1 - b1) * g)
        m = b2 * m + (1 - b2) * g
        np.testing.assert_allclose(kernel.numpy(), p, rtol=1e-6, atol=1e-7)


def _numpy_adabelief(grads, lr, b1, b2, eps):
    """AdaBelief, rectified, written out from the paper's equations."""
    p, m, s, out = 1.0, 0.0, 0.0, []
    sma_max = 2 / (1 - b2) - 1
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * (g - m) ** 2 + eps
        sma = sma_max - 2 * t * b2**t / (1 - b2**t)
        if sma >= 5:
            r = np.sqrt(
                (1 - b2**t) * (sma - 4) / (sma_max - 4) * (sma - 2) / sma * sma_max / (sma_max - 2)
            ) / (1 - b1**t)
            p -= lr * r * m / (np.sqrt(s) + eps)
        else:
            p -= lr * m / (1 - b1**t)
        out.append((p, sma))
    return out


def test_adabelief_rectification_matches_numpy():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    optimizer = AdaBelief(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps)
    weight = keras.Variable(np.ones((2, 2), np.float32), name="w")
    rng = np.random.default_rng(3)
    grads = rng.normal(size=10)
    expected = _numpy_adabelief(grads, lr, b1, b2, eps)
    assert expected[0][1] < 5 <= expected[-1][1]  # both the SGD and the adaptive phase are run
    step = tf.function(lambda g: optimizer.apply([g], [weight]))
    for g, (p, _) in zip(grads, expected):
        step(tf.fill((2, 2), np.float32(g)))
        np.testing.assert_allclose(weight.numpy(), np.full((2, 2), p), rtol=1e-5)


def test_adabelief_first_step_is_sgd():
    optimizer = AdaBelief(learning_rate=0.5)
    weight = keras.Variable(np.zeros((3, 1), np.float32), name="w")
    optimizer.apply([tf.constant([[1.0], [-2.0], [4.0]])], [weight])
    np.testing.assert_allclose(weight.numpy()[:, 0], [-0.5, 1.0, -2.0], rtol=1e-6)


@pytest.mark.parametrize("name", ["adam", "adabelief"])
def test_gradient_accumulation_steps_on_the_mean_every_n(name):
    accumulating = _make(name, gradient_accumulation=3)
    plain = _make(name)
    for opt in (accumulating, plain):
        opt.learning_rate.assign(0.01)
    w_acc = keras.Variable(np.ones((2, 2), np.float32), name="kernel")
    w_plain = keras.Variable(np.ones((2, 2), np.float32), name="kernel")
    step = tf.function(lambda g: accumulating.apply([g], [w_acc]))
    rng = np.random.default_rng(4)
    for _cycle in range(2):
        batch = [rng.normal(size=(2, 2)).astype(np.float32) for _ in range(3)]
        before = w_acc.numpy().copy()
        for i, g in enumerate(batch):
            step(tf.constant(g))
            if i < 2:
                np.testing.assert_array_equal(w_acc.numpy(), before)
        plain.apply([tf.constant(np.mean(batch, axis=0))], [w_plain])
        np.testing.assert_allclose(w_acc.numpy(), w_plain.numpy(), rtol=1e-5)
        assert not np.allclose(w_acc.numpy(), before)
    assert int(accumulating.iterations.numpy()) == 2


def test_gradient_clipper_runs_inside_the_step_on_the_accumulated_mean():
    optimizer = _make("adabelief", gradient_accumulation=2)
    optimizer.learning_rate.assign(0.1)
    clipper = GradientClipper("global_norm", 0.5)
    optimizer.set_gradient_clipper(clipper)
    weight = keras.Variable(np.zeros((2, 2), np.float32), name="kernel")
    step = tf.function(lambda g: optimizer.apply([g], [weight]))
    step(tf.fill((2, 2), 4.0))  # mean of the two is 2 everywhere: norm 4, clipped to 0.5
    step(tf.fill((2, 2), 0.0))
    # AdaBelief's first step is SGD: weight = -lr * clipped mean gradient
    np.testing.assert_allclose(weight.numpy(), np.full((2, 2), -0.1 * 0.25), rtol=1e-5)


def test_learning_rate_change_takes_effect_in_a_traced_step():
    optimizer = _make("lion")
    weight = keras.Variable(np.zeros((1, 2), np.float32), name="kernel")
    step = tf.function(lambda g: optimizer.apply([g], [weight]))
    step(tf.constant([[1.0, -1.0]]))
    np.testing.assert_allclose(weight.numpy(), [[-5e-5, 5e-5]], rtol=1e-5)
    optimizer.learning_rate.assign(1e-3)
    step(tf.constant([[1.0, -1.0]]))
    np.testing.assert_allclose(weight.numpy(), [[-5e-5 - 1e-3, 5e-5 + 1e-3]], rtol=1e-5)


@pytest.mark.parametrize(
    "name,options",
    [
        ("adam", {}),
        ("adam", {"ada_amsgrad": True}),
        ("adamw", {"weight_decay": 0.01}),
    ],
)
def test_fused_adam_update_matches_the_plain_ops_update(name, options):
    """The fused TensorFlow kernel (with its per-step epsilon) computes exactly what the plain-ops
    path does (same slots, torch's formula)."""
    x, y = _data()
    weights = {}
    for fused in (True, False):
        model = _model()
        optimizer = _make(name, learning_rate=1e-4, **options)
        optimizer.fused = fused
        step = _train_step(model, optimizer)
        for _ in range(5):
            step(x, y)
        kernels = {
            op.type
            for op in step.get_concrete_function(x, y).graph.get_operations()
            if op.type.startswith("ResourceApplyAdam")
        }
        assert bool(kernels) == fused, kernels
        weights[fused] = (
            [v.numpy() for v in model.trainable_variables],
            [v.numpy() for v in optimizer.variables],
        )
    for fused_value, keras_value in zip(
        *[weights[True][0] + weights[True][1], weights[False][0] + weights[False][1]]
    ):
        np.testing.assert_allclose(fused_value, keras_value, rtol=2e-5, atol=1e-7)
