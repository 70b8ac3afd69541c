"""``fs sort``: order a folder of extracted faces (by identity, sharpness, head turn or colour)
by renaming them ``<rank>_<name>``, so that a face set can be cleaned by eye. faceswap's flags."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "sort",
        help="order a folder of faces by identity, blur, yaw, pitch or colour",
        description="Rename the faces of a folder '<rank>_<name>' in the order of a sort "
        "method, in place or into another folder. The files' bytes (and so their faceswap "
        "headers) are unchanged; nothing is deleted or overwritten.",
    )
    add = parser.add_argument
    add(
        "-i",
        "--input",
        dest="input_dir",
        required=True,
        metavar="FACES",
        help="the folder of faces",
    )
    add(
        "-o",
        "--output",
        dest="output_dir",
        default=None,
        metavar="OUT",
        help="move (or with -k copy) the sorted faces here (default: rename in place; with "
        "-k, FACES/sorted)",
    )
    add(
        "-s",
        "--sort-by",
        dest="method",
        default="face",
        choices=("face", "blur", "yaw", "pitch", "hist"),
        help="face: each person's faces together (dlib; needs the extract extra); blur: "
        "sharpest first; yaw, pitch: by head turn; hist: by colour (default: face)",
    )
    add(
        "-k",
        "--keep",
        dest="keep",
        action="store_true",
        help="copy the faces instead of moving them",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from fs_core.extract.sort import sort_faces  # noqa: PLC0415 (fs --help imports no sort code)

    output = Path(args.output_dir) if args.output_dir else None
    pairs = sort_faces(Path(args.input_dir), args.method, output, args.keep)
    verb = "copied" if args.keep else "moved" if output is not None else "renamed"
    where = pairs[0][1].parent if pairs else Path(args.input_dir)
    print(f"{len(pairs)} faces sorted by {args.method} and {verb}: {where}")
    return 0
