"""fs's optimizers against torch's documented update rules (faceswap trains with torch's
optimizers).

Each rule is written out in NumPy (float64) from torch's documentation of RMSprop, NAdam, Adam,
AdamW (with amsgrad) and Adamax, and compared with fs's optimizer over a few steps, on gradients
small enough that where eps sits matters.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from fs_core.builtins.optimizers import fs_optimizers
from fs_core.config.sections import GlobalOptions

EPS = 1e-7  # fs's default epsilon_exponent -7
B1, B2 = 0.9, 0.999


def _make(name, learning_rate=None, **options):
    """The optimizer as ``[global]`` makes it; a rate above the option's range is set afterwards."""
    registry = {d.name: d for d in fs_optimizers()}
    optimizer = registry[name].make(GlobalOptions(optimizer=name, **options))
    if learning_rate is not None:
        optimizer.learning_rate.assign(learning_rate)
    return optimizer


def _run(optimizer, start, grads, fused=None):
    """Apply ``grads`` one step at a time to a kernel starting at ``start``; the weights after
    each."""
    if fused is not None:
        optimizer.fused = fused
    kernel = keras.Variable(np.array(start, np.float32), name="kernel")
    step = tf.function(lambda g: optimizer.apply([g], [kernel]))
    out = []
    for g in grads:
        step(tf.constant(np.asarray(g, np.float32)))
        out.append(kernel.numpy().astype(np.float64))
    return out


def torch_rmsprop(w, grads, lr, eps, alpha=0.99, wd=0.0):
    v, out = np.zeros_like(w), []
    for grad in grads:
        g = grad + wd * w
        v = alpha * v + (1 - alpha) * g * g
        w = w - lr * g / (np.sqrt(v) + eps)
        out.append(w)
    return out


def torch_nadam(w, grads, lr, eps, b1=B1, b2=B2, psi=4e-3, wd=0.0):
    m, v, product, out = np.zeros_like(w), np.zeros_like(w), 1.0, []
    for t, grad in enumerate(grads, start=1):
        g = grad + wd * w
        mu = b1 * (1 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        product *= mu
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        denom = np.sqrt(v / (1 - b2**t)) + eps
        w = (
            w
            - lr * (1 - mu) / (1 - product) * g / denom
            - lr * mu_next / (1 - product * mu_next) * m / denom
        )
        out.append(w)
    return out


def torch_adam(w, grads, lr, eps, b1=B1, b2=B2, amsgrad=False, wd=0.0, decoupled=False):
    m, v, v_max, out = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w), []
    for t, grad in enumerate(grads, start=1):
        g = grad
        if decoupled:
            w = w * (1 - lr * wd)
        else:
            g = grad + wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        v_max = np.maximum(v_max, v)
        second = v_max if amsgrad else v
        w = w - lr / (1 - b1**t) * m / (np.sqrt(second) / np.sqrt(1 - b2**t) + eps)
        out.append(w)
    return out


def torch_adamax(w, grads, lr, eps, b1=B1, b2=B2, wd=0.0):
    m, u, out = np.zeros_like(w), np.zeros_like(w), []
    for t, grad in enumerate(grads, start=1):
        g = grad + wd * w
        m = b1 * m + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g) + eps)
        w = w - lr * m / ((1 - b1**t) * u)
        out.append(w)
    return out


def _tiny_grads(count, scale, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(2, 3)) * scale for _ in range(count)]


def _start():
    return np.random.default_rng(9).normal(size=(2, 3))


def _close(actual, expected):
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=2e-5, atol=1e-9)


def test_rmsprop_first_step_divides_by_sqrt_v_plus_eps():
    lr = 5e-5
    grads = [np.full((2, 3), 1e-4)]
    actual = _run(_make("rms-prop", learning_rate=lr), np.zeros((2, 3)), grads)
    expected = torch_rmsprop(np.zeros((2, 3)), grads, lr, EPS)
    _close(actual, expected)
    assert -actual[0][0, 0] == pytest.approx(lr * 1e-4 / (1e-5 + EPS), rel=1e-5)


def test_rmsprop_steps_match_torch():
    grads = _tiny_grads(4, 1e-4)
    _close(
        _run(_make("rms-prop", learning_rate=1e-4), _start(), grads),
        torch_rmsprop(_start(), grads, 1e-4, EPS),
    )


def test_nadam_steps_follow_torchs_momentum_schedule():
    grads = _tiny_grads(5, 1e-3, seed=1)
    _close(
        _run(_make("nadam", learning_rate=1e-4), _start(), grads),
        torch_nadam(_start(), grads, 1e-4, EPS),
    )


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_adds_eps_after_the_bias_correction(name, amsgrad, fused):
    # gradients around eps: Keras' placement would make the first steps several times smaller
    grads = _tiny_grads(6, 3e-7, seed=2)
    grads[3] = grads[3] * 0.01  # a step where v_max and v differ (amsgrad)
    actual = _run(_make(name, learning_rate=1e-4, ada_amsgrad=amsgrad), _start(), grads, fused)
    _close(actual, torch_adam(_start(), grads, 1e-4, EPS, amsgrad=amsgrad))


def test_adamax_puts_eps_inside_the_maximum():
    # shrinking gradients and a short β2 memory, so the decayed norm β2·u is the maximum and
    # torch's β2·(|g| + eps) differs from Keras' β2·|g| + eps
    signs = np.sign(np.random.default_rng(3).normal(size=(4, 2, 3)))
    grads = [sign * scale for sign, scale in zip(signs, (1e-6, 1e-8, 1e-9, 1e-8))]
    _close(
        _run(_make("adamax", learning_rate=1e-4, ada_beta_2=0.5), _start(), grads),
        torch_adamax(_start(), grads, 1e-4, EPS, b2=0.5),
    )


COUPLED_RULES = {
    "adam": torch_adam,
    "nadam": torch_nadam,
    "adamax": torch_adamax,
    "rms-prop": torch_rmsprop,
}


@pytest.mark.parametrize("name", sorted(COUPLED_RULES))
def test_coupled_weight_decay_goes_through_the_update(name):
    """torch's weight_decay for Adam, NAdam, Adamax and RMSprop: g += wd·w before the moments."""
    grads = [np.array([[0.3, -0.2, 0.0], [0.1, 0.05, -0.4]])] * 3
    actual = _run(_make(name, learning_rate=1e-3, weight_decay=0.1), _start(), grads)
    _close(actual, COUPLED_RULES[name](_start(), grads, 1e-3, EPS, wd=0.1))


def test_adamw_weight_decay_is_decoupled():
    grads = [np.array([[0.3, -0.2, 0.0], [0.1, 0.05, -0.4]])] * 3
    actual = _run(_make("adamw", learning_rate=1e-3, weight_decay=0.1), _start(), grads)
    _close(actual, torch_adam(_start(), grads, 1e-3, EPS, wd=0.1, decoupled=True))


@pytest.mark.parametrize(
    "name,decoupled",
    [
        ("adam", False),
        ("nadam", False),
        ("adamax", False),
        ("rms-prop", False),
        ("adamw", True),
        ("adabelief", True),
        ("lion", True),
    ],
)
def test_one_step_with_decay_equals_the_decay_free_step_on_shifted_inputs(name, decoupled):
    """The definition of each kind, for every optimizer: coupled = the plain step on g + wd·w;
    decoupled = the plain step from w·(1 − lr·wd). Biases never decay either way."""
    lr, wd = 1e-3, 0.2
    w = _start()
    g = np.array([[0.3, -0.2, 0.0], [0.1, 0.05, -0.4]])
    bias, bias_grad = np.array([0.5, -1.0]), np.array([0.1, 0.2])

    def step(optimizer, kernel_start, kernel_grad):
        kernel = keras.Variable(np.asarray(kernel_start, np.float32), name="kernel")
        b = keras.Variable(bias.astype(np.float32), name="bias")
        optimizer.apply(
            [tf.constant(kernel_grad, tf.float32), tf.constant(bias_grad, tf.float32)], [kernel, b]
        )
        return kernel.numpy(), b.numpy()

    kernel, b = step(_make(name, learning_rate=lr, weight_decay=wd), w, g)
    if decoupled:
        expected_kernel, expected_b = step(_make(name, learning_rate=lr), w * (1 - lr * wd), g)
    else:
        expected_kernel, expected_b = step(_make(name, learning_rate=lr), w, g + wd * w)
    np.testing.assert_allclose(kernel, expected_kernel, rtol=1e-5, atol=1e-8)
    _, plain_b = step(_make(name, learning_rate=lr), w, g)
    np.testing.assert_allclose(b, plain_b, rtol=1e-6)
    np.testing.assert_allclose(expected_b, plain_b, rtol=1e-6)
