"""PyTorch's distributed training, ``-d ddp``: one process per GPU (or per CPU process), started
by ``torchrun``, on one machine or several, with DistributedDataParallel's semantics.

The strategy (:class:`DataParallel`) joins the process group that ``torchrun`` describes in the
environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``): NCCL on
CUDA or ROCm GPUs, each process on ``cuda:LOCAL_RANK`` (made the current device before the model
is built, so Keras' ``"cuda"`` is that GPU), Gloo on the CPU. The worker index is the rank, the
worker count and the replicas in sync are the world size; worker 0 is the chief, which alone
writes the model folder (:class:`fs_core.training.strategy.Distribution`).

What DistributedDataParallel does, the step does here (:mod:`fs_core.backend.torch.step`):

* before the first step every variable the step touches (the model's, the optimizer's slots and
  iteration count, the training extensions' networks and their optimizers) and the model's
  non-trainable state (BatchNorm statistics, random-generator state) is broadcast from rank 0, so
  every replica starts identical, a resumed run too;
* after the backward pass the gradients are all-reduced, flattened into buckets of about
  :data:`BUCKET_BYTES` (a few large collectives, not one per variable). The core divides each
  replica's loss by the replica count, so the sum is the global batch's mean gradient. The
  reduction comes before ``optimizer.apply``, so the loss scaler's finite check (``mixed_float16``),
  gradient clipping and AutoClip's history all see the same global gradient on every worker;
* the reported losses are the workers' mean (one all-reduce), so NaN protection, the collapse
  guard and the save schedule take the same branch everywhere;
* after each update rank 0's non-trainable state is broadcast again (DDP's ``broadcast_buffers``),
  so the held-out loss and the collapse guard's reconstructions agree between workers.

Why not wrap the model in ``torch.nn.parallel.DistributedDataParallel``: fs's forward pass is the
core's (it calls the Keras model, the encoder and both decoders, from backend-neutral code) and
the training extensions differentiate several losses of one forward pass with
``torch.autograd.grad`` over different variable sets, each applied by its own optimizer.
DistributedDataParallel reduces through hooks that ``backward()`` fires on parameters reached
through its own ``forward``; it does not support ``torch.autograd.grad``, it would reduce a
discriminator's gradients once per loss that reaches it, and it averages on its own (the core's
1/replicas loss would be divided twice). Reducing the finished gradients here is the same
arithmetic for every step fs has, the plain and the extended one. What it gives up is DDP's
overlap of the all-reduce with the backward pass: the reduction runs after it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import torch
import torch.distributed as dist

from fs_core.backend.one_device import OneDevice, make_one_device_strategy
from fs_core.errors import FsUserError

#: what torchrun sets in each process it starts
ENVIRONMENT: tuple[str, ...] = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
#: how to start -d ddp (the fs command is ``python -m fs_core``)
LAUNCH = "torchrun --nproc_per_node=N -m fs_core train ... -d ddp"
#: the size of one all-reduce of gradients (DistributedDataParallel's default bucket)
BUCKET_BYTES = 25 * 2**20


@attrs.define(eq=False)
class DataParallel:
    """``-d ddp``: this process's place in the process group, and the state it keeps equal."""

    device: str
    rank: int
    world_size: int
    local_rank: int
    group_backend: str  # "nccl" or "gloo"
    #: non-trainable variables kept equal to rank 0's after every step (:meth:`share_state`)
    state: list[Any] = attrs.field(factory=list)

    def scope(self) -> contextlib.AbstractContextManager[None]:
        """Nothing to enter: variables live on this process's device (made current at start)."""
        return contextlib.nullcontext()

    def share_state(self, variables: Iterable[Any]) -> None:
        """Keep ``variables`` (non-trainable: BatchNorm statistics and the like) equal to rank 0's:
        the step broadcasts them before the first step and after each."""
        known = {id(variable) for variable in self.state}
        self.state.extend(v for v in variables if id(v) not in known)

    def close(self) -> None:
        """The session's end: the shared state is forgotten; the process group stays for the
        next session of this process (a schedule's next leg), see :func:`start_data_parallel`."""
        self.state.clear()

    def barrier(self) -> None:
        """Wait until every worker has come here (so what the chief wrote before is on disk)."""
        if self.group_backend == "nccl":
            dist.barrier(device_ids=[self.local_rank])
        else:
            dist.barrier()

    # ------------------------------------------------------------------ collectives

    def chief_value(self, value: int) -> int:
        """Rank 0's ``value`` (an integer) on every rank."""
        tensor = torch.tensor([int(value)], dtype=torch.int64, device=self.device)
        dist.broadcast(tensor, src=0)
        return int(tensor.item())

    def broadcast_variables(self, variables: Iterable[Any]) -> None:
        """Every variable (a Keras variable) set to rank 0's value, in buckets."""
        unique: dict[int, Any] = {}
        for variable in variables:
            unique.setdefault(id(variable), variable)
        values = [variable.value for variable in unique.values()]
        with torch.no_grad():
            for bucket in _buckets(values):
                flat = _flatten([values[i] for i in bucket])
                dist.broadcast(flat, src=0)
                for index, piece in zip(bucket, _pieces(flat, [values[i] for i in bucket])):
                    values[index].copy_(piece)

    def sum_gradients(self, gradients: Sequence[Any]) -> list[Any]:
        """The gradients summed over every replica (None stays None; every replica has the same
        None entries, having run the same forward pass), in buckets reduced concurrently."""
        present = [i for i, g in enumerate(gradients) if g is not None]
        dense = [_dense(gradients[i]) for i in present]
        summed: list[Any] = list(gradients)
        pending = []
        for bucket in _buckets(dense):
            flat = _flatten([dense[i] for i in bucket])
            pending.append((bucket, flat, dist.all_reduce(flat, async_op=True)))
        for bucket, flat, work in pending:
            work.wait()
            for index, piece in zip(bucket, _pieces(flat, [dense[i] for i in bucket])):
                summed[present[index]] = piece
        return summed

    def mean_results(self, result: Mapping[str, Any]) -> dict[str, Any]:
        """The step's reported values averaged over the workers (one all-reduce)."""
        keys = list(result)
        device = torch.device(self.device)
        values = torch.stack(
            [
                torch.as_tensor(result[k]).detach().to(device=device, dtype=torch.float32)
                for k in keys
            ]
        )
        dist.all_reduce(values)
        values = values / float(self.world_size)
        return {key: values[i] for i, key in enumerate(keys)}


def _dense(gradient: Any) -> Any:
    return gradient.to_dense() if gradient.is_sparse else gradient


def _buckets(tensors: Sequence[Any]) -> list[list[int]]:
    """Indices of ``tensors`` grouped by dtype and device, cut into buckets of at most
    :data:`BUCKET_BYTES` (a tensor larger than that is a bucket of its own)."""
    groups: dict[tuple[Any, Any], list[int]] = {}
    for index, tensor in enumerate(tensors):
        groups.setdefault((tensor.dtype, tensor.device), []).append(index)
    buckets: list[list[int]] = []
    for indices in groups.values():
        current: list[int] = []
        size = 0
        for index in indices:
            nbytes = tensors[index].numel() * tensors[index].element_size()
            if current and size + nbytes > BUCKET_BYTES:
                buckets.append(current)
                current, size = [], 0
            current.append(index)
            size += nbytes
        if current:
            buckets.append(current)
    return buckets


def _flatten(tensors: Sequence[Any]) -> Any:
    return torch.cat([tensor.detach().reshape(-1) for tensor in tensors])


def _pieces(flat: Any, like: Sequence[Any]) -> list[Any]:
    """``flat`` cut back into tensors shaped as ``like``."""
    pieces, offset = [], 0
    for tensor in like:
        count = tensor.numel()
        pieces.append(flat[offset : offset + count].view_as(tensor))
        offset += count
    return pieces


# ------------------------------------------------------------------------------- the strategy


def _environment() -> dict[str, str]:
    """torchrun's variables, or a one-line error saying how to launch."""
    missing = [name for name in ENVIRONMENT if not os.environ.get(name)]
    if missing:
        raise FsUserError(
            f"-d ddp runs one process per GPU, started by torchrun ({', '.join(missing)} not "
            f"set): {LAUNCH}"
        )
    return {name: os.environ[name] for name in ENVIRONMENT}


def _device(local_rank: int) -> str:
    """This process's device: ``cuda:LOCAL_RANK`` (made current), else the CPU."""
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        if local_rank >= count:
            raise FsUserError(
                f"-d ddp: LOCAL_RANK {local_rank} but this machine shows {count} GPU"
                f"{'s' if count != 1 else ''}; start at most {count} processes per machine "
                "(torchrun --nproc_per_node)"
            )
        torch.cuda.set_device(local_rank)
        return f"cuda:{local_rank}"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        raise FsUserError(
            "-d ddp: torch.distributed cannot reduce Apple MPS tensors; train on one device "
            "(-d default)"
        )
    return "cpu"


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def start_data_parallel() -> DataParallel:
    """Join torchrun's process group, or the one this process joined for an earlier session.

    The group is made once per process and destroyed when it exits: made again after a destroy,
    the default group reads its peers' addresses from torchrun's store, which still holds the old
    group's, and the first collective fails. Each session starts with a barrier, so a worker
    builds and loads the model only once the chief has finished the previous session's saves. (A
    schedule plans its next leg from the model folder before this, so it waits at a barrier of its
    own first: :meth:`fs_core.training.strategy.Distribution.barrier`.)
    """
    env = _environment()
    try:
        rank, world, local = int(env["RANK"]), int(env["WORLD_SIZE"]), int(env["LOCAL_RANK"])
    except ValueError:
        raise FsUserError(
            "-d ddp: RANK, WORLD_SIZE and LOCAL_RANK must be integers (torchrun sets them)"
        ) from None
    device = _device(local)
    group_backend = "nccl" if device.startswith("cuda") and dist.is_nccl_available() else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(group_backend, init_method="env://")
        atexit.register(_leave)
    parallel = DataParallel(
        device=device,
        rank=rank,
        world_size=world,
        local_rank=local,
        group_backend=group_backend,
    )
    parallel.barrier()
    return parallel


def make_strategy(name: str, default_device: Any) -> tuple[Any, int, int]:
    """The strategy for ``-d NAME`` (``default_device()``: the one-device strategy's device),
    this worker's index and the worker count."""
    if name == "ddp":
        strategy = start_data_parallel()
        return strategy, strategy.rank, strategy.world_size
    if name == "default":
        return make_one_device_strategy(name, "torch", default_device)
    raise FsUserError(
        f"-d {name} is TensorFlow's (tf.distribute); on the torch backend distribute with "
        f"-d ddp, started by torchrun ({LAUNCH}), or use --backend tensorflow"
    )


def parallel_of(distribution: Any) -> DataParallel | None:
    """The :class:`DataParallel` strategy of a session's distribution, or None (one device)."""
    strategy = getattr(distribution, "strategy", None)
    return strategy if isinstance(strategy, DataParallel) else None


def replicas_in_sync(strategy: Any) -> int:
    """Replicas in sync across every worker: the world size under ``-d ddp``, else one."""
    return strategy.world_size if isinstance(strategy, DataParallel) else 1


def worker_devices(strategy: Any) -> tuple[str, ...]:
    """The device this worker computes on."""
    assert isinstance(strategy, DataParallel | OneDevice)
    return (strategy.device,)


def make_replica_sum_clipper(clipper: Any, replicas: int) -> Any:
    """``clipper`` itself: under ``-d ddp`` the step hands ``optimizer.apply`` gradients already
    summed over every replica (:meth:`DataParallel.sum_gradients`), so the clipper, called inside
    ``apply``, sees the global gradient; there is no per-replica share to undo."""
    return clipper
