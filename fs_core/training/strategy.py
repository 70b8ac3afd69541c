"""Where training runs: device options (``-X``, ``allow_growth``) and ``-d`` distribution
strategies.

``default`` trains on one device exactly as before. ``mirrored`` copies the model to every visible
GPU (or, with no GPU, to several logical CPU devices when a program configured them: tests do) and
sums the replicas' gradients. ``central-storage`` keeps the variables on one device (the CPU when
several GPUs compute) and computes on all; Keras 3 has no tests for it, but with Keras 3.15 and
TF 2.21 its steps equal one device's (tests/test_distribute.py), so it is offered. ``multi-worker``
is ``MultiWorkerMirroredStrategy`` over the machines that ``TF_CONFIG`` lists, so training scales
past one machine.

How a distributed step stays equal to one step on one device with the same global batch:

* the loader builds this worker's share of the global batch and :meth:`Distribution.distribute`
  slices it into per-replica tensors on each replica's device
  (``experimental_distribute_values_from_function``: no ``tf.data`` pipeline to keep fed, the
  loader's own prefetching stays ahead, and the step's input signature never changes, so it is
  traced once);
* each replica's loss is its batch mean divided by the replica count, and Keras' TF optimizer
  all-reduces (sums) the gradients, so the update sees the global batch mean;
* Keras clips *before* that all-reduce, on one replica's share; :class:`ReplicaSumClipper` sums
  the gradients first so clipping (and AutoClip's norm history) sees the global gradient, then
  hands back a share that Keras' sum restores;
* with ``mixed_float16`` the gradients are averaged over replicas before the loss scaler checks
  them (:func:`replica_mean`), because Keras takes that check from the first replica only;
* the reported losses are the replicas' mean, identical on every worker, so NaN protection and
  the save schedule take the same branch everywhere (multi-worker collectives require that).

Saving under ``multi-worker``: every worker runs every save at the same iterations (writing the
HDF5 file reads variables and needs no collective today, but keeping the workers' programs
identical means a later save that does use one cannot deadlock). Worker 0, the chief, writes the
model folder; the others write to a private scratch folder (:meth:`Distribution.save_dir`) that is
removed when training ends, so the chief's files are never written over. Every worker reads the
model folder when resuming.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from fs_core.errors import FsUserError

STRATEGIES: tuple[str, ...] = ("default", "mirrored", "central-storage", "multi-worker")


# ---------------------------------------------------------------------------------------- devices


def parse_gpu_ids(values: Sequence[str] | str | None) -> tuple[int, ...]:
    """``-X 0 2`` or ``-X 0,2`` -> (0, 2); a bad id is a user error."""
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    ids: list[int] = []
    for text in values:
        for part in str(text).replace(",", " ").split():
            if not part.isdigit():
                raise FsUserError(f"-X/--exclude-gpus takes GPU indices (0, 1, ...), got '{part}'")
            if int(part) not in ids:
                ids.append(int(part))
    return tuple(ids)


def configure_devices(exclude_gpus: Sequence[int] = (), allow_growth: bool = False) -> None:
    """Hide GPUs by index and let TensorFlow grow GPU memory on demand.

    Both must happen before TensorFlow initialises its devices (the first op or strategy), which is
    why ``fs train`` calls this before building anything. When TensorFlow already runs (a notebook
    that trained before), asking for a different visible set is refused rather than ignored.
    """
    if not exclude_gpus and not allow_growth:
        return
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow: training.strategy loads without it)

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


# ------------------------------------------------------------------------------------ strategies


@attrs.define(eq=False)
class Distribution:
    """A strategy and what the trainer needs to know about it (replicas, this worker's role)."""

    name: str
    strategy: Any  # tf.distribute.Strategy
    worker_index: int = 0
    worker_count: int = 1
    scratch_dir: Path | None = None  # a non-chief worker's save folder (removed by close())

    @property
    def replicas(self) -> int:
        """Replicas in sync across every worker."""
        return int(self.strategy.num_replicas_in_sync)

    @property
    def local_replicas(self) -> int:
        """Replicas on this worker (the devices this process computes on)."""
        return int(self.replicas // self.worker_count)

    @property
    def is_chief(self) -> bool:
        return self.worker_index == 0

    @property
    def devices(self) -> tuple[str, ...]:
        return tuple(str(d) for d in self.strategy.extended.worker_devices)

    def describe(self) -> str:
        short = ", ".join(d.split("/device:")[-1] for d in self.devices)
        text = f"{self.name}: {self.replicas} replica{'s' if self.replicas != 1 else ''} ({short})"
        if self.worker_count > 1:
            text += f", worker {self.worker_index} of {self.worker_count}"
        return text

    def scope(self) -> Any:
        """Create the model, the optimizer and the clipper inside this."""
        return self.strategy.scope()

    def global_batch(self, requested: int, notify: Callable[[str], None]) -> int:
        """The batch size, raised to a multiple of the replica count (each replica gets an equal
        share, or the gradient sum would weight some faces more than others)."""
        replicas = self.replicas
        if requested % replicas == 0:
            return requested
        raised = -(-requested // replicas) * replicas
        notify(
            f"Batch size {requested} raised to {raised}: it must be a multiple of the "
            f"{replicas} replicas of -d {self.name}"
        )
        return raised

    def local_batch(self, global_batch: int) -> int:
        """The faces per side that this worker's loader builds per iteration."""
        return global_batch // self.worker_count

    def loader_seed(self, seed: int) -> int:
        """Workers draw different faces (same model seed, different data): worker 0 keeps ``seed``,
        so a one-worker run repeats a default run's batches."""
        return seed + self.worker_index

    def save_dir(self, model_dir: Path) -> Path:
        """Where this worker saves: the model folder for the chief, a private scratch folder for
        the others (they run the same saves, so every worker stays in step, without writing over
        the chief's files)."""
        if self.is_chief:
            return model_dir
        if self.scratch_dir is None:
            self.scratch_dir = Path(tempfile.mkdtemp(prefix=f"fs_worker{self.worker_index}_"))
        return self.scratch_dir

    def close(self) -> None:
        if self.scratch_dir is not None:
            shutil.rmtree(self.scratch_dir, ignore_errors=True)
            self.scratch_dir = None

    # ------------------------------------------------------------------ the step

    def distribute(self, batch: Any) -> Any:
        """This worker's batch as per-replica tensors, each on its replica's device."""
        import tensorflow as tf  # noqa: PLC0415 (TensorFlow: training.strategy loads without it)

        local = self.local_replicas
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

        return self.strategy.experimental_distribute_values_from_function(value)

    def wrap_step(
        self, replica_step: Callable[[Any], dict], jit_compile: bool = False
    ) -> Callable[[Any], dict]:
        """A callable taking the worker's batch, running ``replica_step`` on every replica and
        returning each result averaged over all replicas (plain tensors)."""
        import tensorflow as tf  # noqa: PLC0415 (TensorFlow: training.strategy loads without it)

        strategy = self.strategy

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
            return compiled(self.distribute(batch))

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
        import tensorflow as tf  # noqa: PLC0415 (TensorFlow: training.strategy loads without it)

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
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow: training.strategy loads without it)

    context = tf.distribute.get_replica_context()
    present = [g for g in grads if g is not None]
    if context is None or context.num_replicas_in_sync < 2 or not present:
        return list(grads)
    reduced = iter(context.all_reduce(tf.distribute.ReduceOp.MEAN, present))
    return [None if g is None else next(reduced) for g in grads]


def make_distribution(name: str) -> Distribution:
    """The strategy ``-d NAME`` asks for; refuses clearly what this machine cannot do."""
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow: training.strategy loads without it)

    if name not in STRATEGIES:
        raise FsUserError(f"-d/--distributed must be one of {', '.join(STRATEGIES)}; got '{name}'")
    if name == "default":
        return Distribution(name, tf.distribute.get_strategy())
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
        return Distribution(name, tf.distribute.MirroredStrategy(devices))
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
    return Distribution(name, strategy)


def _multi_worker() -> Distribution:
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow: training.strategy loads without it)

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
    return Distribution("multi-worker", strategy, worker_index=index, worker_count=len(workers))


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
