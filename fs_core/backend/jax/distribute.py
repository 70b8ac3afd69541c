"""JAX's distribution: ``-d mirrored`` over this process's devices, ``-d multi-worker`` over
several processes (machines) started by ``keras.distribution.initialize()``; ``default`` is one
device (:mod:`fs_core.backend.one_device`).

Both are data parallel in the way Keras' ``keras.distribution.DataParallel`` lays a model out: a
one-axis mesh (``"batch"``) over every device of every process, the variables replicated, the
batch split on its first axis. The compiled step (:mod:`fs_core.backend.jax.step`) takes the
variables' values as replicated global arrays and the batch as one global array (each process
gives its loader's share, :meth:`DataParallel.global_batch`), so the loss ``jax.jit`` differentiates
is the global batch's mean and XLA inserts the all-reduce of the gradients itself: the clipper,
AutoClip's history and the loss scaler see the global gradient, and the losses the step returns
are the global means, the same on every process.

Between steps the variables hold *process-local* arrays (replicated over this process's devices
only), not Keras' global layout: previews, the collapse guard, held-out losses and saves run on
one process (previews and saves on the chief only), and an operation on a global array would be a
program every process has to run. The step wraps the local buffers into global arrays and back
without copying (:meth:`DataParallel.to_global`, :meth:`DataParallel.to_local`).

Several processes start from the same seed and the same model folder, so their variables agree;
the step still broadcasts process 0's values once before the first step
(:meth:`DataParallel.broadcast`), because a replicated argument that differed between processes
would make them drift apart without any error.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import attrs
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from fs_core.backend.one_device import make_one_device_strategy
from fs_core.errors import FsUserError

#: Keras' variables for ``keras.distribution.initialize()`` (read by Keras itself)
ADDRESSES = "KERAS_DISTRIBUTION_JOB_ADDRESSES"
PROCESSES = "KERAS_DISTRIBUTION_NUM_PROCESSES"
PROCESS_ID = "KERAS_DISTRIBUTION_PROCESS_ID"

#: the mesh axis the batch is split on (Keras' DataParallel names it so too)
BATCH_AXIS = "batch"


@attrs.frozen(eq=False, slots=False)  # slots off: the shardings are cached properties
class DataParallel:
    """Data parallel over ``devices`` (every process's, in JAX's global order); ``local`` are
    this process's. The variables are replicated, the batch split on its first axis."""

    devices: tuple[Any, ...]
    local: tuple[Any, ...]
    process_count: int = 1

    #: the step differentiates the global batch's loss (the core does not divide it per replica)
    global_loss: ClassVar[bool] = True

    @functools.cached_property
    def mesh(self) -> Mesh:
        return Mesh(np.array(self.devices), (BATCH_AXIS,))

    @functools.cached_property
    def replicated(self) -> NamedSharding:
        """A variable's sharding inside the step: a whole copy on every device."""
        return NamedSharding(self.mesh, PartitionSpec())

    @functools.cached_property
    def batch_sharding(self) -> NamedSharding:
        """The batch's sharding inside the step: split on its first axis over every device."""
        return NamedSharding(self.mesh, PartitionSpec(BATCH_AXIS))

    @functools.cached_property
    def local_replicated(self) -> NamedSharding:
        """A variable's sharding between steps: a copy on each of this process's devices."""
        return NamedSharding(Mesh(np.array(self.local), (BATCH_AXIS,)), PartitionSpec())

    def scope(self) -> Any:
        """Nothing to enter: variables are created as usual and placed by the step."""
        return contextlib.nullcontext()

    # ---------------------------------------------------------------- values in and out

    def to_global(self, value: Any) -> Any:
        """A variable's value as the step's replicated global array."""
        value = jax.numpy.asarray(value)
        if value.sharding == self.replicated:
            return value
        if self.process_count == 1:
            return jax.device_put(value, self.replicated)
        if value.sharding != self.local_replicated:
            value = jax.device_put(value, self.local_replicated)
        shards = [shard.data for shard in value.addressable_shards]
        return jax.make_array_from_single_device_arrays(value.shape, self.replicated, shards)

    def to_local(self, value: Any) -> Any:
        """A replicated global array as this process's copy (the same buffers)."""
        if self.process_count == 1:
            return value
        shards = [shard.data for shard in value.addressable_shards]
        return jax.make_array_from_single_device_arrays(value.shape, self.local_replicated, shards)

    def global_batch(self, batch: Any) -> Any:
        """This process's batch (its loader's share) as one global array per leaf, split over
        every device on the first axis."""
        sharding = self.batch_sharding
        return jax.tree.map(
            lambda array: jax.make_array_from_process_local_data(sharding, np.asarray(array)),
            batch,
        )

    def broadcast(self, values: Sequence[Any]) -> list[Any]:
        """Process 0's values on every process (host arrays); themselves with one process."""
        if self.process_count == 1:
            return list(values)
        from jax.experimental import multihost_utils  # noqa: PLC0415 (multi-process runs only)

        host = [np.asarray(value) for value in values]
        return list(multihost_utils.broadcast_one_to_all(host))

    def barrier(self) -> None:
        """Wait until every process has come here (nothing to wait for with one)."""
        if self.process_count > 1:
            from jax.experimental import multihost_utils  # noqa: PLC0415 (multi-process runs only)

            multihost_utils.sync_global_devices("fs train: barrier")


def make_strategy(name: str) -> tuple[Any, int, int]:
    """The strategy for ``-d NAME``, this worker's index and the worker count."""
    if name == "mirrored":
        return _mirrored(), 0, 1
    if name == "multi-worker":
        return _multi_worker()
    if name == "central-storage":
        raise FsUserError(
            "-d central-storage is TensorFlow's (tf.distribute); on the JAX backend use "
            "-d mirrored (every device of this machine) or -d multi-worker"
        )
    return make_one_device_strategy(name, "JAX", lambda: str(jax.devices()[0]))


def _mirrored() -> DataParallel:
    devices = tuple(jax.local_devices())
    if len(devices) < 2:
        raise FsUserError(
            f"-d mirrored: JAX sees one device ({devices[0]}), so there is nothing to distribute "
            "over; use -d default (on CPUs, XLA_FLAGS=--xla_force_host_platform_device_count=N "
            "splits the CPU into N devices)"
        )
    return DataParallel(devices, devices)


def _multi_worker() -> tuple[DataParallel, int, int]:
    """The processes joined (once per process); a later session of the same run (a schedule's
    next leg, a retry at a smaller batch) first waits for every process, so no worker loads the
    model while the chief is still writing the last session's save. (A schedule plans its next
    leg from the model folder before this, and waits at :meth:`DataParallel.barrier` first.)"""
    if jax.distributed.is_initialized():
        from jax.experimental import multihost_utils  # noqa: PLC0415 (multi-process runs only)

        multihost_utils.sync_global_devices("fs train: next session")
    else:
        _check_environment()
        _start_processes()
    devices, local = tuple(jax.devices()), tuple(jax.local_devices())
    count = jax.process_count()
    if len(devices) != count * len(local):
        raise FsUserError(
            f"-d multi-worker needs the same number of devices in every process ({len(local)} "
            f"here, {len(devices)} over {count} processes)"
        )
    return DataParallel(devices, local, count), jax.process_index(), count


def _check_environment() -> None:
    """Keras' variables for ``initialize()``, checked so a mistake is one line, not a hang."""
    missing = [key for key in (ADDRESSES, PROCESSES, PROCESS_ID) if not os.environ.get(key)]
    if missing:
        raise FsUserError(
            f"-d multi-worker on JAX needs {', '.join(missing)}: set on every process "
            f"{ADDRESSES}=HOST:PORT (process 0's address, the coordinator), "
            f"{PROCESSES}=N and {PROCESS_ID}=0..N-1 (0 on the coordinator)"
        )
    try:
        count, index = int(os.environ[PROCESSES]), int(os.environ[PROCESS_ID])
    except ValueError:
        raise FsUserError(
            f"{PROCESSES} and {PROCESS_ID} must be whole numbers, got "
            f"'{os.environ[PROCESSES]}' and '{os.environ[PROCESS_ID]}'"
        ) from None
    if count < 1 or not 0 <= index < count:
        raise FsUserError(
            f"{PROCESS_ID} must be 0 to {PROCESSES} - 1 ({count - 1}), got {index}"
            if count >= 1
            else f"{PROCESSES} must be at least 1, got {count}"
        )
    addresses = [a for a in os.environ[ADDRESSES].split(",") if a.strip()]
    if len(addresses) > 1 and len(addresses) != count:
        raise FsUserError(
            f"{ADDRESSES} lists {len(addresses)} addresses but {PROCESSES} is {count}; give "
            "process 0's address alone, or one per process"
        )
    if ":" not in addresses[0]:
        raise FsUserError(f"{ADDRESSES} must be HOST:PORT, got '{addresses[0]}'")


def _start_processes() -> None:
    """``keras.distribution.initialize()`` from Keras' variables, with JAX's CPU collectives on
    (gloo; a CPU-only cluster has no other way to all-reduce)."""
    from jax._src import xla_bridge  # noqa: PLC0415 (JAX internals: whether its devices started)

    if getattr(xla_bridge, "backends_are_initialized", lambda: False)():
        raise FsUserError(
            "-d multi-worker must start before JAX runs anything in this process; run fs train "
            "in a fresh process"
        )
    if jax.config.jax_cpu_collectives_implementation in (None, "", "none"):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    import keras  # noqa: PLC0415 (Keras' own initialisation reads its environment variables)

    try:
        keras.distribution.initialize()
    except (RuntimeError, ValueError, jax.errors.JaxRuntimeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise FsUserError(
            f"-d multi-worker: could not join the other processes at "
            f"{os.environ[ADDRESSES].split(',')[0]}: {first}"
        ) from None


def replicas_in_sync(strategy: Any) -> int:
    """Replicas in sync across every process: one per device."""
    return len(strategy.devices) if isinstance(strategy, DataParallel) else 1


def worker_devices(strategy: Any) -> tuple[str, ...]:
    """The devices this process computes on."""
    if isinstance(strategy, DataParallel):
        return tuple(str(device) for device in strategy.local)
    return (strategy.device,)


def wrap_distributed_step(
    strategy: Any,
    local_replicas: int,
    replica_step: Callable[[Any], dict],
    jit_compile: bool = False,
) -> Callable[[Any], dict]:
    """The step itself: JAX's compiled step already runs on every device."""
    return replica_step


def make_replica_sum_clipper(clipper: Callable[[list], list], replicas: int) -> Callable:
    """``clipper`` itself: inside JAX's step the gradient is the global batch's already."""
    return clipper
