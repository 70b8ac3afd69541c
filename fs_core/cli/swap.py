"""``fs swap``: parsing and the message; the work is in :mod:`fs_core.inference.swap`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fs_core import plugin_manager
from fs_core.cli.common import disabled_from
from fs_core.inference.swap import swap_faces


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "swap",
        help="swap a folder of faces with a trained model",
        description="Run faces through a trained model (A faces through decoder B for a-to-b) and "
        "write the swapped faces as PNG (alpha = the learned mask, when the model "
        "learns one).",
    )
    parser.add_argument(
        "-m",
        "--model-dir",
        dest="model_dir",
        required=True,
        metavar="MODEL_DIR",
        help="the trained model folder",
    )
    parser.add_argument("-i", "--input", required=True, metavar="FACES", help="folder of faces")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="folder to write to")
    parser.add_argument(
        "--direction",
        default="a-to-b",
        choices=("a-to-b", "b-to-a"),
        help="a-to-b (default): faces of A become B; b-to-a: the reverse",
    )
    parser.add_argument(
        "-C",
        "--configfile",
        default=None,
        metavar="CONFIG",
        help="config file for changeable options (convert_batchsize)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    registry = plugin_manager.get_registry(disabled_from(args))
    count = swap_faces(args.model_dir, args.input, out, args.direction, registry, args.configfile)
    print(f"Swapped {count} faces ({args.direction}) into {out}")
    return 0
