"""The session's optimizer: the configured plugin, with gradient clipping and loss scaling, and
its saved state restored on resume."""

from __future__ import annotations

from typing import Any

import keras

from fs_core import backend
from fs_core.errors import FsUserError
from fs_core.folder.layout import weights_file
from fs_core.model.weights import has_optimizer_state, load_optimizer_state
from fs_core.training.clipping import make_gradient_clipper
from fs_core.training.session import TrainingSession


def make_optimizer(session: TrainingSession) -> Any:
    options = session.config.global_
    if options.optimizer not in session.registry.optimizers:
        raise FsUserError(
            f"[global] optimizer: '{options.optimizer}' is not installed (installed: "
            f"{', '.join(sorted(session.registry.optimizers))})",
            session.config.path,
        )
    # optimizer slots and the clipper's state live where the model's variables do
    with session.distribution.scope():
        optimizer = _build_optimizer(session, options)
    weights = weights_file(session.request.model_dir)  # a non-chief worker's too
    if session.state.iterations and weights.exists() and has_optimizer_state(weights):
        if load_optimizer_state(weights, optimizer):
            session.print("Optimizer state restored")
    return optimizer


def _build_optimizer(session: TrainingSession, options: Any) -> Any:
    optimizer = session.registry.optimizers[options.optimizer].make(options)
    if options.gradient_clipping != "none" and not hasattr(optimizer, "set_gradient_clipper"):
        # clipping the user asked for is never skipped silently
        raise FsUserError(
            f"[global] gradient_clipping = '{options.gradient_clipping}' needs an optimizer that "
            f"can clip, and optimizer '{options.optimizer}' cannot; set gradient_clipping = "
            "'none' or choose a built-in optimizer",
            session.config.path,
        )
    if options.gradient_clipping != "none":
        # inside the optimizer: clipping sees unscaled, accumulated gradients (as faceswap clips)
        clipper = make_gradient_clipper(options)
        replicas = session.distribution.replicas
        if replicas > 1:  # clip the global gradient, not each replica's share
            clipper = backend.get().make_replica_sum_clipper(clipper, replicas)
        optimizer.set_gradient_clipper(clipper)
    if session.precision is not None and session.precision.policy == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    optimizer.build(session.model.trainable_variables)
    return optimizer
