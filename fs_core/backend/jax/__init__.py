"""The JAX backend: what fs needs of JAX for training, in one package, with the same names as
:mod:`fs_core.backend.tensorflow` (:class:`fs_core.backend.api.Backend`).

The step (:mod:`~fs_core.backend.jax.step`) makes fs's stateful forward pass and optimizers pure
functions of the Keras variables' values, as Keras 3's JAX trainer does, and compiles them with
``jax.jit``, on one device or data parallel over several (:mod:`~fs_core.backend.jax.distribute`;
``docs/backends.md`` says what works and what does not yet).
"""

from fs_core.backend.jax.clipping import gradient_clipper
from fs_core.backend.jax.devices import (
    configure_devices,
    detect_gpus,
    out_of_memory_errors,
    physical_devices,
    versions,
)
from fs_core.backend.jax.distribute import (
    make_replica_sum_clipper,
    make_strategy,
    replicas_in_sync,
    worker_devices,
    wrap_distributed_step,
)
from fs_core.backend.jax.extensions import (
    colour_statistics_loss,
    counter,
    dssim,
    gaussian_blur,
    keep_mask,
    seed_pair,
)
from fs_core.backend.jax.inference import inference_function, set_random_seed
from fs_core.backend.jax.optimizers import can_fuse, dense, fused_adam_update
from fs_core.backend.jax.step import (
    compile_extended_step,
    compile_function,
    compile_train_step,
    gradients,
    input_gradient,
)
from fs_core.backend.jax.summaries import (
    create_summary_writer,
    parse_event,
    scalar_value,
    text_value,
)

__all__ = [
    "can_fuse",
    "colour_statistics_loss",
    "compile_extended_step",
    "compile_function",
    "compile_train_step",
    "configure_devices",
    "counter",
    "create_summary_writer",
    "dense",
    "detect_gpus",
    "dssim",
    "fused_adam_update",
    "gaussian_blur",
    "gradient_clipper",
    "gradients",
    "inference_function",
    "input_gradient",
    "keep_mask",
    "make_replica_sum_clipper",
    "make_strategy",
    "out_of_memory_errors",
    "parse_event",
    "physical_devices",
    "replicas_in_sync",
    "scalar_value",
    "seed_pair",
    "set_random_seed",
    "text_value",
    "versions",
    "worker_devices",
    "wrap_distributed_step",
]
