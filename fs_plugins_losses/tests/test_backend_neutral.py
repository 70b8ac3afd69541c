"""The losses give the numbers their TensorFlow implementation gave (``reference_values.npz``).

The losses are written in ``keras.ops`` so that they run on every Keras backend; the stored values
come from the earlier version written with tf.nn / tf.signal / tf.image (see
``make_reference_values.py``). Every registered loss is checked on four input cases (1 and 3
channels, 64, 72 and 128 px, batches of 2 to 4): the map on a grid of pixels that includes the
borders, and the mean of the whole map per item, to 1e-5 relative and absolute; four losses' input
gradients as well (through tf.GradientTape, so on TensorFlow only).

On TensorFlow the rewrite gives the same bits. Another backend convolves in another order, and
SSIM's variance ``E[x²] + E[y²] - μx² - μy²`` cancels most of its digits: its float32 maps are
only good to about 2e-5 (both TensorFlow's and JAX's, against a float64 computation), so the SSIM
maps of another backend are held to 2e-4 absolute / 1e-3 relative; their means still to 1e-5.
"""

from __future__ import annotations

import keras
import make_reference_values as ref
import numpy as np
import pytest

from fs_plugins_losses.plugin import descriptors

LOSSES = {d.name: d for d in descriptors()}
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
ON_TENSORFLOW = keras.backend.backend() == "tensorflow"
CANCELLING = {"ssim", "ms_ssim"}  # float32 maps good to ~2e-5 only (see the docstring)
LOOSE = {"rtol": 1e-3, "atol": 2e-4}


@pytest.fixture(scope="module")
def stored() -> dict[str, np.ndarray]:
    with np.load(ref.PATH) as data:
        return {key: data[key] for key in data.files}


def _cases() -> list[tuple[str, str]]:
    return [
        (case, name)
        for case, (_, _, channels) in ref.CASES.items()
        for name in sorted(LOSSES)
        if channels == 3 or not ref.needs_colour(name)
    ]


def test_every_loss_has_reference_values(stored):
    names = {key.split("/")[1] for key in stored} - {"inputs"}
    assert names == set(LOSSES)


@pytest.mark.parametrize("case", sorted(ref.CASES))
def test_inputs_are_the_ones_the_values_were_made_from(case, stored):
    true, pred = ref.inputs(case)
    np.testing.assert_allclose(
        [true.sum(), pred.sum()], stored[f"{case}/inputs/checksum"], rtol=1e-12
    )


@pytest.mark.parametrize(("case", "name"), _cases())
def test_loss_matches_the_reference(case, name, stored):
    descriptor = LOSSES[name]
    result = ref.evaluate(descriptor, *ref.inputs(case))
    key = f"{case}/{name}"
    if descriptor.per_pixel:
        tolerance = TOLERANCE if ON_TENSORFLOW or name not in CANCELLING else LOOSE
        np.testing.assert_allclose(ref.sample(result), stored[f"{key}/map"], **tolerance)
        means = result.reshape(len(result), -1).mean(axis=1)
        np.testing.assert_allclose(means, stored[f"{key}/mean"], **TOLERANCE)
    else:
        np.testing.assert_allclose(result, stored[f"{key}/item"], **TOLERANCE)


@pytest.mark.skipif(not ON_TENSORFLOW, reason="the gradients are taken with tf.GradientTape")
@pytest.mark.parametrize("name", ref.GRADIENT_LOSSES)
def test_gradient_matches_the_reference(name, stored):
    grad = ref.gradient(LOSSES[name], *ref.inputs(ref.GRADIENT_CASE))
    key = f"{ref.GRADIENT_CASE}/{name}"
    np.testing.assert_allclose(ref.sample(grad), stored[f"{key}/grad"], **TOLERANCE)
    norms = np.sqrt((grad.astype(np.float64) ** 2).sum((1, 2, 3)))
    np.testing.assert_allclose(norms, stored[f"{key}/grad_norm"], **TOLERANCE)
