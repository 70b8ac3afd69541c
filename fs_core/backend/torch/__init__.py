"""The PyTorch backend: what fs needs of torch for training, for Keras' torch backend.

Each name here is part of :class:`fs_core.backend.api.Backend`, as in
:mod:`fs_core.backend.tensorflow`; the step runs eagerly as Keras' own torch trainer runs it. One
device (``-d default``) or one process per device under ``torchrun`` (``-d ddp``,
:mod:`fs_core.backend.torch.distribute`); TensorBoard files come from
:mod:`fs_core.backend.tbfiles`. What works and what does not yet is listed in ``docs/backends.md``.
"""

from fs_core.backend.one_device import wrap_distributed_step
from fs_core.backend.tbfiles import (
    create_summary_writer,
    parse_event,
    scalar_value,
    text_value,
)
from fs_core.backend.torch.clipping import gradient_clipper
from fs_core.backend.torch.devices import (
    configure_devices,
    detect_gpus,
    make_strategy,
    out_of_memory_errors,
    physical_devices,
    versions,
)
from fs_core.backend.torch.distribute import (
    make_replica_sum_clipper,
    replicas_in_sync,
    worker_devices,
)
from fs_core.backend.torch.extensions import (
    colour_statistics_loss,
    counter,
    dssim,
    gaussian_blur,
    keep_mask,
    seed_pair,
)
from fs_core.backend.torch.inference import inference_function, set_random_seed
from fs_core.backend.torch.optimizers import can_fuse, dense, fused_adam_update
from fs_core.backend.torch.step import (
    compile_extended_step,
    compile_function,
    compile_train_step,
    gradients,
    input_gradient,
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
