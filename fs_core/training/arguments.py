"""``fs train``'s flags, named as faceswap's (lib/cli/args_train.py), so users can move over.

Kept apart from the command so that both the command and the GUI (which re-reads a recorded run's
arguments to resume it) parse them with the one definition, and the GUI never imports the CLI.
The timelapse flags' check lives here too: it checks flags, before any model or plugin exists.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, NoReturn

from fs_core.backend.choose import OPTION_VALUES as BACKEND_VALUES
from fs_core.errors import FsUserError
from fs_core.folder.layout import RECORD_DIR, TRAINER_FILE, trainer_file
from fs_core.logs import LEVELS

#: the timelapse's three flags: request attribute -> flag, as messages name them
TIMELAPSE_FLAGS = (
    ("timelapse_a", "-x/--timelapse-input-A"),
    ("timelapse_b", "-y/--timelapse-input-B"),
    ("timelapse_out", "-z/--timelapse-output"),
)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """Every flag of ``fs train``, with its help and default."""
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
        "(variables on one device, compute on all; TensorFlow only), multi-worker (the "
        "machines in TF_CONFIG; on JAX the processes in KERAS_DISTRIBUTION_*); on --backend "
        "torch: ddp (one process per GPU, started by torchrun --nproc_per_node=N -m fs_core "
        "train ... -d ddp); -b is the global batch, split over the replicas",
    )
    p.add_argument(
        "--backend",
        choices=BACKEND_VALUES,
        default=None,
        help="Keras backend to train on: auto, tensorflow, torch or jax (default: [global] "
        "backend, which defaults to auto: TensorFlow on its GPU, else PyTorch on CUDA, ROCm or "
        "MPS, else TensorFlow on the CPU)",
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


def timelapse_wanted(request: Any) -> bool:
    """True when a timelapse is asked for (``request``: parsed flags or a TrainRequest);
    FsUserError naming the missing flag when only some of the three are given."""
    given = {attr: getattr(request, attr, None) for attr, _ in TIMELAPSE_FLAGS}
    if not any(given.values()):
        return False
    missing = [flag for attr, flag in TIMELAPSE_FLAGS if not given[attr]]
    if missing:
        raise FsUserError(
            f"the timelapse needs -x, -y and -z together; missing {', '.join(missing)}"
        )
    out = Path(request.timelapse_out)
    if out.exists() and not out.is_dir():
        raise FsUserError("-z/--timelapse-output is a file, not a folder", out)
    return True


class _RecordedParser(argparse.ArgumentParser):
    """``fs train``'s parser, answering a bad argument list with FsUserError instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise FsUserError(f"the recorded arguments are not valid for fs train: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise FsUserError("the recorded arguments are not a training run (help or version)")


def train_parser() -> argparse.ArgumentParser:
    """``fs train``'s flags in a parser that raises FsUserError rather than exiting: for reading
    arguments a program recorded, not a user's command line."""
    parser = _RecordedParser(prog="fs train")
    add_train_arguments(parser)
    return parser


def recorded_train_argv(model_dir: Path) -> list[str]:
    """The ``fs train`` arguments of the model's last run, from ``record/trainer.json``;
    FsUserError when there is none or it cannot be read."""
    path = trainer_file(model_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FsUserError(
            f"model '{model_dir.name}' has no recorded training run ({RECORD_DIR}/{TRAINER_FILE})"
        ) from None
    except (OSError, ValueError) as error:
        raise FsUserError(f"cannot read {RECORD_DIR}/{TRAINER_FILE}: {error}") from None
    argv = data.get("argv") if isinstance(data, dict) else None
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise FsUserError(f"{RECORD_DIR}/{TRAINER_FILE} holds no argument list")
    return argv[argv.index("train") + 1 :] if "train" in argv else list(argv)


def recorded_train_args(model_dir: Path) -> argparse.Namespace:
    """The model's last run's arguments as ``fs train`` parsed them (FsUserError otherwise)."""
    return train_parser().parse_args(recorded_train_argv(model_dir))
