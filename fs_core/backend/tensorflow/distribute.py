"""TensorFlow's distribution: devices (``-X``, ``allow_growth``), ``tf.distribute`` strategies,
the distributed step, and the all-reduces that keep a multi-replica step equal to one device's.

How a distributed step stays equal to one step on one device is told in
:mod:`fs_core.training.strategy`; this module is the TensorFlow half of it: the per-replica batch
(``experimental_distribute_values_from_function``: no ``tf.data`` pipeline to keep fed, the
loader's own prefetching stays ahead, and the step's input signature never changes, so it is
traced once), ``strategy.run`` with the replicas' mean, :class:`ReplicaSumClipper` and
:func:`replica_mean`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

from fs_core.errors import FsUserError


def configure_devices(exclude_gpus: Sequence[int] = (), allow_growth: bool = False) -> None:
    """Hide GPUs by index and let TensorFlow grow GPU memory on demand.

    Both must happen before TensorFlow initialises its devices (the first op or strategy), which is
    why ``fs train`` calls this before building anything. When TensorFlow already runs (a notebook
    that trained before), asking for a different visible set is refused rather than ignored.
    """
    if not exclude_gpus and not allow_growth:
        return
    gpus = tf.config.list_physical_devices("GPU")
    missing = [i for i in exclude_gpus if i >= len(gpus)]
    if missing:
        raise FsUserError(
            f"-X/--exclude-gpus: no GPU {', '.join(map(str, missing))} "
            f"(this machine shows {len(gpus)} GPU{'s' if len(gpus) != 1 else ''})"
        )
    keep = [gpu for index, gpu in enumerate(gpus) if index not in exclude_gpus]
    try:
        if exclude_gpus:
            tf.config.set_visible_devices(keep, "GPU")
        if allow_growth:
            for gpu in keep:
                tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError as error:  # devices already initialised in this process
        if exclude_gpus and list(tf.config.get_visible_devices("GPU")) != keep:
            raise FsUserError(
                "-X/--exclude-gpus must be set before TensorFlow starts; run fs train "
                f"in a fresh process ({error})"
            ) from None


def replicas_in_sync(strategy: Any) -> int:
    """Replicas in sync across every worker."""
    return int(strategy.num_replicas_in_sync)


def worker_devices(strategy: Any) -> tuple[str, ...]:
    """The devices this worker computes on."""
    return tuple(str(d) for d in strategy.extended.worker_devices)


def distribute_batch(strategy: Any, local_replicas: int, batch: Any) -> Any:
    """This worker's batch as per-replica tensors, each on its replica's device."""
    local = local_replicas
    size = int(len(batch["a"]["input"]))
    if size % local:
        raise ValueError(f"batch of {size} cannot be split over {local} replicas")
    share = size // local

    def value(context: Any) -> Any:
        index = context.replica_id_in_sync_group % local
        return tf.nest.map_structure(
            lambda array: tf.convert_to_tensor(array[index * share : (index + 1) * share]),
            batch,
        )

    return strategy.experimental_distribute_values_from_function(value)


def wrap_distributed_step(
    strategy: Any,
    local_replicas: int,
    replica_step: Callable[[Any], dict],
    jit_compile: bool = False,
) -> Callable[[Any], dict]:
    """A callable taking the worker's batch, running ``replica_step`` on every replica and
    returning each result averaged over all replicas (plain tensors)."""

    def distributed(per_replica: Any) -> dict:
        results = strategy.run(replica_step, args=(per_replica,))
        return {
            key: strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
            for key, value in results.items()
        }

    compiled = tf.function(
        distributed, jit_compile=jit_compile, reduce_retracing=True, autograph=False
    )

    def step(batch: Any) -> dict:
        return compiled(distribute_batch(strategy, local_replicas, batch))

    step.compiled = compiled  # type: ignore[attr-defined]  # tests count its traces
    return step


class ReplicaSumClipper:
    """Makes a gradient clipper see the global gradient under a multi-replica strategy.

    Keras' TF optimizer clips each replica's gradients before it sums them across replicas, so a
    norm limit would apply to a share of the gradient. This wrapper sums first (an all-reduce in
    the replica context), clips the sum with the wrapped clipper, and returns the clipped sum
    divided by the replica count; Keras' own sum then yields exactly the clipped global gradient.
    Outside a replica context (or with one replica) it is the wrapped clipper.
    """

    def __init__(self, clipper: Callable[[list], list], replicas: int) -> None:
        self.clipper = clipper
        self.replicas = int(replicas)

    @property
    def state_variables(self) -> tuple:
        return tuple(getattr(self.clipper, "state_variables", ()))

    def __call__(self, grads: list) -> list:
        context = tf.distribute.get_replica_context()
        if self.replicas < 2 or context is None or context.num_replicas_in_sync < 2:
            return list(self.clipper(grads))
        present = [g for g in grads if g is not None]
        summed = iter(context.all_reduce(tf.distribute.ReduceOp.SUM, present))
        total = [None if g is None else next(summed) for g in grads]
        clipped = self.clipper(total)
        return [None if g is None else g / tf.cast(self.replicas, g.dtype) for g in clipped]


def replica_mean(grads: list) -> list:
    """Every replica's gradients replaced by the replicas' mean (an all-reduce; None stays None).

    Keras' optimizer still sums across replicas afterwards, which then gives the same total as the
    unreduced gradients would have; what changes is that every replica holds identical values, so
    a decision taken from one replica (the loss scaler's finite check) holds for all.
    """
    context = tf.distribute.get_replica_context()
    present = [g for g in grads if g is not None]
    if context is None or context.num_replicas_in_sync < 2 or not present:
        return list(grads)
    reduced = iter(context.all_reduce(tf.distribute.ReduceOp.MEAN, present))
    return [None if g is None else next(reduced) for g in grads]


def make_replica_sum_clipper(clipper: Callable[[list], list], replicas: int) -> ReplicaSumClipper:
    """``clipper`` made to see the global gradient under ``replicas`` replicas."""
    return ReplicaSumClipper(clipper, replicas)


def make_strategy(name: str) -> tuple[Any, int, int]:
    """The strategy for ``-d NAME`` (a known name), this worker's index and the worker count;
    refuses clearly what this machine cannot do."""
    if name == "default":
        return tf.distribute.get_strategy(), 0, 1
    if name == "ddp":
        raise FsUserError(
            "-d ddp is PyTorch's (torch.distributed, started by torchrun); train with "
            "--backend torch, or distribute on TensorFlow with -d mirrored or multi-worker"
        )
    if name == "multi-worker":
        return _multi_worker()
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    if not gpus and len(cpus) < 2:
        raise FsUserError(
            f"-d {name}: no GPU is visible and this process has a single CPU device, "
            "so there is nothing to distribute over; use -d default (or check -X)"
        )
    devices = gpus or cpus
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices), 0, 1
    parameter_device = cpus[0] if len(gpus) != 1 else gpus[0]
    try:
        strategy = tf.distribute.experimental.CentralStorageStrategy(
            compute_devices=devices, parameter_device=parameter_device
        )
    except (ValueError, RuntimeError, NotImplementedError) as error:
        raise FsUserError(
            f"-d central-storage is not available with this TensorFlow/Keras: "
            f"{type(error).__name__}: {error}"
        ) from None
    return strategy, 0, 1


def _multi_worker() -> tuple[Any, int, int]:
    cluster = _read_tf_config()
    workers = cluster["cluster"]["worker"]
    task = cluster["task"]
    index = int(task["index"])
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(
            cluster_resolver=tf.distribute.cluster_resolver.TFConfigClusterResolver()
        )
    except RuntimeError as error:
        raise FsUserError(
            f"-d multi-worker must start before TensorFlow runs anything else in this "
            f"process ({error})"
        ) from None
    return strategy, index, len(workers)


def _read_tf_config() -> dict:
    """``TF_CONFIG`` checked for what fs needs: a worker list and this process's index in it."""
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        raise FsUserError(
            '-d multi-worker needs TF_CONFIG, e.g. TF_CONFIG=\'{"cluster": '
            '{"worker": ["host1:12345", "host2:12345"]}, "task": '
            '{"type": "worker", "index": 0}}\' on each machine'
        )
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise FsUserError(f"TF_CONFIG is not valid JSON: {error}") from None
    workers = config.get("cluster", {}).get("worker") if isinstance(config, dict) else None
    task = config.get("task", {}) if isinstance(config, dict) else {}
    if not isinstance(workers, list) or not workers:
        raise FsUserError("TF_CONFIG has no cluster.worker list of host:port addresses")
    if set(config["cluster"]) - {"worker"}:
        raise FsUserError(
            "TF_CONFIG: -d multi-worker uses workers only (worker 0 is the chief); "
            f"remove {', '.join(sorted(set(config['cluster']) - {'worker'}))}"
        )
    if (
        task.get("type") != "worker"
        or not isinstance(task.get("index"), int)
        or not 0 <= task["index"] < len(workers)
    ):
        raise FsUserError(
            f'TF_CONFIG task must be {{"type": "worker", "index": 0...'
            f"{len(workers) - 1}}}, got {json.dumps(task)}"
        )
    return config
