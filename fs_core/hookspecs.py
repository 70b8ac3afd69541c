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

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

import pluggy

PROJECT = "fs_core"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

if TYPE_CHECKING:  # pragma: no cover
    from fs_core.descriptors import (
        AugmenterDescriptor,
        ColorAdjustmentDescriptor,
        InitializerDescriptor,
        LossDescriptor,
        MaskBlendDescriptor,
        ModelDescriptor,
        OptimizerDescriptor,
        SamplerDescriptor,
        ScalerDescriptor,
        TrainingExtensionDescriptor,
        WriterDescriptor,
    )
    from fs_core.training.requests import LoopRequest
    from fs_core.training.session import TrainingSession


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
                                   function=lambda t, p: keras.ops.abs(t - p))]
    """


@hookspec
def fs_losses_not_provided() -> dict[str, str]:
    """Loss names this plugin knows but cannot offer, each with the reason (one line).

    A config that asks for one of them is refused with that reason instead of "unknown loss", and
    ``fs plugins`` lists them. Example::

        @fs_core.hookimpl
        def fs_losses_not_provided():
            return {"lpips_vgg16": "needs pretrained VGG16 weights, which fs does not ship"}
    """


@hookspec
def fs_backends() -> list[str]:
    """The Keras backends everything this plugin provides works on, where not all of them.

    Leave it out when the plugin uses Keras layers and ``keras.ops`` only (it then runs on
    tensorflow, torch and jax). A plugin that calls a framework itself names the backends it was
    written for; ``fs train`` on another one stops before building anything, naming the plugin,
    its pack and these backends. A descriptor's own ``backends`` narrows this for that item.
    Example::

        @fs_core.hookimpl
        def fs_backends():
            return ["tensorflow"]  # the losses call tf.image
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
def fs_samplers() -> list[SamplerDescriptor]:
    """Samplers this plugin provides: which faces each batch takes.

    Example (every face equally often, drawn with replacement)::

        class WithReplacement:
            def __init__(self, inputs):
                self.count, self.rng, self.epoch = inputs.count, inputs.rng, 0

            def take(self, n):
                return self.rng.integers(0, self.count, n)

            def upcoming(self):
                return np.arange(self.count)

        @fs_core.hookimpl
        def fs_samplers():
            return [SamplerDescriptor(name="with_replacement", make=WithReplacement)]
    """


@hookspec
def fs_optimizers() -> list[OptimizerDescriptor]:
    """Optimizers this plugin provides.

    Example::

        @fs_core.hookimpl
        def fs_optimizers():
            def sgd(options):
                return keras.optimizers.SGD(options.learning_rate)

            return [OptimizerDescriptor(name="sgd", make=sgd)]
    """


@hookspec
def fs_convert_colors() -> list[ColorAdjustmentDescriptor]:
    """Colour adjustments for ``fs convert -c``.

    Example::

        @fs_core.hookimpl
        def fs_convert_colors():
            def brighter(new_face, old_face, mask, options):
                return new_face * 1.1

            return [ColorAdjustmentDescriptor(name="brighter", help="10% brighter",
                                              apply=brighter)]
    """


@hookspec
def fs_convert_mask_blends() -> list[MaskBlendDescriptor]:
    """Mask blends for ``fs convert`` (the ``[convert] mask_blend_type`` option).

    Example::

        @fs_core.hookimpl
        def fs_convert_mask_blends():
            return [MaskBlendDescriptor(name="hard", help="0 or 1",
                                        apply=lambda mask, options: (mask > 0.5) * 1.0)]
    """


@hookspec
def fs_convert_scalers() -> list[ScalerDescriptor]:
    """Frame scalers (sharpening) for ``fs convert`` (the ``[convert] sharpen`` option).

    Example::

        @fs_core.hookimpl
        def fs_convert_scalers():
            return [ScalerDescriptor(name="identity", help="no change",
                                     apply=lambda image, options: image)]
    """


@hookspec
def fs_convert_writers() -> list[WriterDescriptor]:
    """Outputs for ``fs convert -w`` (image frames, video ...).

    Example::

        @fs_core.hookimpl
        def fs_convert_writers():
            return [WriterDescriptor(name="npy", help="NumPy arrays", extensions=(".npy",),
                                     open=open_npy_writer)]
    """


@hookspec
def fs_training_extensions() -> list[TrainingExtensionDescriptor]:
    """What this plugin adds to the training step: models trained beside the generator (a patch
    discriminator), loss terms, or a filter on the applied update (docs/plugins.md).

    Example::

        @fs_core.hookimpl
        def fs_training_extensions():
            return [TrainingExtensionDescriptor(name="my_gan", help="my GAN", make=MyGan)]
    """


# ---------------------------------------------------------------- training lifecycle


@hookspec
def fs_train_start(session: TrainingSession) -> None:
    """Training is about to start (the model is built and loaded, the faces are ready).

    :param session: the run (:class:`fs_core.training.session.TrainingSession`): model, config,
        state, request, ``print`` for messages.

    Example::

        @fs_core.hookimpl
        def fs_train_start(session):
            print("training", session.model_name, "in", session.model_dir)
    """


@hookspec
def fs_iteration_end(session: TrainingSession, iteration: int, losses: Mapping[str, float]) -> None:
    """One iteration finished. ``iteration`` is the model's total count; ``losses`` holds
    ``loss_a``, ``loss_b`` and each loss term (``a/ssim``, ``a/ssim_weighted`` ...) as floats.

    :param session: the run (:class:`fs_core.training.session.TrainingSession`): model, config,
        state, request, ``print`` for messages.
    :param iteration: the model's iteration count after this step (all sessions).
    :param losses: loss name -> value; finite (a non-finite step calls ``fs_nan`` instead).

    Example::

        @fs_core.hookimpl
        def fs_iteration_end(iteration, losses):
            if iteration % 100 == 0:
                print(iteration, losses["loss_a"], losses["loss_b"])
    """


@hookspec
def fs_save(session: TrainingSession, model_dir: str, iteration: int, backup: bool) -> None:
    """The model was saved to ``model_dir`` at ``iteration`` (files are complete on disk);
    ``backup`` is True when this save was also copied to the backup (a new lowest average loss).

    :param session: the run (:class:`fs_core.training.session.TrainingSession`): model, config,
        state, request, ``print`` for messages.
    :param model_dir: the folder saved to (``weights.h5``, ``state.toml``).
    :param iteration: the iteration count the saved files hold.
    :param backup: whether the save was also copied to ``backups/`` (False when that backup was
        skipped for lack of disk space).

    Example::

        @fs_core.hookimpl
        def fs_save(model_dir, iteration):
            print("saved", model_dir, "at", iteration)
    """


@hookspec
def fs_nan(
    session: TrainingSession, iteration: int, losses: Mapping[str, float], rolled_back: bool
) -> None:
    """A loss went non-finite at ``iteration``. ``rolled_back`` True: NaN recovery loaded the
    last backup (or save) and training goes on. False: with ``nan_protection`` on, training
    stops without saving (``fs_train_end`` follows with reason "nan"); with it off, training
    goes on from the non-finite weights.

    :param session: the run (:class:`fs_core.training.session.TrainingSession`): model, config,
        state, request, ``print`` for messages.
    :param iteration: the iteration whose step gave the non-finite loss.
    :param losses: loss name -> value, at least one of them NaN or infinite.
    :param rolled_back: whether NaN recovery restored the last backup and training goes on.

    Example::

        @fs_core.hookimpl
        def fs_nan(iteration, losses):
            print("NaN at", iteration, [k for k, v in losses.items() if v != v])
    """


@hookspec
def fs_collapse(session: TrainingSession, event: Mapping[str, object]) -> None:
    """The collapse guard (``[global] collapse_protection``) rolled back: the loss jumped or the
    reconstructions lost their variance, and the last backup (or save) was restored at a lower
    learning rate. Training goes on from the restored weights.

    :param session: the run (:class:`fs_core.training.session.TrainingSession`).
    :param event: what happened, as the session's ``collapse_rollbacks`` entry in ``state.toml``
        holds it: ``iteration``, ``cause`` ("loss jump" or "variance lost"), ``restored_to`` (the
        iteration count restored), ``from`` ("backup" or "last save") and ``learning_rate`` (the
        rate from now on).

    Example::

        @fs_core.hookimpl
        def fs_collapse(event):
            print("collapse at", event["iteration"], "back to", event["restored_to"])
    """


@hookspec
def fs_request_done(session: TrainingSession, request: LoopRequest) -> None:
    """The loop honoured a request a plugin made with ``session.running.ask(...)`` ("save",
    "snapshot", "stop" or "settings", :mod:`fs_core.training.requests`): ``request.outcome`` is
    "done" or "failed" (``request.error`` says why), ``request.iteration`` when it was honoured,
    for a snapshot ``request.snapshot`` the folder's name, and for settings ``request.applied``
    (the changes made) and ``request.rebuild`` (the session ends for a new one). Every plugin
    is told; the one that asked recognises its request (by identity, or by the ``asker`` it
    gave). A plugin never calls the
    loop: it asks between iterations and is answered here.

    :param session: the run (:class:`fs_core.training.session.TrainingSession`).
    :param request: the request, with its outcome filled in.

    Example::

        @fs_core.hookimpl
        def fs_iteration_end(session, iteration):
            if iteration == 1000:
                session.running.ask("snapshot", asker="my plugin")

        @fs_core.hookimpl
        def fs_request_done(request):
            if request.asker == "my plugin":
                print(request.action, request.outcome, "at", request.iteration)
    """


@hookspec
def fs_train_end(
    session: TrainingSession,
    reason: Literal["done", "interrupted", "stopped", "nan", "settings", "error"],
    error: str | None,
) -> None:
    """Training ended: ``reason`` is "done" (iterations reached), "interrupted" (Ctrl-C,
    SIGTERM), "stopped" (a stop request), "nan" (NaN protection), "settings" (a live change of
    settings that needs a new session: the run goes on in one at once) or "error" (an exception,
    whose one-line message is ``error``; it is raised again after this hook). It pairs with
    ``fs_train_start``: it runs however a started session ends, and not for a run that fails
    before training starts.

    :param session: the run (:class:`fs_core.training.session.TrainingSession`): model, config,
        state, request, ``print`` for messages.
    :param reason: why it ended: "done", "interrupted", "stopped", "nan", "settings" or
        "error".
    :param error: the error's one-line message when ``reason`` is "error", else None.

    Example::

        @fs_core.hookimpl
        def fs_train_end(session):
            print("done after", session.state.iterations, "iterations")
    """
