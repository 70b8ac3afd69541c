"""``fs faces``: commands about face sets. ``fs faces report -A DIR [-B DIR]`` measures what in
the sets will make a swap fail (pose gaps, blur, near-duplicates, bad alignments, other people)
and prints a summary, with an HTML page (``-o``) and JSON (``--json``) on request."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fs_core.errors import FsUserError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "faces",
        help="check face sets before training (fs faces report)",
        description="Commands about face sets.",
    )
    commands = parser.add_subparsers(dest="faces_command", metavar="COMMAND")
    report = commands.add_parser(
        "report",
        help="report what in a face set will make a swap fail",
        description="Measure every face of A (and B): pose coverage and the poses A has and B "
        "lacks, blurred faces, near-duplicates, alignment outliers and (--identity) faces of "
        "another person. Prints a summary; -o writes a self-contained HTML page with "
        "thumbnails, --json the findings. See docs/face-report.md.",
    )
    add = report.add_argument
    add("-A", "--input-A", dest="input_a", required=True, metavar="DIR", help="faces A")
    add("-B", "--input-B", dest="input_b", default=None, metavar="DIR", help="faces B")
    add(
        "-o",
        "--output",
        dest="output",
        default=None,
        metavar="REPORT.html",
        help="write the HTML report here",
    )
    add(
        "--json",
        dest="json_file",
        default=None,
        metavar="FILE",
        help="write the findings as JSON here",
    )
    add(
        "--identity",
        action="store_true",
        help="also find faces of another person (dlib; needs the extract extra; about 0.1 s "
        "a face on a CPU core)",
    )
    # the report uses no framework: skip the start-up's quiet TensorFlow import (seconds)
    report.set_defaults(func=run, chooses_backend=True)
    parser.set_defaults(func=lambda args: _help(parser))
    return parser


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 1


def _writable(path: str | None, flag: str) -> Path | None:
    """``path`` checked before any face is measured: its folder must exist."""
    if path is None:
        return None
    target = Path(path)
    if target.is_dir():
        raise FsUserError(f"{flag}: this is a folder; give a file name", target)
    if not target.parent.is_dir():
        raise FsUserError(f"{flag}: the folder to write into does not exist", target.parent)
    return target


def run(args: argparse.Namespace) -> int:
    from fs_core.atomic import atomic_write_bytes  # noqa: PLC0415 (fs --help loads no report)
    from fs_core.facereport.html import add_thumbnails, render_html  # noqa: PLC0415 (OpenCV)
    from fs_core.facereport.report import build_report, summary_lines  # noqa: PLC0415 (numpy)

    output = _writable(args.output, "-o")
    json_file = _writable(args.json_file, "--json")
    report = build_report(
        args.input_a, args.input_b, identity=args.identity, show_progress=sys.stderr.isatty()
    )
    print("\n".join(summary_lines(report)))
    if json_file is not None:
        atomic_write_bytes(json_file, json.dumps(report, indent=1).encode("utf-8"))
        print(f"findings written to {json_file}")
    if output is not None:
        add_thumbnails(report)
        atomic_write_bytes(output, render_html(report).encode("utf-8"))
        print(f"report written to {output}")
    if report["findings"]:
        print(
            "Move the faces listed out of the training folders (fs sort orders a folder by "
            "blur, yaw or identity to review it by eye)."
        )
    return 0
