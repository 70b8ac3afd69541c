"""A training session: what it is built from (:class:`SessionSetup`, made once) and what
changes while it trains (:class:`RunningState`), together the ``session`` hooks receive.

:func:`prepare_session` builds the model from the request, the config and the model folder;
:mod:`fs_core.training.run` adds the faces, the optimizer and the step, then trains.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import keras

from fs_core import backend
from fs_core.backend.choose import BackendChoice
from fs_core.config import Config, apply_locked, load_config
from fs_core.errors import FsUserError
from fs_core.folder import model_files
from fs_core.folder.disk import disk_free
from fs_core.folder.host import FreeSpace
from fs_core.folder.layout import WEIGHTS_FILE, weights_file
from fs_core.model.build import BuiltModel, build_from_config, get_descriptor
from fs_core.model.state import ModelState
from fs_core.model.weights import find_part_model, load_weights
from fs_core.stash import Stash
from fs_core.training import schedule
from fs_core.training.live import option_settings
from fs_core.training.plugin_backends import check_plugin_backends
from fs_core.training.precision import (
    Policy,
    PrecisionChoice,
    choose_precision,
    detect_hardware,
)
from fs_core.training.pretrain import load_pretrained
from fs_core.training.requests import Action, LastSnapshot, LoopRequest
from fs_core.training.strategy import configure_devices, make_distribution

if TYPE_CHECKING:
    from fs_core.descriptors import ModelDescriptor
    from fs_core.faces.faceset import FaceSet
    from fs_core.faces.prepare import PrepareSpec
    from fs_core.plugin_manager import Registry
    from fs_core.training.schedule import Schedule
    from fs_core.training.strategy import Distribution


@attrs.define
class TrainRequest:
    """What ``fs train`` was asked to do (the CLI flags; options live in the config file)."""

    input_a: str
    input_b: str
    model_dir: str
    model_name: str = "original"
    batch_size: int = 16
    iterations: int = 1_000_000
    save_interval: int = 250
    snapshot_interval: int = 0
    config_path: str | None = None
    load_from: str | None = None
    freeze: bool = False
    seed: int | None = None
    no_logs: bool = False
    write_image: bool = False
    warmup: int = 0
    use_lr_finder: bool = False
    auto_batch: bool = False  # halve the batch on running out of memory early in the session
    auto_batch_from: int | None = None  # the batch size asked for, once --auto-batch lowered it
    preview: bool = False
    timelapse_a: str | None = None
    timelapse_b: str | None = None
    timelapse_out: str | None = None
    no_warp: bool = False
    no_flip: bool = False
    no_augment_color: bool = False
    warp_to_landmarks: bool = False
    disabled_plugins: tuple[str, ...] = ()
    status_every: float = 1.0
    distributed: str = "default"  # -d: fs_core.training.strategy.STRATEGIES
    exclude_gpus: tuple[int, ...] = ()  # -X: GPU indices hidden from TensorFlow
    #: --schedule: the recipe (fs_core.training.schedule); run.py trains it leg by leg and sets
    #: the three fields below for each leg
    schedule: Schedule | None = None
    stage_options: Mapping[str, Any] = attrs.field(factory=dict)  # "section.key" -> value
    stage_frozen: Mapping[str, bool] = attrs.field(factory=dict)  # part -> frozen by a stage
    reset_parts: tuple[str, ...] = ()  # parts re-initialised as a stage begins
    pretrain: bool = False  # --pretrain: both sides train on -A (input_b is input_a)
    from_pretrained: str | None = None  # --from-pretrained: a new model starts from this one
    holdout: int | None = None  # --holdout: faces per side never trained on (None: as recorded)
    #: the Keras backend fs train chose before importing Keras, and why (None: the caller's own,
    #: for fs run in-process); recorded in the session
    backend: BackendChoice | None = None
    #: settings changed while training (fs set, the GUI; MODEL_DIR/settings.toml): the run
    #: settings are in the fields above already (fs_core.training.live.with_live), the options
    #: are applied over the config (and a schedule stage's) by prepare_session
    live_settings: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class SessionSetup:
    """What a session is built from: made once per session (per schedule leg), never replaced;
    only a live change (:mod:`fs_core.training.live`) updates, between iterations, the few
    values of its config and request that the loop reads afresh.

    A session is built in a few steps (the model, then the faces, then the optimizer and the
    extensions, then the learning rate); each step makes a new setup from the last
    (:meth:`TrainingSession.with_setup`), so no setup is ever filled in afterwards. The fields a
    later step adds are None until then; hooks only ever see the finished setup."""

    request: TrainRequest
    registry: Registry
    config: Config
    descriptor: ModelDescriptor
    built: BuiltModel
    model_dir: Path
    distribution: Distribution  # the strategy the model was built under
    #: the compute precision this run trains in, and why (``[global] mixed_precision``)
    precision: PrecisionChoice | None = None
    #: free bytes on a folder's disk, for the disk guard (tests inject a full disk here)
    free_space: FreeSpace = disk_free
    faces_a: FaceSet | None = None  # the indexed face sets, without the held-out faces
    faces_b: FaceSet | None = None
    prepare_spec: PrepareSpec | None = None  # how faces are cropped for this model
    optimizer: keras.optimizers.Optimizer | None = None
    #: the training-step extensions in force (fs_core.extensions.activate.ActiveExtensions), or
    #: None: the plain step
    extensions: Any = None
    #: where the learning rate came from: "config", "lr_finder" (found in this run) or
    #: "lr_finder (stored)" (found earlier, reused with -r); recorded in the session
    learning_rate_source: str = "config"


@attrs.define(eq=False)
class RunningState:
    """What changes while a session trains. The loop, the save and the plugins change it; the
    setup never does."""

    #: the model's ``state.toml`` as it will be saved (``iterations`` counts every session)
    model_state: ModelState
    #: the message channel (console, -F log); the training record wraps it for the session
    print: Callable[[str], None] = print
    #: this run's ``[[sessions]]`` entry in the state (made as training starts)
    record: dict = attrs.field(factory=dict)
    stash: Stash = attrs.field(factory=Stash)  # per-run memory of plugins, typed by key
    session_iterations: int = 0
    started: float = attrs.field(factory=time.monotonic)  # the examples/s clock
    loss_history: list = attrs.field(factory=list)  # losses since the last save
    base_learning_rate: float = 0.0  # the rate after warmup (rollbacks lower it)
    #: set by a plugin to end the loop with a save, reason "stopped"
    stop_requested: bool = False
    #: what plugins asked the loop to do after the current iteration (see :meth:`ask`)
    requests: list[LoopRequest] = attrs.field(factory=list)
    #: the snapshot written last in this run (the training record names it)
    last_snapshot: LastSnapshot | None = None
    #: free bytes on the model's disk while they are low (status line, record), else None
    disk_low_free: int | None = None
    #: the live settings in force ("section.key" -> value), as the next session starts with them
    live_settings: dict[str, Any] = attrs.field(factory=dict)
    #: set by a live change that needs a new session: the loop ends with a save, reason "settings"
    rebuild_requested: bool = False
    #: each training face's loss (fs_core.training.face_losses.FaceLossTracker), or None: not
    #: tracked this session
    face_losses: Any = None

    def ask(
        self,
        action: Action,
        asker: object = None,
        changes: Mapping[str, Any] | None = None,
        forget: tuple[str, ...] = (),
    ) -> LoopRequest:
        """Ask the loop to save, snapshot, stop or change settings after the current iteration;
        the loop answers through the ``fs_request_done`` hook (see
        :mod:`fs_core.training.requests`)."""
        request = LoopRequest(
            action=action, asker=asker, changes=dict(changes or {}), forget=forget
        )
        self.requests.append(request)
        return request


@attrs.define(eq=False)
class TrainingSession:
    """A training session as lifecycle hooks receive it (``session``): its :class:`SessionSetup`
    and its :class:`RunningState`, with their attributes readable on the session itself
    (``session.config``, ``session.model``, ``session.state.iterations`` ...)."""

    setup: SessionSetup = attrs.field(on_setattr=attrs.setters.frozen)
    running: RunningState = attrs.field(on_setattr=attrs.setters.frozen)

    def with_setup(self, **changes: Any) -> TrainingSession:
        """The session with the next building step's setup (the running state is shared)."""
        return TrainingSession(attrs.evolve(self.setup, **changes), self.running)

    # ---------------------------------------------------------------- the setup

    @property
    def request(self) -> TrainRequest:
        return self.setup.request

    @property
    def registry(self) -> Registry:
        return self.setup.registry

    @property
    def config(self) -> Config:
        return self.setup.config

    @property
    def built(self) -> BuiltModel:
        return self.setup.built

    @property
    def model_dir(self) -> Path:
        return self.setup.model_dir

    @property
    def distribution(self) -> Distribution:
        return self.setup.distribution

    @property
    def precision(self) -> PrecisionChoice | None:
        return self.setup.precision

    @property
    def free_space(self) -> FreeSpace:
        return self.setup.free_space

    @property
    def faces_a(self) -> FaceSet | None:
        return self.setup.faces_a

    @property
    def faces_b(self) -> FaceSet | None:
        return self.setup.faces_b

    @property
    def prepare_spec(self) -> PrepareSpec | None:
        return self.setup.prepare_spec

    @property
    def optimizer(self) -> keras.optimizers.Optimizer | None:
        return self.setup.optimizer

    @property
    def extensions(self) -> Any:
        return self.setup.extensions

    @property
    def learning_rate_source(self) -> str:
        return self.setup.learning_rate_source

    @property
    def model_name(self) -> str:
        return self.built.name

    @property
    def model(self) -> Any:
        return self.built.model

    @property
    def batch_size(self) -> int:
        """The global batch per side (all replicas of all workers together)."""
        return self.request.batch_size

    @property
    def local_batch_size(self) -> int:
        """The batch per side this process's loader builds (its workers' share)."""
        return self.distribution.local_batch(self.batch_size)

    @property
    def is_chief(self) -> bool:
        """False on the non-chief workers of -d multi-worker (they save to a scratch folder)."""
        return self.distribution.is_chief

    @property
    def examples_per_iteration(self) -> int:
        """Faces trained per iteration: the batch of each side. One example is one face, the
        unit of faceswap's own speed figures (Original: about 11.4 GFLOP to train one example)."""
        return 2 * self.batch_size

    # ---------------------------------------------------------------- the running state

    @property
    def state(self) -> ModelState:
        """The model's state (``state.toml``): ``iterations``, the sessions, the lowest loss."""
        return self.running.model_state

    @property
    def record(self) -> dict:
        return self.running.record

    @property
    def stash(self) -> Stash:
        return self.running.stash

    @property
    def session_iterations(self) -> int:
        return self.running.session_iterations

    @property
    def started(self) -> float:
        return self.running.started

    @property
    def loss_history(self) -> list:
        return self.running.loss_history

    @property
    def base_learning_rate(self) -> float:
        return self.running.base_learning_rate

    @property
    def print(self) -> Callable[[str], None]:
        return self.running.print

    @print.setter
    def print(self, value: Callable[[str], None]) -> None:
        self.running.print = value

    @property
    def stop_requested(self) -> bool:
        return self.running.stop_requested

    @stop_requested.setter
    def stop_requested(self, value: bool) -> None:
        self.running.stop_requested = value

    @property
    def disk_low_free(self) -> int | None:
        return self.running.disk_low_free

    @disk_low_free.setter
    def disk_low_free(self, value: int | None) -> None:
        self.running.disk_low_free = value

    def examples_per_second(self) -> float:
        elapsed = time.monotonic() - self.running.started
        return (
            self.session_iterations * self.examples_per_iteration / elapsed if elapsed > 0 else 0.0
        )


def validate_request(request: TrainRequest) -> None:
    if request.batch_size < 1 or request.batch_size > 256:
        raise FsUserError(f"-b/--batch-size must be 1 to 256, got {request.batch_size}")
    if request.iterations < 0:
        raise FsUserError(f"-i/--iterations must be 0 or more, got {request.iterations}")
    if not 0 <= request.warmup <= 5000:
        raise FsUserError(f"-a/--warmup must be 0 to 5000, got {request.warmup}")
    if request.save_interval < 1:
        raise FsUserError(f"-s/--save-interval must be at least 1, got {request.save_interval}")
    if request.holdout is not None and request.holdout < 0:
        raise FsUserError(f"--holdout must be 0 or more, got {request.holdout}")
    if request.load_from and request.from_pretrained:
        raise FsUserError("-l/--load-weights and --from-pretrained: choose one")
    if request.auto_batch and request.distributed in ("ddp", "multi-worker"):
        # one worker retrying alone would leave the others waiting in the step's collectives
        raise FsUserError(
            f"--auto-batch cannot retry under -d {request.distributed} (every worker would have "
            "to retry together); lower -b instead"
        )


def prepare_session(
    request: TrainRequest,
    registry: Registry,
    notify: Callable[[str], None] = print,
    *,
    config: Config | None = None,
    descriptor: ModelDescriptor | None = None,
) -> TrainingSession:
    """The model built and loaded, and the session's running state: everything up to the faces.

    ``config`` and ``descriptor``: loaded once by the caller (a schedule's legs each prepare a
    session from the same ones; the config is copied, since each leg applies its own settings);
    loaded here when not given. The request was checked (:func:`validate_request`) by the caller.
    Raises FsUserError before touching the model folder."""
    if descriptor is None:
        descriptor = get_descriptor(registry, request.model_name)
    if config is None:
        config = load_config(request.config_path, registry.model_config_classes())
    else:
        config = copy.deepcopy(config)
    _apply_cli_switches(config, request)
    # a schedule stage's options, then those changed while training (they win over both)
    for settings in (request.stage_options, option_settings(request.live_settings)):
        schedule.apply_settings(config, settings, request.model_name, descriptor.config_class)
    # a plugin that does not run on this backend stops the run here, before anything is built
    check_plugin_backends(registry, config, request.model_name, backend.active_name())
    distribution = start_distribution(request, config, notify)
    batch_size = distribution.global_batch(request.batch_size, notify)
    if batch_size != request.batch_size:
        request = attrs.evolve(request, batch_size=batch_size)
    stored = model_files.open_model_dir(request.model_dir, request.model_name)
    if stored is not None:
        apply_locked(config, stored.config, request.model_name, descriptor.config_class, notify)
        if request.load_from:
            raise FsUserError(
                "-l/--load-weights only applies to a new model; this folder already holds one",
                request.model_dir,
            )
        if request.from_pretrained:
            raise FsUserError(
                "--from-pretrained only starts a new model; this folder already holds one",
                request.model_dir,
            )
    state = stored or ModelState(
        model=request.model_name,
        model_distribution=_distribution_of(registry, request.model_name),
        model_version=_version_of(registry, request.model_name),
        config=config.stored_sections(request.model_name, descriptor.config_class),
    )
    precision = choose_precision(config.global_.mixed_precision, detect_hardware())
    notify(precision.describe())
    _set_precision(precision.policy)
    if request.seed is not None:
        backend.get().set_random_seed(request.seed)  # TensorFlow only where it trains
    with distribution.scope():  # variables are created per replica (or centrally) as asked
        built = build_from_config(registry, request.model_name, config)
    setup = SessionSetup(
        request=request,
        registry=registry,
        config=config,
        descriptor=descriptor,
        built=built,
        model_dir=distribution.save_dir(Path(request.model_dir)),
        distribution=distribution,
        precision=precision,
    )
    running = RunningState(
        model_state=state, print=notify, live_settings=dict(request.live_settings)
    )
    session = TrainingSession(setup, running)
    if stored is not None:
        load_weights(
            weights_file(request.model_dir),
            built.model,
            model_name=built.name,
            renamed_parts=descriptor.legacy_part_names,
        )
    elif request.load_from:
        _load_parts_from(session, notify)
    elif request.from_pretrained:
        load_pretrained(session, notify)
    if request.schedule is not None:
        schedule.check_parts(request.schedule, built)
        if stored is not None and request.reset_parts:
            with distribution.scope():
                schedule.reset_parts(
                    built,
                    lambda: build_from_config(registry, request.model_name, config),
                    request.reset_parts,
                )
            notify(f"Re-initialised: {', '.join(request.reset_parts)}")
    base = descriptor.parts_to_freeze(built.options) if request.freeze else ()
    frozen = schedule.frozen_parts(base, request.stage_frozen)
    if frozen:
        freeze_parts(built, frozen, notify)
    return session


def start_distribution(request: TrainRequest, config: Config, notify: Callable[[str], None]) -> Any:
    """Device options, then the ``-d`` strategy: both before TensorFlow initialises its devices."""
    configure_devices(request.exclude_gpus, bool(getattr(config.global_, "allow_growth", False)))
    distribution = make_distribution(request.distributed)
    if distribution.name != "default":
        notify(f"Distributed training ({distribution.describe()})")
    return distribution


def _apply_cli_switches(config: Config, request: TrainRequest) -> None:
    aug = config.augmentation
    changes: dict[str, Any] = {
        name: True
        for name in ("no_warp", "no_flip", "no_augment_color", "warp_to_landmarks")
        if getattr(request, name)
    }
    if changes:
        config.augmentation = attrs.evolve(aug, **changes)


def _distribution_of(registry: Registry, model_name: str) -> str:
    provider = registry.provider("model", model_name)
    return provider.distribution if provider is not None else "?"


def _version_of(registry: Registry, model_name: str) -> str:
    provider = registry.provider("model", model_name)
    return provider.version if provider is not None else "?"


def _set_precision(policy: Policy) -> None:
    keras.config.set_dtype_policy(policy)


def _load_parts_from(session: TrainingSession, notify: Callable[[str], None]) -> None:
    assert session.request.load_from is not None  # called only with -l
    source = Path(session.request.load_from)
    if not weights_file(source).exists():
        raise FsUserError(f"-l/--load-weights: no {WEIGHTS_FILE} in this folder", source)
    parts = session.built.descriptor.parts_to_load(session.built.options)
    skipped = load_weights(
        weights_file(source),
        session.built.model,
        model_name=session.built.name,
        parts=parts,
        strict=False,
        renamed_parts=session.built.descriptor.legacy_part_names,
    )
    notify(
        f"Loaded {', '.join(parts)} from {source}"
        + (f" ({len(skipped)} variables skipped: shapes differ)" if skipped else "")
    )


def freeze_parts(built: BuiltModel, names: tuple[str, ...], notify: Callable[[str], None]) -> None:
    for name in names:
        part = find_part_model(built.model, name)
        if part is None:
            raise FsUserError(f"model '{built.name}' has no part '{name}' to freeze")
        part.trainable = False
    notify(f"Frozen: {', '.join(names)}")
