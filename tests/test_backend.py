"""The backend seam: the active Keras backend's implementation, and a clear refusal of others."""

from __future__ import annotations

import pytest

from fs_core import backend
from fs_core.backend.api import Backend
from fs_core.errors import FsUserError


def test_tensorflow_is_the_active_backend_and_has_every_part_of_the_interface():
    implementation = backend.get()
    assert backend.active_name() == "tensorflow"
    names = [
        name for name in dir(Backend) if not name.startswith("_") and name not in dir(object)
    ] + list(Backend.__annotations__)
    missing = [name for name in names if not hasattr(implementation, name)]
    assert not missing


@pytest.mark.parametrize("name", ["jax", "numpy"])
def test_another_keras_backend_is_refused_in_one_line(monkeypatch, name):
    monkeypatch.setattr(backend, "active_name", lambda: name)
    with pytest.raises(FsUserError) as caught:
        backend.get()
    message = caught.value.one_line()
    assert f"Keras backend '{name}' is not supported" in message
    assert "KERAS_BACKEND=tensorflow" in message and "\n" not in message
