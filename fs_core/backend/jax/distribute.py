"""JAX's distribution: one device only for now (:mod:`fs_core.backend.one_device`)."""

from __future__ import annotations

from typing import Any

import jax

from fs_core.backend.one_device import make_one_device_strategy


def make_strategy(name: str) -> tuple[Any, int, int]:
    """The strategy for ``-d NAME``, this worker's index and the worker count."""
    return make_one_device_strategy(name, "JAX", lambda: str(jax.devices()[0]))
