"""``fs config``: the complete commented TOML of every option, or a preset, to read or to write."""

from __future__ import annotations

import argparse
from pathlib import Path

from fs_core import plugin_manager
from fs_core.atomic import atomic_write_bytes
from fs_core.cli.common import disabled_from
from fs_core.config import load_config, render_config
from fs_core.errors import FsUserError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("config", help="print (or write) the full configuration file")
    parser.add_argument("--write", metavar="FILE", help="write it to FILE instead of printing")
    parser.add_argument(
        "--preset",
        metavar="NAME",
        help="start from a model's preset (e.g. phaze_a_dny256); --list-presets shows them",
    )
    parser.add_argument("--list-presets", action="store_true", help="list the installed presets")
    parser.add_argument(
        "-C",
        "--configfile",
        metavar="FILE",
        help="start from this file's values instead of the defaults",
    )
    parser.set_defaults(func=run)


def presets(registry) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for descriptor in registry.models.values():
        found.update(
            {name: Path(path) for name, path in getattr(descriptor, "presets", {}).items()}
        )
    return found


def run(args: argparse.Namespace) -> int:
    registry = plugin_manager.get_registry(disabled_from(args))
    classes = registry.model_config_classes()
    available = presets(registry)
    if args.list_presets:
        for name in sorted(available):
            print(name)
        return 0
    source = args.configfile
    if args.preset:
        if args.preset not in available:
            raise FsUserError(
                f"unknown preset '{args.preset}' (presets: "
                f"{', '.join(sorted(available)) or 'none installed'})"
            )
        source = available[args.preset]
    config = load_config(source, classes)
    text = render_config(config, classes, {n: d.help for n, d in registry.models.items()})
    if args.write:
        target = Path(args.write)
        if target.parent and not target.parent.exists():
            raise FsUserError("folder does not exist", target.parent)
        atomic_write_bytes(target, text.encode())
        print(f"Wrote {target}")
    else:
        print(text)
    return 0
