"""The hooks of fs: the one place that says what a plugin can provide or observe.

A plugin is a module (or object) with functions marked ``@fs_core.hookimpl`` and named after these
specs. Packs are found through the entry point group ``fs_core``; the core's own built-ins are
registered by the same manager in the same way, before entry points.

Registration hooks return a list of descriptors (:mod:`fs_core.descriptors`). Lifecycle hooks are
called by the training loop; reporting (status line, previews, TensorBoard) is built from them.
An implementation may accept a subset of a hook's arguments, so new arguments can be added later
without breaking plugins.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import pluggy

PROJECT = "fs_core"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

if TYPE_CHECKING:  # pragma: no cover
    from fs_core.descriptors import (AugmenterDescriptor, InitializerDescriptor, LossDescriptor,
                                     ModelDescriptor, OptimizerDescriptor)


# ---------------------------------------------------------------- registration

@hookspec
def fs_models() -> list[ModelDescriptor]:
    """Model architectures this plugin provides.

    Example::

        @fs_core.hookimpl
        def fs_models():
            return [ModelDescriptor(name="tiny", help="A tiny model", config_class=TinyConfig,
                                    build=build_tiny)]
    """


@hookspec
def fs_losses() -> list[LossDescriptor]:
    """Loss functions this plugin provides.

    Example::

        @fs_core.hookimpl
        def fs_losses():
            return [LossDescriptor(name="mae", per_pixel=True,
                                   function=lambda t, p: tf.abs(t - p))]
    """


@hookspec
def fs_initializers() -> list[InitializerDescriptor]:
    """Kernel initializers this plugin provides.

    Example::

        @fs_core.hookimpl
        def fs_initializers():
            return [InitializerDescriptor(name="he_uniform", make=keras.initializers.HeUniform)]
    """


@hookspec
def fs_augmenters() -> list[AugmenterDescriptor]:
    """Batch augmenters this plugin provides.

    Example::

        @fs_core.hookimpl
        def fs_augmenters():
            return [AugmenterDescriptor(name="invert", stage=40, apply=invert_in_place)]
    """


@hookspec
def fs_optimizers() -> list[OptimizerDescriptor]:
    """Optimizers this plugin provides.

    Example::

        @fs_core.hookimpl
        def fs_optimizers():
            return [OptimizerDescriptor(name="sgd", make=lambda o: keras.optimizers.SGD(o.learning_rate))]
    """


# ---------------------------------------------------------------- training lifecycle

@hookspec
def fs_train_start(session: Any) -> None:
    """Training is about to start; ``session`` is the :class:`fs_core.training.session.TrainingSession`.

    Example::

        @fs_core.hookimpl
        def fs_train_start(session):
            print("training", session.model_name, "in", session.model_dir)
    """


@hookspec
def fs_iteration_end(session: Any, iteration: int, losses: Mapping[str, float]) -> None:
    """One iteration finished. ``iteration`` is the model's total count; ``losses`` holds
    ``loss_a``, ``loss_b`` and each loss term (``a/ssim``, ``a/ssim_weighted`` ...) as floats.

    Example::

        @fs_core.hookimpl
        def fs_iteration_end(iteration, losses):
            if iteration % 100 == 0:
                print(iteration, losses["loss_a"], losses["loss_b"])
    """


@hookspec
def fs_save(session: Any, model_dir: str, iteration: int, backup: bool) -> None:
    """The model was saved to ``model_dir`` at ``iteration`` (files are complete on disk);
    ``backup`` is True when this save was also copied to the backup (a new lowest average loss).

    Example::

        @fs_core.hookimpl
        def fs_save(model_dir, iteration):
            print("saved", model_dir, "at", iteration)
    """


@hookspec
def fs_nan(session: Any, iteration: int, losses: Mapping[str, float], rolled_back: bool) -> None:
    """A loss went non-finite at ``iteration``. ``rolled_back``: NaN recovery loaded the last
    backup and training goes on; otherwise training stops without saving (with NaN protection).

    Example::

        @fs_core.hookimpl
        def fs_nan(iteration, losses):
            print("NaN at", iteration, [k for k, v in losses.items() if v != v])
    """


@hookspec
def fs_train_end(session: Any, reason: str, error: str | None) -> None:
    """Training ended: ``reason`` is "done" (iterations reached), "interrupted" (Ctrl-C,
    SIGTERM), "stopped" (a stop request), "nan" (NaN protection) or "error" (an exception, whose
    one-line message is ``error``; it is raised again after this hook).

    Example::

        @fs_core.hookimpl
        def fs_train_end(session):
            print("done after", session.state.iterations, "iterations")
    """
