"""``fs train``: parse the flags (:mod:`fs_core.training.arguments`), choose the Keras backend
(:mod:`fs_core.backend.choose`, before anything imports Keras), build the request, train."""

from __future__ import annotations

import argparse
import logging
import sys

from fs_core import backend, plugin_manager
from fs_core.backend.choose import (
    BackendChoice,
    activate,
    asked_backend,
    for_strategy,
    resolve,
)
from fs_core.cli.common import disabled_from
from fs_core.cli.summary import print_summary
from fs_core.errors import FsUserError
from fs_core.logs import log_to_file, logging_to
from fs_core.training.arguments import add_train_arguments, timelapse_wanted
from fs_core.training.schedule import load_schedule
from fs_core.training.strategy import parse_gpu_ids
from fs_core.version import __version__


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a model on two face sets")
    add_train_arguments(p)
    # the command chooses the Keras backend itself, then silences the framework's start-up
    p.set_defaults(func=run, chooses_backend=True)


def run(args: argparse.Namespace) -> int:
    # what was asked is checked at once (a backend not installed: one line, before any work)
    asked = for_strategy(asked_backend(args.backend, args.configfile), args.distributed)
    if args.summary:
        _start_backend(resolve(asked))
        print_summary(args.trainer, args.configfile, disabled_from(args))
        return 0
    if args.pretrain:
        if args.input_b:
            raise FsUserError(
                "--pretrain trains both sides on the faces of -A; leave out -B "
                "(fs train --pretrain -A GENERIC_FACES -m MODEL_DIR)"
            )
        args.input_b = args.input_a
    missing = [
        flag
        for flag, value in (("-A", args.input_a), ("-B", args.input_b), ("-m", args.model_dir))
        if not value
    ]
    if missing:
        raise FsUserError(
            f"missing {', '.join(missing)}: fs train -A FACES_A -B FACES_B -m MODEL_DIR"
            + (" (or fs train --pretrain -A FACES -m MODEL_DIR)" if not args.pretrain else "")
        )
    if args.snapshot_interval < 0:
        raise FsUserError(f"-I/--snapshot-interval must be 0 or more, got {args.snapshot_interval}")
    _check_timelapse(args)
    schedule = None
    if args.schedule:
        schedule = load_schedule(args.schedule)
    from fs_core.data.scan import start_scans  # noqa: PLC0415 (OpenCV: fs --help starts without it)

    # the face folders are scanned while the framework and the plugins are imported
    scans = start_scans(args.input_a, args.input_b)
    choice = resolve(asked)  # auto may import a framework to ask it about GPUs
    _start_backend(choice)
    from fs_core.training.run import run_train  # noqa: PLC0415 (TensorFlow: fs --help starts without it)
    from fs_core.training.session import TrainRequest  # noqa: PLC0415 (TensorFlow: fs --help starts without it)

    request = TrainRequest(
        input_a=args.input_a,
        input_b=args.input_b,
        model_dir=args.model_dir,
        model_name=args.trainer,
        batch_size=args.batch_size,
        iterations=args.iterations,
        save_interval=args.save_interval,
        config_path=args.configfile,
        load_from=args.load_weights,
        freeze=args.freeze_weights,
        seed=args.seed,
        use_lr_finder=args.use_lr_finder,
        auto_batch=args.auto_batch,
        warmup=args.warmup,
        no_warp=args.no_warp,
        no_flip=args.no_flip,
        no_augment_color=args.no_augment_color,
        warp_to_landmarks=args.warp_to_landmarks,
        disabled_plugins=disabled_from(args),
        snapshot_interval=args.snapshot_interval,
        write_image=args.write_image,
        preview=args.preview,
        no_logs=args.no_logs,
        timelapse_a=args.timelapse_a,
        timelapse_b=args.timelapse_b,
        timelapse_out=args.timelapse_out,
        distributed=args.distributed,
        exclude_gpus=parse_gpu_ids(args.exclude_gpus),
        schedule=schedule,
        pretrain=args.pretrain,
        from_pretrained=args.from_pretrained,
        holdout=args.holdout,
        backend=choice,
    )
    with logging_to(args.loglevel, args.logfile) as notify:
        notify(choice.describe())
        _log_versions(request)
        try:
            registry = plugin_manager.get_registry(request.disabled_plugins)
            reason = run_train(request, registry, notify=notify, scans=scans)
        except FsUserError as error:
            log_to_file("error: %s", error.one_line(), level=logging.ERROR)
            raise
        except Exception:
            log_to_file("stopped by an internal error", level=logging.ERROR, exc_info=True)
            raise
    return 1 if reason == "nan" else 0


def _start_backend(choice: BackendChoice) -> None:
    """Make ``choice`` the process's Keras backend, then import its framework quietly."""
    activate(choice)
    backend.quiet_startup()


def _log_versions(request: object) -> None:
    """DEBUG: what ran, for bug reports (the request and the library versions)."""
    log = logging.getLogger("fs")
    if log.isEnabledFor(logging.DEBUG):
        import keras  # noqa: PLC0415 (TensorFlow: fs --help starts without it)

        implementation = backend.get()
        log.debug(
            "fs-core %s, %s, Keras %s, Python %s",
            __version__,
            implementation.versions(),
            keras.__version__,
            sys.version.split()[0],
        )
        log.debug("devices: %s", ", ".join(implementation.physical_devices()))
        log.debug("request: %s", request)


def _check_timelapse(args: argparse.Namespace) -> None:
    """-x, -y and -z come together, and the face folders hold faces, before training starts."""
    if timelapse_wanted(args):
        from fs_core.faces.faceset import list_images  # noqa: PLC0415 (OpenCV: fs --help starts without it)

        list_images(args.timelapse_a)
        list_images(args.timelapse_b)
