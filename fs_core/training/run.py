"""``fs train`` end to end: check the inputs, prepare the session, feed it, train, clean up.

Every check that can fail on user input runs before the model folder is touched, so a bad
invocation never changes a saved model.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs
import keras

from fs_core import backend
from fs_core.config import changeable_values, load_config
from fs_core.data.loader import BatchLoader
from fs_core.data.sampler import choose_sampler
from fs_core.data.scan import FolderScan, start_scans
from fs_core.errors import FsUserError
from fs_core.extensions.activate import activate_extensions
from fs_core.faces.prepare import PrepareSpec, training_spec
from fs_core.folder.model_files import save_model_files, training_lock
from fs_core.losses.compose import LossComposer
from fs_core.model.build import get_descriptor
from fs_core.model.weights import save_weights
from fs_core.training import holdout, legs
from fs_core.training.loop import StopReason, train
from fs_core.training.lr_finder import find_learning_rate
from fs_core.training.optimizer import make_optimizer
from fs_core.training.schedule import check_options
from fs_core.training.session import (
    TrainingSession,
    TrainRequest,
    prepare_session,
    validate_request,
)
from fs_core.training.step import make_train_step

if TYPE_CHECKING:
    from fs_core.plugin_manager import Registry


def _check_sizes(faceset: Any, batch_size: int, flag: str) -> None:
    if len(faceset) < batch_size:
        raise FsUserError(
            f"{flag}: has {len(faceset)} faces, fewer than the batch size {batch_size}; "
            "add faces or lower -b",
            faceset.folder,
        )


def make_composer(session: TrainingSession, faces_a: Any, faces_b: Any) -> LossComposer:
    """The loss composition. Option mistakes name the config file; a face set that lacks the
    landmarks or stored masks the options need is named itself."""
    config = session.config
    registry = session.registry

    def compose(has_landmarks: bool, stored: frozenset) -> LossComposer:
        return LossComposer(
            config.loss,
            config.mask,
            registry.losses,
            output_count=len(session.built.output_sizes),
            has_landmarks=has_landmarks,
            stored_masks=stored,
            not_provided=registry.losses_not_provided,
        )

    try:
        compose(True, frozenset({config.mask.mask_type}))
    except FsUserError as error:
        raise FsUserError(error.message, config.path) from None
    for faceset in (faces_a, faces_b):
        try:
            compose(faceset.has_landmarks, frozenset(faceset.stored_mask_names))
        except FsUserError as error:
            raise FsUserError(error.message, faceset.folder) from None
    return compose(
        True, frozenset(faces_a.stored_mask_names) & frozenset(faces_b.stored_mask_names)
    )


def prepare_spec(session: TrainingSession, mask_names: tuple[str, ...]) -> PrepareSpec:
    size = max((session.built.input_size,) + session.built.output_sizes)
    return training_spec(session.config, size, mask_names)


def make_loader(
    session: TrainingSession, faces_a: Any, faces_b: Any, composer: LossComposer
) -> Any:
    augmenters = sorted(session.registry.augmenters.values(), key=lambda a: a.stage)
    options = session.config.augmentation
    sampler = choose_sampler(session.registry.samplers, options, session.config.path)
    return BatchLoader.from_facesets(
        faces_a,
        faces_b,
        spec=session.prepare_spec,
        batch_size=session.local_batch_size,
        input_size=session.built.input_size,
        output_sizes=session.built.output_sizes,
        augmenters=augmenters,
        options=options,
        color_order=session.built.descriptor.color_order,
        seed=_loader_seed(session),
        sampler=sampler,
    )


def _loader_seed(session: TrainingSession) -> int:
    seed = session.request.seed if session.request.seed is not None else _fresh_seed()
    return session.distribution.loader_seed(seed)


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
    if request.schedule is not None:  # the whole recipe is checked before anything is made
        get_descriptor(registry, request.model_name)
        config = load_config(request.config_path, registry.model_config_classes())
        check_options(request.schedule, registry, request.model_name, config)
    scan_a, scan_b = scans or start_scans(request.input_a, request.input_b)
    faces = {request.input_a: scan_a.result(), request.input_b: scan_b.result()}
    if request.distributed != "multi-worker":  # a worker's loader needs only its share
        _check_sizes(faces[request.input_a], request.batch_size, "-A")
        _check_sizes(faces[request.input_b], request.batch_size, "-B")
    # multi-worker runs share one folder by design (only worker 0 writes it): no lock there
    lock = (
        contextlib.nullcontext()
        if request.distributed == "multi-worker"
        else training_lock(request.model_dir)
    )
    with lock:
        if request.schedule is None:
            return _train_unscheduled(request, registry, notify, faces)
        return _train_schedule(request, registry, notify, faces)


def _train_unscheduled(
    request: TrainRequest,
    registry: Registry,
    notify: Callable[[str], None],
    faces: dict[str, Any],
) -> RunResult:
    while True:
        session = prepare_session(request, registry, notify)
        try:
            return _train_session(session, faces[request.input_a], faces[request.input_b])
        except backend.get().out_of_memory_errors():
            request = _smaller_batch_or_stop(session, request)
        finally:
            session.distribution.close()


def _train_schedule(
    request: TrainRequest,
    registry: Registry,
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
        for folder in (leg.request.input_a, leg.request.input_b):
            if folder not in faces:  # a stage's faces_a / faces_b
                faces[folder] = start_scans(folder, folder)[0].result()
        session = prepare_session(leg.request, registry, notify)
        try:
            legs.begin_stages(session, leg)
            result = _train_session(session, faces[leg.request.input_a], faces[leg.request.input_b])
        except backend.get().out_of_memory_errors():
            batch_cap = _smaller_batch_or_stop(session, leg.request).batch_size
            continue
        finally:
            session.distribution.close()
        remaining -= session.session_iterations
        if result != "done" or remaining <= 0:
            return result
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
    request = session.request  # the batch size may have been raised for the replicas
    faces_a, faces_b = holdout.split(session, faces_a, faces_b)
    _check_sizes(faces_a, session.local_batch_size, "-A")
    _check_sizes(faces_b, session.local_batch_size, "-B")
    composer = make_composer(session, faces_a, faces_b)
    session.faces_a, session.faces_b = faces_a, faces_b
    session.prepare_spec = prepare_spec(session, composer.mask_names)
    loader = make_loader(session, faces_a, faces_b, composer)
    if request.seed is not None:
        loader.skip(session.state.iterations)  # a resumed seeded run continues the same sequence
    try:
        session.optimizer = make_optimizer(session)
        session.extensions = activate_extensions(session, composer)
        step = make_train_step(
            session.model,
            composer,
            session.optimizer,
            session.built.outputs_per_side,
            distribution=session.distribution,
            extensions=session.extensions,
        )
        if not set_learning_rate(session, loader, step):
            return "lr_finder"
        session.record = session.state.new_session(request.batch_size, _session_config(session))
        session.record["learning_rate_source"] = session.learning_rate_source
        if session.precision is not None:
            session.record["precision"] = session.precision.to_record()
        if request.auto_batch_from:
            session.record["auto_batch"] = {
                "asked": request.auto_batch_from,
                "used": request.batch_size,
            }
        if request.schedule is not None:
            legs.after_optimizer(session)
            legs.record_stage(session)
        if request.pretrain:
            session.record["pretrain"] = True
        session.record["distributed"] = session.distribution.name
        session.record["replicas"] = session.distribution.replicas
        if session.extensions is not None and session.extensions.names:
            session.record["extensions"] = list(session.extensions.names)
        return train(session, loader, step)
    finally:
        loader.close()


def set_learning_rate(session: TrainingSession, loader: Any, step: Any) -> bool:
    """Set the rate this session trains at and say where it came from; False when the finder's
    mode says to stop after the graph.

    As faceswap's trainer (``lib/training/train.py``): with ``-r`` a rate stored by an earlier
    finder run is reused (the finder does not run again), and a new model runs the finder; without
    ``-r`` the configured ``learning_rate`` applies even when a rate is stored. The source is kept
    in :attr:`TrainingSession.learning_rate_source` for the session record.
    """
    state, options = session.state, session.config.global_
    rate, source = float(options.learning_rate), "config"
    if session.request.use_lr_finder:
        if state.lr_finder is not None:
            rate, source = float(state.lr_finder), "lr_finder (stored)"
            session.print(f"Learning rate from the learning rate finder: {rate:.3e} (stored)")
        elif state.iterations:
            session.print(
                "The learning rate finder only runs on a new model; using "
                f"[global] learning_rate = {options.learning_rate:g}"
            )
        else:
            state.lr_finder = find_learning_rate(session, loader, step)
            if options.lr_finder_mode == "graph_and_exit":
                save_model_files(
                    session.model_dir,
                    state,
                    lambda path: save_weights(
                        path,
                        session.model,
                        model_name=session.model_name,
                        iterations=state.iterations,
                    ),
                )
                session.print(
                    "Learning rate stored in the model; run fs train -r again to train at it."
                )
                return False
            rate, source = float(state.lr_finder), "lr_finder"
    elif state.lr_finder is not None:
        session.print(
            f"Using [global] learning_rate = {options.learning_rate:g}; add -r to train "
            f"at the stored learning rate finder rate {state.lr_finder:.3e}"
        )
    session.base_learning_rate = rate
    session.learning_rate_source = source
    assert session.optimizer is not None  # made before the rate is set
    session.optimizer.learning_rate.assign(session.base_learning_rate)
    return True


def _session_config(session: TrainingSession) -> dict:
    values = changeable_values(
        session.config, session.model_name, session.built.descriptor.config_class
    )
    values["global"]["learning_rate"] = session.base_learning_rate  # the finder's rate when used
    return values


def _fresh_seed() -> int:
    """Without --seed every run draws different augmentations."""
    return secrets.randbits(31)
