"""``fs export``: one swap direction of a trained model as a SavedModel, ONNX or DeepFaceLive DFM.

Parsing and the message only; the work is in :mod:`fs_core.export` (one module per format).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fs_core.errors import FsUserError
from fs_core.export import FORMATS, PRECISIONS, memory_warning, require_converter
from fs_core.export.savedmodel import INFO_FILE, check_output_folder, export, make_module

__all__ = ["INFO_FILE", "add_parser", "export", "make_module", "run"]


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
        "face[, mask]) or a DeepFaceLive .dfm (in_face -> out_face_mask, out_celeb_face, "
        'out_celeb_face_mask). ONNX and DFM need pip install "fs-core[export]".',
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
    parser.set_defaults(func=run)
    return parser


def _check_options(args: argparse.Namespace) -> None:
    if args.format == "savedmodel" and args.precision != "float32":
        raise FsUserError("--precision float16 applies to --format onnx and dfm")
    if args.format == "dfm" and args.batch not in (None, 1):
        raise FsUserError(f"a DFM has batch 1 (DeepFaceLive's loader); --batch {args.batch} given")


def run(args: argparse.Namespace) -> int:
    from fs_core.cli.main import disabled_from
    from fs_core.export.metadata import crop_line
    from fs_core.plugin_manager import get_registry
    from fs_core.preview.trained import load_trained, swap_side

    swap_side(args.direction)
    _check_options(args)
    out = Path(args.output)
    if args.format == "savedmodel":
        check_output_folder(out)
    else:
        require_converter(args.format)
        from fs_core.export.onnx import check_output

        check_output(out)
    trained = load_trained(args.model_dir, get_registry(disabled_from(args)))
    name = trained.built.name
    if args.format == "savedmodel":
        export(trained, out, args.direction, args.batch)
        print(
            f"Exported '{name}' ({args.direction}) as a SavedModel in {out}; it "
            f"{crop_line(trained)}"
        )
        return 0
    warning = memory_warning(int(trained.built.model.count_params()))
    if warning:
        print(f"warning: {args.model_dir}: {warning}", file=sys.stderr)
    if args.format == "onnx":
        from fs_core.export.onnx import export_onnx

        done = export_onnx(trained, out, args.direction, args.precision, args.batch)
    else:
        from fs_core.export.dfm import SOFT_MASK_WARNING, export_dfm

        if not trained.built.learn_mask:
            print(f"warning: {args.model_dir}: {SOFT_MASK_WARNING}", file=sys.stderr)
        done = export_dfm(trained, out, args.direction, args.precision)
    print(
        f"Exported '{name}' ({args.direction}, {args.precision}) as {args.format.upper()} "
        f"{done.path} ({done.size_bytes / 2**20:.1f} MiB; outputs {', '.join(done.outputs)}; "
        f"max difference from Keras {done.max_difference:.2g}); it {crop_line(trained)}"
    )
    return 0
