"""Finishing a session's setup once its model is built: the faces (less the held-out ones) and
how they are cropped, the loss composition, the loader, the optimizer and extensions, the
learning rate. Each step returns a new session whose setup holds what it made
(:meth:`fs_core.training.session.TrainingSession.with_setup`); nothing is filled in later.
"""

from __future__ import annotations

import secrets
from typing import Any

from fs_core.data.loader import BatchLoader
from fs_core.data.sampler import choose_sampler
from fs_core.errors import FsUserError
from fs_core.extensions.activate import activate_extensions
from fs_core.faces.prepare import PrepareSpec, training_spec
from fs_core.folder.model_files import save_model_files
from fs_core.losses.compose import LossComposer
from fs_core.model.weights import save_weights
from fs_core.training import holdout
from fs_core.training.face_losses import FaceLossTracker, tracking_refusal
from fs_core.training.lr_finder import find_learning_rate
from fs_core.training.optimizer import make_optimizer
from fs_core.training.session import TrainingSession


def check_sizes(faceset: Any, batch_size: int, flag: str) -> None:
    """A face set must hold at least one batch."""
    if len(faceset) < batch_size:
        raise FsUserError(
            f"{flag}: has {len(faceset)} faces, fewer than the batch size {batch_size}; "
            "add faces or lower -b",
            faceset.folder,
        )


def with_faces(
    session: TrainingSession, faces_a: Any, faces_b: Any
) -> tuple[TrainingSession, LossComposer]:
    """The session with its training faces (the held-out ones set apart) and their crop, and the
    loss composition those faces allow."""
    faces_a, faces_b = holdout.split(session, faces_a, faces_b)
    check_sizes(faces_a, session.local_batch_size, "-A")
    check_sizes(faces_b, session.local_batch_size, "-B")
    composer = make_composer(session, faces_a, faces_b)
    spec = prepare_spec(session, composer.mask_names)
    return session.with_setup(faces_a=faces_a, faces_b=faces_b, prepare_spec=spec), composer


def with_optimizer(session: TrainingSession, composer: LossComposer) -> TrainingSession:
    """The session with its optimizer (state restored on resume), then its extensions."""
    session = session.with_setup(optimizer=make_optimizer(session))
    return session.with_setup(extensions=activate_extensions(session, composer))


def face_loss_tracker(session: TrainingSession) -> FaceLossTracker | None:
    """The session's per-face loss tables (carried on from the model's record), or None when
    they are not tracked; why not is told when it is not the user's own choice."""
    refusal = tracking_refusal(session.config.global_, session.distribution.name)
    if refusal is not None:
        if refusal:
            session.print(refusal)
        return None
    faces = {"a": session.faces_a, "b": session.faces_b}
    try:
        return FaceLossTracker.for_faces(faces, session.model_dir)
    except FsUserError as error:  # a damaged table is no reason not to train: start a new one
        session.print(f"Per-face losses start afresh: {error.one_line()}")
        return FaceLossTracker.for_faces(faces)


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


def make_loader(session: TrainingSession, composer: LossComposer) -> Any:
    """The batch loader of the session's faces; a resumed seeded run continues the sequence."""
    assert session.faces_a is not None and session.faces_b is not None  # set by with_faces
    augmenters = sorted(session.registry.augmenters.values(), key=lambda a: a.stage)
    options = session.config.augmentation
    sampler = choose_sampler(session.registry.samplers, options, session.config.path)
    loader = BatchLoader.from_facesets(
        session.faces_a,
        session.faces_b,
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
    if session.request.seed is not None:
        loader.skip(session.state.iterations)
    return loader


def _loader_seed(session: TrainingSession) -> int:
    seed = session.request.seed if session.request.seed is not None else _fresh_seed()
    return session.distribution.loader_seed(seed)


def set_learning_rate(session: TrainingSession, loader: Any, step: Any) -> str | None:
    """Set the rate this session trains at; returns where it came from ("config", "lr_finder",
    "lr_finder (stored)"), or None when the finder's mode says to stop after the graph.

    As faceswap's trainer (``lib/training/train.py``): with ``-r`` a rate stored by an earlier
    finder run is reused (the finder does not run again), and a new model runs the finder; without
    ``-r`` the configured ``learning_rate`` applies even when a rate is stored. The source is kept
    in :attr:`SessionSetup.learning_rate_source` for the session record.
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
                return None
            rate, source = float(state.lr_finder), "lr_finder"
    elif state.lr_finder is not None:
        session.print(
            f"Using [global] learning_rate = {options.learning_rate:g}; add -r to train "
            f"at the stored learning rate finder rate {state.lr_finder:.3e}"
        )
    session.running.base_learning_rate = rate
    assert session.optimizer is not None  # made before the rate is set
    session.optimizer.learning_rate.assign(rate)
    return source


def _fresh_seed() -> int:
    """Without --seed every run draws different augmentations."""
    return secrets.randbits(31)
