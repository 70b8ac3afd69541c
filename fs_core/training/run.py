"""``fs train`` end to end: check the request, load the config and model descriptor once, scan
the faces, then for each session (one, or one per schedule leg): build its setup
(:func:`fs_core.training.session.prepare_session`, then :mod:`fs_core.training.build`), open its
``[[sessions]]`` entry (:mod:`fs_core.training.session_record`) and train
(:mod:`fs_core.training.loop`).

Every check that can fail on user input runs before the model folder is touched, so a bad
invocation never changes a saved model.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs
import keras

from fs_core import backend
from fs_core.config import Config, load_config
from fs_core.data.scan import FolderScan, start_scans
from fs_core.errors import FsUserError
from fs_core.folder.layout import live_settings_file
from fs_core.folder.live_settings import read_live_settings
from fs_core.folder.model_files import training_lock
from fs_core.model.build import get_descriptor
from fs_core.training import build, legs, live
from fs_core.training.loop import StopReason, train
from fs_core.training.plugin_backends import check_plugin_backends
from fs_core.training.schedule import apply_settings, check_options
from fs_core.training.session import (
    TrainingSession,
    TrainRequest,
    prepare_session,
    validate_request,
)
from fs_core.training.session_record import open_entry
from fs_core.training.step import make_train_step
from fs_core.training.strategy import locks_model_folder

if TYPE_CHECKING:
    from fs_core.descriptors import ModelDescriptor
    from fs_core.plugin_manager import Registry


#: What :func:`run_train` returns: why the session stopped, or ``"lr_finder"`` when the learning
#: rate finder's ``graph_and_exit`` mode ended the run before training.
RunResult = StopReason | Literal["lr_finder"]


def run_train(
    request: TrainRequest,
    registry: Registry,
    notify: Callable[[str], None] = print,
    scans: Sequence[FolderScan] | None = None,
) -> RunResult:
    """Train as ``request`` says; returns why training stopped (see :data:`RunResult`).

    ``scans``: the scans of ``-A`` and ``-B`` (:func:`fs_core.data.scan.start_scans`) when the
    caller started them early, so they ran while TensorFlow was imported; else they start here.

    Keras' global dtype policy, which the session sets from ``mixed_precision``, is put back as
    it was when the run ends, so a caller running fs in-process keeps its own precision.
    """
    policy = keras.config.dtype_policy()
    try:
        return _run_train(request, registry, notify, scans)
    finally:
        keras.config.set_dtype_policy(policy)


def _run_train(
    request: TrainRequest,
    registry: Registry,
    notify: Callable[[str], None],
    scans: Sequence[FolderScan] | None,
) -> RunResult:
    validate_request(request)
    inputs = None
    if request.schedule is not None:  # the whole recipe is checked before anything is made
        inputs = _load_inputs(request, registry)
        check_options(request.schedule, registry, request.model_name, inputs.config)
        _check_stage_backends(request, inputs)
    asked = (request.input_a, request.input_b)
    stored = read_live_settings(request.model_dir).values
    if stored:
        inputs = inputs or _load_inputs(request, registry)
        request = _with_stored(request, inputs, stored, notify)
    if scans is None or (request.input_a, request.input_b) != asked:
        scans = start_scans(request.input_a, request.input_b)
    scan_a, scan_b = scans
    faces = {request.input_a: scan_a.result(), request.input_b: scan_b.result()}
    if request.distributed != "multi-worker":  # a worker's loader needs only its share
        build.check_sizes(faces[request.input_a], request.batch_size, "-A")
        build.check_sizes(faces[request.input_b], request.batch_size, "-B")
    # the workers of a multi-process run share one folder by design (only worker 0 writes it)
    lock = (
        training_lock(request.model_dir)
        if locks_model_folder(request.distributed)
        else contextlib.nullcontext()
    )
    with lock:
        if request.schedule is None:
            inputs = inputs or _load_inputs(request, registry)
            return _train_unscheduled(request, inputs, notify, faces)
        assert inputs is not None
        return _train_schedule(request, inputs, notify, faces)


def _with_stored(
    request: TrainRequest, inputs: _Inputs, stored: Mapping[str, Any], notify: Callable[[str], None]
) -> TrainRequest:
    """The request with the settings changed while the model trained before (``settings.toml``),
    checked as they were when they were set, and said in one line."""
    try:
        checked = live.check_changes(
            stored,
            registry=inputs.registry,
            model_name=request.model_name,
            config=inputs.config,
            config_class=inputs.descriptor.config_class,
            backend_name=backend.active_name(),
        )
    except FsUserError as error:
        raise FsUserError(
            f"{error.message}; change it with fs set, or forget the changed settings with "
            f"fs set -m {request.model_dir} --reset all",
            live_settings_file(request.model_dir),
        ) from None
    notify(live.describe_stored(checked, request.model_dir))
    return live.with_live(request, checked)


def _next_session(
    request: TrainRequest, session: TrainingSession, remaining: int, faces: dict[str, Any]
) -> TrainRequest:
    """After a live change ended ``session`` (reason "settings"): the request the run goes on
    with, as a schedule's next leg: the remaining iterations, the changed settings, no warm-up
    left to redo, and the model that now exists. New face folders are scanned here."""
    done = session.session_iterations
    warmup = max(0, request.warmup - done) if request.warmup > done else 0
    following = attrs.evolve(
        request,
        iterations=remaining,
        warmup=warmup,
        load_from=None,
        from_pretrained=None,
    )
    following = live.with_live(following, session.running.live_settings)
    for folder in (following.input_a, following.input_b):
        if folder not in faces:
            faces[folder] = start_scans(folder, folder)[0].result()
    build.check_sizes(faces[following.input_a], following.batch_size, "faces_a")
    build.check_sizes(faces[following.input_b], following.batch_size, "faces_b")
    return following


@attrs.frozen
class _Inputs:
    """What every session of the run is prepared from, loaded once: the registry, the model's
    descriptor and the config file (each session applies its own settings to a copy)."""

    registry: Registry
    descriptor: ModelDescriptor
    config: Config

    def prepare(self, request: TrainRequest, notify: Callable[[str], None]) -> TrainingSession:
        return prepare_session(
            request, self.registry, notify, config=self.config, descriptor=self.descriptor
        )


def _load_inputs(request: TrainRequest, registry: Registry) -> _Inputs:
    descriptor = get_descriptor(registry, request.model_name)
    config = load_config(request.config_path, registry.model_config_classes())
    return _Inputs(registry, descriptor, config)


def _check_stage_backends(request: TrainRequest, inputs: _Inputs) -> None:
    """Each stage's plugins run on this backend (a stage may change the loss or the optimizer):
    refused before the first leg trains, never halfway through the schedule."""
    assert request.schedule is not None
    for stage in request.schedule.stages:
        config = copy.deepcopy(inputs.config)
        apply_settings(
            config,
            request.schedule.settings_at(stage.at),
            request.model_name,
            inputs.descriptor.config_class,
        )
        check_plugin_backends(inputs.registry, config, request.model_name, backend.active_name())


def _train_unscheduled(
    request: TrainRequest,
    inputs: _Inputs,
    notify: Callable[[str], None],
    faces: dict[str, Any],
) -> RunResult:
    remaining = request.iterations
    while True:
        session = inputs.prepare(request, notify)
        try:
            result = _train_session(session, faces[request.input_a], faces[request.input_b])
        except backend.get().out_of_memory_errors():
            request = _smaller_batch_or_stop(session, request)
            continue
        finally:
            session.distribution.close()
        remaining -= session.session_iterations
        if result != "settings":
            return result
        if remaining <= 0:
            return "done"
        request = _next_session(request, session, remaining, faces)


def _train_schedule(
    request: TrainRequest,
    inputs: _Inputs,
    notify: Callable[[str], None],
    faces: dict[str, Any],
) -> RunResult:
    """``--schedule``: one leg per stage (:mod:`fs_core.training.legs`), each ending at the next
    stage's iteration with a save, until ``-i`` iterations ran or the session stops otherwise."""
    assert request.schedule is not None
    for line in legs.upcoming_lines(request.schedule, request.model_dir):
        notify(line)
    remaining, batch_cap = request.iterations, None
    while True:
        leg = legs.plan_leg(request, remaining, batch_cap)
        if request.live_settings:  # changed while training: they win over the stage's
            leg = attrs.evolve(leg, request=live.with_live(leg.request, request.live_settings))
        for folder in (leg.request.input_a, leg.request.input_b):
            if folder not in faces:  # a stage's faces_a / faces_b
                faces[folder] = start_scans(folder, folder)[0].result()
        session = inputs.prepare(leg.request, notify)  # a new setup per leg
        try:
            legs.begin_stages(session, leg)
            result = _train_session(session, faces[leg.request.input_a], faces[leg.request.input_b])
        except backend.get().out_of_memory_errors():
            batch_cap = _smaller_batch_or_stop(session, leg.request).batch_size
            continue
        finally:
            session.distribution.close()
        remaining -= session.session_iterations
        if result == "settings" and remaining > 0:  # the same leg goes on with the change
            request = _next_session(request, session, remaining, faces)
            continue
        if result not in ("done", "settings") or remaining <= 0:
            return "done" if result == "settings" else result
        # the next leg is planned from the model folder's state, which the chief has just saved:
        # a worker that read it sooner would train the finished leg's settings again
        session.distribution.barrier()
        # the model exists now: -l / --from-pretrained made it, and the warmup was its start
        request = attrs.evolve(request, load_from=None, from_pretrained=None, warmup=0)


#: out of memory this early in a session is a setting that does not fit, not a passing spike
OOM_RETRY_ITERATIONS = 10


def _smaller_batch_or_stop(session: TrainingSession, request: TrainRequest) -> TrainRequest:
    """After running out of memory: with ``--auto-batch`` (and early in the session) the request
    again at half the batch; otherwise a one-line error saying which settings to lower."""
    batch = request.batch_size
    early = session.session_iterations < OOM_RETRY_ITERATIONS
    if request.auto_batch and early and batch > 1:
        smaller = batch // 2
        session.print(f"Out of memory at batch size {batch}; retrying at {smaller} (--auto-batch)")
        return attrs.evolve(
            request, batch_size=smaller, auto_batch_from=request.auto_batch_from or batch
        )
    where = "in the first iterations" if early else f"at iteration {session.state.iterations}"
    raise FsUserError(
        f"out of memory {where} at batch size {batch}: lower -b, or choose a smaller "
        f"model or its lowmem/size options in [model.{session.model_name}]"
        + ("; --auto-batch halves the batch until it fits" if early else "")
        + ". The last save is intact.",
        session.model_dir,
    )


def _train_session(session: TrainingSession, faces_a: Any, faces_b: Any) -> RunResult:
    """Finish the session's setup (:mod:`fs_core.training.build`), open its ``[[sessions]]``
    entry and train."""
    session, composer = build.with_faces(session, faces_a, faces_b)
    loader = build.make_loader(session, composer)
    try:
        session = build.with_optimizer(session, composer)
        session.running.face_losses = build.face_loss_tracker(session)
        step = make_train_step(
            session.model,
            composer,
            session.optimizer,
            session.built.outputs_per_side,
            distribution=session.distribution,
            extensions=session.extensions,
            per_face=session.running.face_losses is not None,
        )
        source = build.set_learning_rate(session, loader, step)
        if source is None:
            return "lr_finder"
        session = session.with_setup(learning_rate_source=source)
        if session.request.schedule is not None:
            legs.after_optimizer(session)
        session.running.record = open_entry(session)
        return train(session, loader, step)
    finally:
        loader.close()
