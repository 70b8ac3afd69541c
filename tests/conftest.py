"""Shared fixtures: a registry with the tiny test plugin, and quiet TensorFlow."""

from __future__ import annotations

import os

import pytest

# before any test imports TensorFlow
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def registry():
    """The installed plugins plus the tiny test model and loss."""
    import tiny_plugin

    from fs_core.plugin_manager import load_registry

    return load_registry(extra_plugins={"tiny_plugin": tiny_plugin})


@pytest.fixture(autouse=True, scope="module")
def _release_keras_memory():
    """Models, traced steps and optimizers of one test module are freed before the next, so the
    whole suite runs in one process without its memory growing module by module."""
    yield
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()
