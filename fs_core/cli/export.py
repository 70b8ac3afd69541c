"""``fs export``: one swap direction of a trained model as a SavedModel, ONNX or DeepFaceLive DFM.

Parsing and the message only; the work is in :mod:`fs_core.export.run` (one module per format
beside it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fs_core import backend, plugin_manager
from fs_core.backend.choose import choose_tensorflow
from fs_core.cli.common import disabled_from
from fs_core.export import FORMATS, PRECISIONS
from fs_core.export.run import export_model


def _batch(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 4096:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 4096, got {text!r}")
    return value


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export",
        help="write a trained model's swap as a SavedModel, ONNX or DeepFaceLive .dfm",
        description="Export one swap direction of a trained model: a TensorFlow SavedModel "
        "(faces float32 NHWC in [0, 1] -> face[, mask]), an ONNX file (faces BGR in [0, 1] -> "
        "face[, mask]) or a DeepFaceLive .dfm (in_face:0 -> out_face_mask:0, out_celeb_face:0, "
        'out_celeb_face_mask:0). ONNX and DFM need pip install "fs-core[export]".',
    )
    parser.add_argument(
        "-m",
        "--model-dir",
        dest="model_dir",
        required=True,
        metavar="MODEL_DIR",
        help="the trained model folder",
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE_OR_DIR",
        help="savedmodel: a new or empty folder; onnx/dfm: a new file, or a folder to write "
        "<model>_<direction>.onnx/.dfm into",
    )
    parser.add_argument(
        "--format",
        default="savedmodel",
        choices=FORMATS,
        help="savedmodel (default), onnx, or dfm (DeepFaceLive, FaceFusion, VisoMaster)",
    )
    parser.add_argument(
        "--direction",
        default="a-to-b",
        choices=("a-to-b", "b-to-a"),
        help="a-to-b (default): faces of A become B; b-to-a: the reverse",
    )
    parser.add_argument(
        "--precision",
        default="float32",
        choices=PRECISIONS,
        help="onnx/dfm weights and arithmetic; float16 halves the file (inputs and outputs stay "
        "float32)",
    )
    parser.add_argument(
        "--batch",
        type=_batch,
        default=None,
        metavar="N",
        help="fix the batch size (default: any; a dfm is always 1)",
    )
    # TensorFlow is chosen in run, before Keras is imported (whatever KERAS_BACKEND says)
    parser.set_defaults(func=run, chooses_backend=True)
    return parser


def run(args: argparse.Namespace) -> int:
    choose_tensorflow()
    backend.quiet_startup()
    line = export_model(
        args.model_dir,
        Path(args.output),
        fmt=args.format,
        direction=args.direction,
        precision=args.precision,
        batch=args.batch,
        registry=plugin_manager.get_registry(disabled_from(args)),
        warn=lambda text: print(f"warning: {text}", file=sys.stderr),
    )
    print(line)
    return 0
