"""JAX's distribution: one device only for now.

``-d default`` is the one device JAX computes on by default; ``mirrored``, ``central-storage`` and
``multi-worker`` are ``tf.distribute`` strategies with no JAX counterpart in fs yet, so they are
refused with one line before anything is built.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import attrs
import jax

from fs_core.errors import FsUserError


@attrs.define(frozen=True)
class OneDevice:
    """The default strategy: everything on JAX's default device."""

    device: str

    def scope(self) -> contextlib.AbstractContextManager[None]:
        """Nothing to enter: variables live on the default device."""
        return contextlib.nullcontext()


def make_strategy(name: str) -> tuple[Any, int, int]:
    """The strategy for ``-d NAME``, this worker's index and the worker count."""
    if name == "default":
        return OneDevice(str(jax.devices()[0])), 0, 1
    raise FsUserError(
        f"-d {name} is not supported on the JAX backend yet (one device only); use -d default "
        "or KERAS_BACKEND=tensorflow"
    )


def replicas_in_sync(strategy: Any) -> int:
    """Replicas in sync across every worker: one."""
    return 1


def worker_devices(strategy: Any) -> tuple[str, ...]:
    """The device this worker computes on."""
    return (str(strategy.device),)


def wrap_distributed_step(
    strategy: Any,
    local_replicas: int,
    replica_step: Callable[[Any], dict],
    jit_compile: bool = False,
) -> Callable[[Any], dict]:
    """One replica: the step itself (it is compiled already)."""
    return replica_step


def make_replica_sum_clipper(clipper: Callable[[list], list], replicas: int) -> Callable:
    """One replica: the clipper itself."""
    return clipper
