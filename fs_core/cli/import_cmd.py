"""``fs import``: parsing and the summary; the work is in :mod:`fs_core.importing`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from fs_core import plugin_manager
from fs_core.cli.common import disabled_from


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "import",
        help="bring a faceswap model folder over as an fs model folder",
        description="Read a faceswap 3 model folder (<name>.keras and <name>_state.json; faceswap "
        "need not be installed) and write a new fs model folder: the architecture and its "
        "options, iterations, sessions, lowest average loss, LR-finder rate and every weight, "
        "checked name by name and shape by shape. The faceswap folder is only read; nothing is "
        "written when anything cannot be mapped. Then 'fs train -m MODEL_DIR' trains on.",
    )
    parser.add_argument(
        "-i",
        "--input-dir",
        dest="input_dir",
        required=True,
        metavar="FACESWAP_MODEL_DIR",
        help="the faceswap model folder",
    )
    parser.add_argument(
        "-m",
        "--model-dir",
        dest="model_dir",
        required=True,
        metavar="MODEL_DIR",
        help="the fs model folder to write (new, or an empty folder)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from fs_core.importing import import_faceswap_model  # noqa: PLC0415 (TensorFlow: fs --help starts without it)

    result = import_faceswap_model(
        args.input_dir,
        args.model_dir,
        plugin_manager.get_registry(disabled_from(args)),
        note=lambda text: print(f"note: {text}", file=sys.stderr),
    )
    print(
        f"Imported faceswap '{result.model_name}' into {result.model_dir}: {result.weights} "
        f"weights, {result.iterations} iterations, {result.sessions} sessions"
        f"{'' if result.optimizer_imported else ', fresh optimizer state'}; "
        f"train on with: fs train -m {result.model_dir} -t {result.model_name} -A ... -B ..."
    )
    return 0
