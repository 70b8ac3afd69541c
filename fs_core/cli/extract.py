"""``fs extract``: find the faces in a folder of frames or a video and write them as faceswap
does (aligned face PNGs with faceswap's header, and the ``.fsa`` alignments file that ``fs
convert`` reads). The flags are faceswap's extract flags where it has them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fs_core.errors import FsUserError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "extract",
        help="extract the faces of a folder of frames or a video (dlib)",
        description="Find the faces in a folder of frames or a video and write them as faceswap "
        "extracts them: head-centred face PNGs with faceswap's header in OUT, and the "
        "alignments file beside the frames (INPUT/alignments.fsa) or the video "
        "(<stem>_alignments.fsa). A stopped run continues where it stopped when run again. "
        'Needs pip install "fs-core[extract]" (dlib and its models).',
    )
    add = parser.add_argument
    add(
        "-i",
        "--input-dir",
        dest="input_dir",
        required=True,
        metavar="INPUT",
        help="a folder of frames or a video file",
    )
    add(
        "-o",
        "--output-dir",
        dest="output_dir",
        required=True,
        metavar="OUT",
        help="the folder to write the faces to (created if missing)",
    )
    add(
        "-p",
        "-al",
        "--alignments",
        dest="alignments",
        default=None,
        metavar="FSA",
        help="the alignments file to write (default: beside the frames or the video)",
    )
    add(
        "-D",
        "--detector",
        dest="detector",
        default="hog",
        choices=("hog", "cnn"),
        help="hog: dlib's frontal detector, fast on a CPU (default); cnn: dlib's MMOD "
        "network, also finds turned faces, slow without a GPU",
    )
    add(
        "--upsample",
        dest="upsample",
        type=int,
        default=0,
        metavar="N",
        help="double the frame N times before detecting, to find faces under ~80 px "
        "(4x slower each time; default 0)",
    )
    add(
        "-m",
        "--min-size",
        dest="min_size",
        type=int,
        default=0,
        metavar="PERCENT",
        help="drop faces whose detected box's longer edge is under PERCENT of the frame's "
        "shorter side (10: under 72 px in 720p; default 0: off)",
    )
    add(
        "-x",
        "--max-size",
        dest="max_size",
        type=int,
        default=0,
        metavar="PERCENT",
        help="drop faces whose detected box's longer edge is over PERCENT of the frame's "
        "shorter side (up to 500; default 0: off)",
    )
    add(
        "-z",
        "--size",
        dest="size",
        type=int,
        default=512,
        metavar="PX",
        help="the size of the face images (default 512)",
    )
    add(
        "-N",
        "--extract-every-n",
        dest="every",
        type=int,
        default=1,
        metavar="N",
        help="extract every Nth frame only (default 1: every frame)",
    )
    add(
        "-s",
        "--skip-existing",
        dest="skip_existing",
        action="store_true",
        help="keep an existing alignments file and extract only the frames it does not list",
    )
    add(
        "-e",
        "--skip-existing-faces",
        dest="skip_faces",
        action="store_true",
        help="skip the frames that already have a face in OUT (their entries in the "
        "alignments file are rebuilt from the faces' headers)",
    )
    add(
        "-f",
        "--filter",
        dest="filters",
        action="append",
        default=[],
        metavar="IMAGE",
        help="keep only faces of this person (an image or a folder of images; repeatable)",
    )
    add(
        "-n",
        "--nfilter",
        dest="nfilters",
        action="append",
        default=[],
        metavar="IMAGE",
        help="drop faces of this person (an image or a folder of images; repeatable)",
    )
    add(
        "-l",
        "--ref-threshold",
        "--ref_threshold",
        dest="threshold",
        type=float,
        default=0.6,
        metavar="D",
        help="the face-recognition distance under which two faces are one person "
        "(default 0.6; lower is stricter)",
    )
    add(
        "-M",
        "--masker",
        dest="maskers",
        nargs="+",
        default=None,
        metavar="MASK",
        help="the landmark masks to store with each face, in its header and the alignments "
        "file, as faceswap's extract stored them (faceswap up to 3.0 trains only with a stored "
        "mask): components, extended (default: both), or none",
    )
    add("--no-progress", dest="progress", action="store_false", help="no progress bar")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from fs_core.extract.run import (  # noqa: PLC0415 (fs --help imports no extract code)
        ExtractRequest,
        extract,
        maskers_from_flag,
        stage_shares,
    )

    maskers = maskers_from_flag(args.maskers)
    request = ExtractRequest(
        input=Path(args.input_dir),
        output=Path(args.output_dir),
        alignments=Path(args.alignments) if args.alignments else None,
        detector=args.detector,
        upsample=args.upsample,
        min_size=args.min_size,
        max_size=args.max_size,
        size=args.size,
        every=args.every,
        skip_existing=args.skip_existing,
        skip_faces=args.skip_faces,
        filters=tuple(Path(path) for path in args.filters),
        nfilters=tuple(Path(path) for path in args.nfilters),
        threshold=args.threshold,
        maskers=maskers,
        progress=args.progress,
    )
    summary = extract(request, log=print)
    elapsed = max(summary.elapsed, 1e-9)
    parts = [
        f"{summary.processed} frames extracted ({summary.processed / elapsed:.1f} frames/s)",
        f"{summary.faces} faces ({summary.kept_faces} written)",
    ]
    counts = [
        (summary.skipped, "frames already done"),
        (summary.without_faces, "frames without faces"),
        (summary.unreadable, "unreadable frames skipped"),
        (summary.too_small, "faces under -m"),
        (summary.too_large, "faces over -x"),
        (summary.filtered, "faces filtered out (-f/-n)"),
    ]
    parts += [f"{count} {what}" for count, what in counts if count]
    print("; ".join(parts))
    shares = stage_shares(summary)
    if shares:
        print("time: " + ", ".join(f"{stage} {share:.0%}" for stage, share in shares.items()))
    print(f"faces: {request.output}; alignments: {summary.alignments}")
    if not summary.faces and summary.processed:
        # the alignments file lists the frames read; the user most likely wants other settings
        dropped = summary.filtered + summary.too_small + summary.too_large
        hint = (
            f"all {dropped} faces found were dropped by -m/-x/-f/-n"
            if dropped
            else "a smaller face needs --upsample 1, a turned face -D cnn"
        )
        raise FsUserError(f"no faces extracted ({hint})", request.input)
    return 0
