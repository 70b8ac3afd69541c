"""``fs demo-data OUT``: two synthetic face sets so a new user can train at once, and the short
clip (frames and faceswap alignments file) the A faces are cut from, to convert."""

from __future__ import annotations

import argparse

from fs_core.errors import FsUserError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo-data", help="write two synthetic face sets, OUT/A and OUT/B, and a clip, OUT/clip"
    )
    parser.add_argument("out", metavar="OUT", help="folder to write A/, B/ and clip/ into")
    parser.add_argument("--count", type=int, default=200, help="faces per side (default 200)")
    parser.add_argument(
        "--size", type=int, default=256, help="face image size in pixels (default 256)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fs_core.faces.demo import CLIP_FOLDER, CLIP_FRAMES, write_demo_data  # noqa: PLC0415 (OpenCV: fs --help starts without it)

    if args.count < 1:
        raise FsUserError(f"--count must be at least 1, got {args.count}")
    if args.size < 64:
        raise FsUserError(f"--size must be at least 64, got {args.size}")
    folder_a, folder_b = write_demo_data(args.out, count=args.count, size=args.size, seed=args.seed)
    clip = folder_a.parent / CLIP_FOLDER
    print(
        f"Wrote {args.count} faces to {folder_a} and {args.count} to {folder_b}, and a "
        f"{CLIP_FRAMES}-frame clip with its alignments to {clip}"
    )
    return 0
