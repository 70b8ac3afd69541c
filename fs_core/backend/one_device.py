"""One device, no distribution: the strategy PyTorch and JAX train with until they have their own.

``-d default`` is the device the framework computes on; ``mirrored``, ``central-storage`` and
``multi-worker`` are ``tf.distribute`` strategies and ``ddp`` is PyTorch's, refused with one line
before anything is built. Each backend passes its own name and device; the rest is the same for
both (PyTorch's ``-d ddp`` is :mod:`fs_core.backend.torch.distribute`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import attrs

from fs_core.errors import FsUserError


@attrs.frozen
class OneDevice:
    """The default strategy: everything on the framework's default device, no scope needed."""

    device: str

    def scope(self) -> contextlib.AbstractContextManager[None]:
        """Nothing to enter: variables live on the default device."""
        return contextlib.nullcontext()


def make_one_device_strategy(
    name: str, backend: str, device: Callable[[], str]
) -> tuple[OneDevice, int, int]:
    """``-d NAME`` on ``backend``: the one-device strategy (``device()`` names it), this worker's
    index and the worker count; any other strategy is a user error."""
    if name == "default":
        return OneDevice(device()), 0, 1
    if name == "ddp":
        raise FsUserError(
            f"-d ddp is PyTorch's (torch.distributed, started by torchrun); on the {backend} "
            "backend only -d default (one device) is available yet; use --backend torch"
        )
    raise FsUserError(
        f"-d {name} is TensorFlow's (tf.distribute); on the {backend} backend only -d default "
        "(one device) is available yet; use --backend tensorflow to distribute"
    )


def replicas_in_sync(strategy: Any) -> int:
    """Replicas in sync across every worker: one."""
    return 1


def worker_devices(strategy: Any) -> tuple[str, ...]:
    """The device this worker computes on."""
    return (strategy.device,)


def wrap_distributed_step(
    strategy: Any,
    local_replicas: int,
    replica_step: Callable[[Any], dict],
    jit_compile: bool = False,
) -> Callable[[Any], dict]:
    """The one replica's step itself (compiled already by the backend)."""
    return replica_step


def make_replica_sum_clipper(clipper: Callable[[list], list], replicas: int) -> Callable:
    """``clipper`` itself: with one replica its gradient is the global one."""
    if replicas > 1:
        raise FsUserError(
            "several replicas are available only on TensorFlow and on torch (-d ddp) yet"
        )
    return clipper
