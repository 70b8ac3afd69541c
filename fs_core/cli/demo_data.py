"""``fs demo-data OUT``: two synthetic face sets so a new user can train at once."""
from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("demo-data", help="write two synthetic face sets, OUT/A and OUT/B")
    parser.add_argument("out", metavar="OUT", help="folder to write A/ and B/ into")
    parser.add_argument("--count", type=int, default=200, help="faces per side (default 200)")
    parser.add_argument("--size", type=int, default=256, help="face image size in pixels (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fs_core.errors import FsUserError
    from fs_core.faces.demo import write_demo_data
    if args.count < 1:
        raise FsUserError(f"--count must be at least 1, got {args.count}")
    if args.size < 64:
        raise FsUserError(f"--size must be at least 64, got {args.size}")
    folder_a, folder_b = write_demo_data(args.out, count=args.count, size=args.size, seed=args.seed)
    print(f"Wrote {args.count} faces to {folder_a} and {args.count} to {folder_b}")
    return 0
