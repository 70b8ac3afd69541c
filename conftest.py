"""Fixtures every test folder shares (the core's tests/ and each pack's tests/): quiet TensorFlow,
and Keras memory released between test modules."""

from __future__ import annotations

import os

import pytest

# before any test imports TensorFlow
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# the tests in this process run on TensorFlow, whatever [global] backend = "auto" would pick on
# this machine (tests of another backend start a process with KERAS_BACKEND set)
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@pytest.fixture(autouse=True, scope="session")
def _face_cache_in_a_temporary_folder(tmp_path_factory):
    """Training in the tests (and the ``fs`` processes they start) keeps its face cache
    (fs_core.data.store) in pytest's temporary folder, never in the user's ~/.cache."""
    before = os.environ.get("FS_FACE_CACHE")
    os.environ["FS_FACE_CACHE"] = str(tmp_path_factory.mktemp("face-cache"))
    yield
    if before is None:
        os.environ.pop("FS_FACE_CACHE", None)
    else:
        os.environ["FS_FACE_CACHE"] = before


@pytest.fixture(autouse=True)
def _the_same_precision_on_every_machine(monkeypatch):
    """``mixed_precision = "auto"`` (the default) picks bfloat16 on CPUs with AMX; the tests run on
    machines with and without it, so in-process training sees a CPU without AMX and trains in
    float32 everywhere (the choice itself is tested with explicit hardware in test_precision.py)."""
    from fs_core.training import precision

    monkeypatch.setattr(precision, "cpu_flags", lambda *args: frozenset())


@pytest.fixture(autouse=True, scope="module")
def _release_keras_memory():
    """Models, traced steps and optimizers of one test module are freed before the next, so the
    whole suite runs in one process without its memory growing module by module."""
    yield
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()
