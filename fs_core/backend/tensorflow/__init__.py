"""The TensorFlow backend: what fs needs of TensorFlow for training and inference, in one package.

Each name here is part of :class:`fs_core.backend.api.Backend`; the submodules group them by job
(the step, distribution, clipping, optimizers, extensions, summaries, devices). Nothing outside
:mod:`fs_core.backend` imports TensorFlow for training (export formats excepted, see
``docs/backends.md``).
"""

from fs_core.backend.tensorflow.clipping import gradient_clipper
from fs_core.backend.tensorflow.devices import (
    detect_gpus,
    out_of_memory_errors,
    physical_devices,
    versions,
)
from fs_core.backend.tensorflow.distribute import (
    configure_devices,
    make_replica_sum_clipper,
    make_strategy,
    replicas_in_sync,
    worker_devices,
    wrap_distributed_step,
)
from fs_core.backend.tensorflow.extensions import (
    colour_statistics_loss,
    counter,
    dssim,
    gaussian_blur,
    keep_mask,
    seed_pair,
)
from fs_core.backend.tensorflow.inference import inference_function, set_random_seed
from fs_core.backend.tensorflow.optimizers import can_fuse, dense, fused_adam_update
from fs_core.backend.tensorflow.step import (
    compile_extended_step,
    compile_function,
    compile_train_step,
    gradients,
    input_gradient,
)
from fs_core.backend.tensorflow.summaries import (
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
