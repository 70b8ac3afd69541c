"""The example pack's own tests: its plugins are registered and honour fs's contract.

Run after installing the pack (``pip install -e .``) so fs finds it through its entry point.
The fs_core.testing helpers do the contract checks (build, outputs, parts, one training step);
the tests below add what is particular to this pack.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from fs_plugin_example import __version__, charbonnier


def test_the_pack_is_registered_under_its_distribution(fs_registry):
    provided = {
        item
        for info in fs_registry.plugins
        if info.distribution == "fs-plugin-example"
        for item in info.provides
    }
    assert provided == {("model", "twin64"), ("loss", "charbonnier")}
    versions = {
        info.version for info in fs_registry.plugins if info.distribution == "fs-plugin-example"
    }
    assert versions == {__version__}


def test_twin64_honours_the_model_contract(fs_check_model):
    check = fs_check_model("twin64")
    assert check.parts == ("decoder_a", "decoder_b", "encoder")
    assert check.input_size == 64 and check.output_sizes == (64,)


def test_twin64_options_change_the_size_and_are_validated(fs_check_model):
    small = fs_check_model("twin64", {"filters": 16, "bottleneck": 64}, learn_mask=(False,))
    assert small.parameters < fs_check_model("twin64", learn_mask=(False,)).parameters
    from fs_core.errors import FsUserError

    with pytest.raises(FsUserError, match="filters"):
        fs_check_model("twin64", {"filters": 20})


def test_charbonnier_honours_the_loss_contract(fs_check_loss):
    loss = fs_check_loss("charbonnier")
    assert loss.per_pixel and loss.primary_allowed


def test_charbonnier_is_l1_far_from_zero_and_smooth_near_it():
    true = tf.zeros((1, 2, 2, 3))
    far = charbonnier.charbonnier(true, tf.fill((1, 2, 2, 3), 0.5)).numpy()
    np.testing.assert_allclose(far, 0.5, atol=2 * charbonnier.EPSILON)
    near = tf.Variable(tf.zeros((1, 2, 2, 3)))
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(charbonnier.charbonnier(true, near))
    assert float(value) == 0.0
    np.testing.assert_array_equal(tape.gradient(value, near).numpy(), 0.0)
