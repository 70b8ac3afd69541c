"""``fs train``: flags named as faceswap's (lib/cli/args_train.py), so users can move over."""

from __future__ import annotations

import argparse
import logging
import sys

from fs_core import __version__, plugin_manager
from fs_core.builtins.timelapse import check_request
from fs_core.cli.common import disabled_from
from fs_core.cli.summary import print_summary
from fs_core.errors import FsUserError
from fs_core.logs import LEVELS, log_to_file, logging_to
from fs_core.training.schedule import load_schedule
from fs_core.training.strategy import parse_gpu_ids


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a model on two face sets")
    p.add_argument(
        "-A", "--input-A", dest="input_a", help="folder of faces A (the face to replace)"
    )
    p.add_argument("-B", "--input-B", dest="input_b", help="folder of faces B (the face to put in)")
    p.add_argument(
        "-m", "--model-dir", dest="model_dir", help="model folder (new, or one to resume)"
    )
    p.add_argument("-t", "--trainer", default="original", help="model to train (see 'fs plugins')")
    p.add_argument(
        "-b",
        "--batch-size",
        dest="batch_size",
        type=int,
        default=16,
        help="faces per side per iteration (1-256, default 16)",
    )
    p.add_argument(
        "-i",
        "--iterations",
        type=int,
        default=1_000_000,
        help="iterations to train this session (default 1000000)",
    )
    p.add_argument(
        "-s",
        "--save-interval",
        dest="save_interval",
        type=int,
        default=250,
        help="save every N iterations (default 250)",
    )
    p.add_argument("-C", "--configfile", help="TOML configuration (see 'fs config')")
    p.add_argument(
        "-l",
        "--load-weights",
        dest="load_weights",
        metavar="MODEL_DIR",
        help="new model only: copy the model's load parts from another model folder",
    )
    p.add_argument(
        "-f",
        "--freeze-weights",
        dest="freeze_weights",
        action="store_true",
        help="freeze the model's freeze parts (usually the encoder)",
    )
    p.add_argument("-u", "--summary", action="store_true", help="print the model summary and exit")
    p.add_argument(
        "-M",
        "--warp-to-landmarks",
        dest="warp_to_landmarks",
        action="store_true",
        help="warp inputs toward the nearest faces of the other side",
    )
    p.add_argument("-P", "--no-flip", dest="no_flip", action="store_true", help="do not flip faces")
    p.add_argument(
        "-c",
        "--no-augment-color",
        dest="no_augment_color",
        action="store_true",
        help="do not augment colour",
    )
    p.add_argument(
        "-W", "--no-warp", dest="no_warp", action="store_true", help="do not warp inputs"
    )
    p.add_argument(
        "-r",
        "--use-lr-finder",
        dest="use_lr_finder",
        action="store_true",
        help="learning rate finder: on a new model find a rate first ([global] "
        "lr_finder_* options) and store it; on a model with a stored rate train at "
        "that rate (without -r, [global] learning_rate applies)",
    )
    p.add_argument(
        "-a",
        "--warmup",
        type=int,
        default=0,
        help="raise the learning rate from 0 over the first N iterations (0-5000)",
    )
    p.add_argument(
        "--auto-batch",
        dest="auto_batch",
        action="store_true",
        help="on running out of memory in the first iterations, halve -b and retry",
    )
    p.add_argument("--seed", type=int, default=None, help="random seed (repeatable runs)")
    p.add_argument(
        "-d",
        "--distributed",
        default="default",
        metavar="STRATEGY",
        help="default (one device), mirrored (every visible GPU), central-storage "
        "(variables on one device, compute on all), multi-worker (the machines in "
        "TF_CONFIG); -b is the global batch, split over the replicas",
    )
    p.add_argument(
        "-X",
        "--exclude-gpus",
        dest="exclude_gpus",
        nargs="+",
        default=None,
        metavar="ID",
        help="hide these GPUs (indices, e.g. -X 1 or -X 0,2) from training",
    )
    p.add_argument(
        "-I",
        "--snapshot-interval",
        dest="snapshot_interval",
        type=int,
        default=0,
        metavar="N",
        help="copy the saved model to MODEL_DIR_snapshot_<ITERS>_iters/ "
        "every N iterations (0: never)",
    )
    p.add_argument(
        "-w",
        "--write-image",
        dest="write_image",
        action="store_true",
        help="write preview.png in the model folder at each save",
    )
    p.add_argument(
        "-p",
        "--preview",
        action="store_true",
        help="show the preview in a window at each save (needs a display)",
    )
    p.add_argument(
        "-x",
        "--timelapse-input-A",
        dest="timelapse_a",
        metavar="DIR",
        help="timelapse: folder of A faces (with -y and -z)",
    )
    p.add_argument(
        "-y",
        "--timelapse-input-B",
        dest="timelapse_b",
        metavar="DIR",
        help="timelapse: folder of B faces (with -x and -z)",
    )
    p.add_argument(
        "-z",
        "--timelapse-output",
        dest="timelapse_out",
        metavar="DIR",
        help="timelapse: folder for one <unix time>.jpg per save (with -x and -y)",
    )
    p.add_argument(
        "--schedule",
        metavar="FILE",
        help="a recipe of training stages (TOML [[stage]] tables: at, snapshot, reset, freeze, "
        "unfreeze, [stage.set]); see docs/recipes.md",
    )
    p.add_argument(
        "--pretrain",
        action="store_true",
        help="train a base model: both sides on the faces of -A (a generic face set; no -B)",
    )
    p.add_argument(
        "--from-pretrained",
        dest="from_pretrained",
        metavar="MODEL_DIR",
        help="new model only: start from a pretrained model, copying every part whose "
        "variables match, at iteration 0 (recorded in the state)",
    )
    p.add_argument(
        "--holdout",
        type=int,
        default=None,
        metavar="N",
        help="keep N faces per side out of training and report their reconstruction loss at "
        "each save (recorded in the model: a resume holds out the same faces; 0 ends it)",
    )
    p.add_argument(
        "-n", "--no-logs", dest="no_logs", action="store_true", help="do not write TensorBoard logs"
    )
    p.add_argument(
        "-L",
        "--loglevel",
        default="INFO",
        type=str.upper,
        choices=LEVELS,
        help="messages shown (and written to -F): DEBUG, INFO (default), WARNING, "
        "ERROR or CRITICAL; the live status line is always shown",
    )
    p.add_argument(
        "-F",
        "--logfile",
        metavar="FILE",
        help="also write the messages, with times, to FILE (appended), plus the "
        "status at each save and the details of an internal error",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.summary:
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

    # the face folders are scanned while TensorFlow and the plugins are imported
    scans = start_scans(args.input_a, args.input_b)
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
    )
    with logging_to(args.loglevel, args.logfile) as notify:
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


def _log_versions(request: object) -> None:
    """DEBUG: what ran, for bug reports (the request and the library versions)."""
    log = logging.getLogger("fs")
    if log.isEnabledFor(logging.DEBUG):
        import keras  # noqa: PLC0415 (TensorFlow: fs --help starts without it)

        from fs_core import backend  # noqa: PLC0415 (TensorFlow: fs --help starts without it)

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
    if check_request(args):
        from fs_core.faces.faceset import list_images  # noqa: PLC0415 (OpenCV: fs --help starts without it)

        list_images(args.timelapse_a)
        list_images(args.timelapse_b)
