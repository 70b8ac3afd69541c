"""Where training runs: device options (``-X``, ``allow_growth``) and ``-d`` distribution
strategies.

``default`` trains on one device exactly as before. ``mirrored`` copies the model to every visible
GPU (or, with no GPU, to several logical CPU devices when a program configured them: tests do) and
sums the replicas' gradients. ``central-storage`` keeps the variables on one device (the CPU when
several GPUs compute) and computes on all; Keras 3 has no tests for it, but with Keras 3.15 and
TF 2.21 its steps equal one device's (tests/test_distribute.py), so it is offered. ``multi-worker``
is ``MultiWorkerMirroredStrategy`` over the machines that ``TF_CONFIG`` lists, so training scales
past one machine. ``ddp`` is PyTorch's: one process per GPU started by ``torchrun``, on one
machine or several (:mod:`fs_core.backend.torch.distribute`); each process is a worker.

How a distributed step stays equal to one step on one device with the same global batch:

* the loader builds this worker's share of the global batch and the backend slices it into
  per-replica tensors on each replica's device (the step's input signature never changes, so it
  is traced once);
* each replica's loss is its batch mean divided by the replica count, and Keras' TF optimizer
  all-reduces (sums) the gradients, so the update sees the global batch mean;
* Keras clips *before* that all-reduce, on one replica's share; the backend's
  ``ReplicaSumClipper`` sums the gradients first so clipping (and AutoClip's norm history) sees
  the global gradient, then hands back a share that Keras' sum restores;
* with ``mixed_float16`` the gradients are averaged over replicas before the loss scaler checks
  them (the backend's ``replica_mean``), because Keras takes that check from the first replica only;
* the reported losses are the replicas' mean, identical on every worker, so NaN protection and
  the save schedule take the same branch everywhere (multi-worker collectives require that).

Saving under ``multi-worker``: every worker runs every save at the same iterations (writing the
HDF5 file reads variables and needs no collective today, but keeping the workers' programs
identical means a later save that does use one cannot deadlock). Worker 0, the chief, writes the
model folder; the others write to a private scratch folder (:meth:`Distribution.save_dir`) that is
removed when training ends, so the chief's files are never written over. Every worker reads the
model folder when resuming. Under ``ddp`` the chief alone holds the model folder's lock (the
workers share the folder by design; a second ``fs train`` on it is still refused), and the
preview, the timelapse and the training record are the chief's alone.

The framework's half of all this (devices, strategies, the per-replica step and its all-reduces)
is the backend's (:mod:`fs_core.backend`, ``distribute`` in TensorFlow's); this module keeps what
every framework shares. On JAX (:mod:`fs_core.backend.jax.distribute`) ``mirrored`` and
``multi-worker`` compile one step over every device of every process: its loss is already the
global batch's mean (no division per replica, :attr:`Distribution.loss_divisor`) and the clipper
sees the global gradient as it is; the per-worker batch, seeds and chief-only saving are as above.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from fs_core import backend
from fs_core.errors import FsUserError

STRATEGIES: tuple[str, ...] = ("default", "mirrored", "central-storage", "multi-worker", "ddp")


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
    """Hide GPUs by index and let the framework grow GPU memory on demand.

    Both must happen before the framework initialises its devices (the first op or strategy),
    which is why ``fs train`` calls this before building anything. When it already runs (a
    notebook that trained before), asking for a different visible set is refused rather than
    ignored.
    """
    if not exclude_gpus and not allow_growth:
        return
    backend.get().configure_devices(exclude_gpus, allow_growth)


# ------------------------------------------------------------------------------------ strategies


@attrs.define(eq=False)
class Distribution:
    """A strategy and what the trainer needs to know about it (replicas, this worker's role)."""

    name: str
    strategy: Any  # the backend's strategy (a tf.distribute.Strategy for TensorFlow)
    worker_index: int = 0
    worker_count: int = 1
    scratch_dir: Path | None = None  # a non-chief worker's save folder (removed by close())

    @property
    def replicas(self) -> int:
        """Replicas in sync across every worker."""
        return backend.get().replicas_in_sync(self.strategy)

    @property
    def local_replicas(self) -> int:
        """Replicas on this worker (the devices this process computes on)."""
        return int(self.replicas // self.worker_count)

    @property
    def loss_divisor(self) -> int:
        """What the step divides its loss by so the update sees the global batch's mean: the
        replica count where the framework sums the replicas' gradients (``tf.distribute``), 1
        where the step differentiates the global batch's loss itself (JAX's)."""
        return 1 if getattr(self.strategy, "global_loss", False) else self.replicas

    @property
    def is_chief(self) -> bool:
        return self.worker_index == 0

    @property
    def devices(self) -> tuple[str, ...]:
        return backend.get().worker_devices(self.strategy)

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
        close = getattr(self.strategy, "close", None)  # a process group to leave (-d ddp)
        if close is not None:
            close()

    def barrier(self) -> None:
        """Wait until every worker of the run has come here; nothing to wait for with one.

        The non-chief workers read the chief's model folder (its state decides what a schedule's
        next leg trains): past this point, every save the chief made before it is on disk. A
        strategy without a barrier of its own runs on: ``tf.distribute``'s, whose non-chief workers
        of a schedule may still plan a leg from a state the chief is about to replace."""
        wait = getattr(self.strategy, "barrier", None)
        if wait is not None and self.worker_count > 1:
            wait()

    def chief_value(self, value: int) -> int:
        """The chief's ``value`` on every worker (a fresh random seed they must all share);
        ``value`` itself with one worker or a strategy that cannot send it."""
        send = getattr(self.strategy, "chief_value", None)
        return int(send(value)) if send is not None and self.worker_count > 1 else value

    def share_state(self, variables: Sequence[Any]) -> None:
        """Non-trainable variables (BatchNorm statistics and the like) every worker must hold
        equal; a strategy that copies variables itself (``tf.distribute``) needs no telling."""
        share = getattr(self.strategy, "share_state", None)
        if share is not None:
            share(variables)

    # ------------------------------------------------------------------ the step

    def wrap_step(
        self, replica_step: Callable[[Any], dict], jit_compile: bool = False
    ) -> Callable[[Any], dict]:
        """A callable taking the worker's batch, running ``replica_step`` on every replica and
        returning each result averaged over all replicas (plain tensors)."""
        return backend.get().wrap_distributed_step(
            self.strategy, self.local_replicas, replica_step, jit_compile
        )


def locks_model_folder(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process holds the model folder's lock for the run (a second ``fs train`` on
    the folder is refused). The workers of one run share the folder: under ``multi-worker`` none
    locks it; under ``ddp`` the chief does (``torchrun``'s ``RANK`` 0; known before the strategy
    starts, and a folder another run holds then stops the launch before any worker trains)."""
    if name == "multi-worker":
        return False
    if name == "ddp":
        return (os.environ if environ is None else environ).get("RANK", "0").strip() == "0"
    return True


def make_distribution(name: str) -> Distribution:
    """The strategy ``-d NAME`` asks for; refuses clearly what this machine cannot do."""
    if name not in STRATEGIES:
        raise FsUserError(f"-d/--distributed must be one of {', '.join(STRATEGIES)}; got '{name}'")
    strategy, index, count = backend.get().make_strategy(name)
    return Distribution(name, strategy, worker_index=index, worker_count=count)
