"""``fs plugins``: every plugin, what it provides, where it came from, and what failed to load."""

from __future__ import annotations

import argparse
import json

from fs_core import plugin_manager
from fs_core.cli.common import disabled_from
from fs_core.plugin_manager import KINDS


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("plugins", help="list installed plugins")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    registry = plugin_manager.get_registry(disabled_from(args))
    rows = []
    for info in registry.plugins:
        for kind, name in sorted(info.provides):
            item = registry.of_kind(kind)[name]
            rows.append(
                {
                    "kind": kind,
                    "name": name,
                    "plugin": info.name,
                    "distribution": info.distribution,
                    "version": info.version,
                    "help": getattr(item, "help", ""),
                }
            )
    failures = [
        {"plugin": f.name, "distribution": f.distribution, "reason": f.reason}
        for f in registry.failures
    ]
    if args.json:
        print(
            json.dumps(
                {
                    "plugins": rows,
                    "failed": failures,
                    "disabled": list(registry.disabled),
                    "losses_not_provided": registry.losses_not_provided,
                },
                indent=2,
            )
        )
        return 0

    order = ["model", "loss", "initializer", "optimizer", "augmenter", "sampler"]
    order += ["convert_color", "convert_mask_blend", "convert_scaler", "convert_writer"]
    order += [kind for kind in KINDS if kind not in order]  # kinds added later, in KINDS order
    rows.sort(key=lambda r: (order.index(r["kind"]), r["name"]))
    widths = [
        max([len(h)] + [len(str(r[k])) for r in rows])
        for h, k in (
            ("KIND", "kind"),
            ("NAME", "name"),
            ("DISTRIBUTION", "distribution"),
            ("VERSION", "version"),
        )
    ]
    header = ("KIND", "NAME", "DISTRIBUTION", "VERSION")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)) + "  HELP")
    for r in rows:
        cells = (r["kind"], r["name"], r["distribution"], r["version"])
        print("  ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + "  " + r["help"])
    if registry.losses_not_provided:
        print("\nNot provided:")
        for name, reason in sorted(registry.losses_not_provided.items()):
            print(f"  loss {name}: {reason}")
    if registry.disabled:
        print(f"\nDisabled: {', '.join(registry.disabled)}")
    if failures:
        print("\nFailed to load (skipped):")
        for f in failures:
            print(f"  {f['plugin']} ({f['distribution']}): {f['reason']}")
    return 0
