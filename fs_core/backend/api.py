"""What a backend implements: the interface :func:`fs_core.backend.get` returns.

Each Keras backend supplies one module with these names (``fs_core.backend.tensorflow`` now). The
backend-neutral part of training stays in the core: the forward pass and the loss composition
(``forward(batch) -> (total, results)``) are written with Keras layers and ``keras.ops``; the
backend only differentiates, applies and compiles around them, as Keras 3's own per-backend
trainers do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

#: ``forward(batch) -> (loss to differentiate, results to report)``, traced inside the step
Forward = Callable[[Any], tuple[Any, dict]]

#: a model's inference call: its inputs as the model takes them (NumPy; a list for several) -> its
#: outputs as a list of float32 NumPy arrays, in order
Inference = Callable[[Any], list[Any]]


class SummaryWriter(Protocol):
    """A TensorBoard event-file writer."""

    def write_scalars(self, steps: Iterable[tuple[int, Mapping[str, float]]]) -> None: ...
    def write_text(self, name: str, text: str, step: int) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class Backend(Protocol):
    """The functions and classes a backend module provides."""

    # -- the training step
    def compile_train_step(
        self,
        forward: Forward,
        variables: Sequence[Any],
        optimizer: Any,
        distribution: Any = None,
    ) -> Callable[[dict], dict]: ...
    def compile_extended_step(
        self,
        forward: Callable[[Any], tuple[Any, dict, dict]],
        variables: Sequence[Any],
        optimizer: Any,
        own_variables: Mapping[str, Sequence[Any]],
        own_optimizers: Mapping[str, Any],
        filters: Sequence[Any],
        distribution: Any = None,  # passed only under several replicas (-d ddp on torch)
    ) -> Callable[[dict], dict]: ...
    def compile_function(self, function: Callable) -> Callable: ...
    def gradients(
        self, loss: Callable[[], Any], variables: Sequence[Any]
    ) -> tuple[Any, list[Any]]: ...
    def input_gradient(self, loss: Callable[[Any], Any], value: Any) -> Any: ...

    # -- inference outside the step (previews, held-out losses, the collapse guard, swap, convert)
    def inference_function(self, model: Any, bulk: bool = False) -> Inference: ...

    # -- seeding (Python, NumPy and the framework's own generator, nothing else)
    def set_random_seed(self, seed: int) -> None: ...

    # -- optimizers and clipping
    def gradient_clipper(self, method: str, value: float, history: int) -> Any: ...

    def make_replica_sum_clipper(self, clipper: Callable, replicas: int) -> Callable: ...
    def dense(self, gradient: Any) -> Any: ...
    def fused_adam_update(
        self,
        variable: Any,
        m: Any,
        v: Any,
        v_hat: Any,
        gradient: Any,
        *,
        beta1_power: Any,
        beta2_power: Any,
        lr: Any,
        beta1: Any,
        beta2: Any,
        epsilon: Any,
    ) -> None: ...
    def can_fuse(self, variable: Any, gradient: Any) -> bool: ...

    # -- training extensions
    def keep_mask(self, shape: Any, rate: float, seed: Any) -> Any: ...
    def seed_pair(self, first: int, step: Any) -> Any: ...
    def counter(self, start: int) -> Any: ...
    def gaussian_blur(self, images: Any, radius: int) -> Any: ...
    def colour_statistics_loss(self, pred: Any, target: Any) -> Any: ...
    def dssim(self, pred: Any, target: Any, window: int) -> Any: ...

    # -- devices, precision and distribution
    def configure_devices(self, exclude_gpus: Sequence[int], allow_growth: bool) -> None: ...
    def detect_gpus(self) -> tuple[tuple[str, tuple[int, int] | None], ...]: ...
    def make_strategy(self, name: str) -> tuple[Any, int, int]: ...
    def replicas_in_sync(self, strategy: Any) -> int: ...
    def worker_devices(self, strategy: Any) -> tuple[str, ...]: ...
    def wrap_distributed_step(
        self,
        strategy: Any,
        local_replicas: int,
        replica_step: Callable[[Any], dict],
        jit_compile: bool = False,
    ) -> Callable[[Any], dict]: ...
    def out_of_memory_errors(self) -> tuple[type[BaseException], ...]: ...
    def versions(self) -> str: ...
    def physical_devices(self) -> list[str]: ...

    # -- summaries
    def create_summary_writer(
        self, folder: Path, max_queue: int, flush_millis: int
    ) -> SummaryWriter: ...
    def parse_event(self, record: bytes) -> Any: ...
    def scalar_value(self, value: Any) -> float | None: ...
    def text_value(self, value: Any) -> str: ...
