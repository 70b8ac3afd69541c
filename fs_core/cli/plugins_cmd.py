"""``fs plugins``: every plugin, what it provides, where it came from, and what failed to load; and
the Keras backends: which frameworks are installed, the GPUs each sees, and what ``auto`` picks."""

from __future__ import annotations

import argparse
import json
from typing import Any

from fs_core import backend, plugin_manager
from fs_core.backend import SUPPORTED
from fs_core.backend.choose import INSTALL, BackendAsked, BackendChoice, resolve
from fs_core.backend.detect import TITLES, Framework, detect
from fs_core.cli.common import disabled_from
from fs_core.errors import FsUserError
from fs_core.plugin_manager import KINDS


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("plugins", help="list installed plugins")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    registry = plugin_manager.get_registry(disabled_from(args))
    rows: list[dict[str, Any]] = []
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
                    # declared Keras backends (the item's within its pack's); None: all of them
                    "backends": _list_or_none(registry.backends_of(kind, name)),
                }
            )
    failures = [
        {"plugin": f.name, "distribution": f.distribution, "reason": f.reason}
        for f in registry.failures
    ]
    frameworks = [detect(name) for name in SUPPORTED]
    auto = _auto_pick(frameworks)
    if args.json:
        print(
            json.dumps(
                {
                    "plugins": rows,
                    "failed": failures,
                    "disabled": list(registry.disabled),
                    "losses_not_provided": registry.losses_not_provided,
                    "backends": {
                        "active": backend.active_name(),
                        "frameworks": [{"name": f.name, **f.to_json()} for f in frameworks],
                        "auto": auto,
                    },
                },
                indent=2,
            )
        )
        return 0

    order = ["model", "loss", "initializer", "optimizer", "augmenter", "sampler"]
    order += ["convert_color", "convert_mask_blend", "convert_scaler", "convert_writer"]
    order += [kind for kind in KINDS if kind not in order]  # kinds added later, in KINDS order
    rows.sort(key=lambda r: (order.index(r["kind"]), r["name"]))
    for r in rows:
        r["backend_cell"] = ",".join(r["backends"]) if r["backends"] else "all"
    columns = (
        ("KIND", "kind"),
        ("NAME", "name"),
        ("DISTRIBUTION", "distribution"),
        ("VERSION", "version"),
        ("BACKENDS", "backend_cell"),
    )
    widths = [max([len(h)] + [len(str(r[k])) for r in rows]) for h, k in columns]
    print("  ".join(h.ljust(w) for (h, _), w in zip(columns, widths)) + "  HELP")
    for r in rows:
        cells = [r[k] for _, k in columns]
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
    _print_backends(frameworks, auto)
    return 0


def _list_or_none(backends: tuple[str, ...] | None) -> list[str] | None:
    return list(backends) if backends is not None else None


def _auto_pick(frameworks: list[Framework]) -> dict[str, Any]:
    """What ``[global] backend = "auto"`` would pick on this machine, from what was detected (not
    from this process's Keras, already imported by the registry)."""
    found = {f.name: f for f in frameworks}
    try:
        choice: BackendChoice = resolve(
            BackendAsked("auto", "default"),
            keras_backend=lambda: None,
            accelerators=lambda name: found[name].devices,
            installed=lambda name: found[name].installed,
        )
    except FsUserError as error:
        return {"name": None, "why": error.one_line()}
    return choice.to_record()


def _print_backends(frameworks: list[Framework], auto: dict[str, Any]) -> None:
    print(f"\nBackends (this process: {backend.active_name()}):")
    width = max(len(f.name) for f in frameworks)
    version_width = max(len(f.version or "") for f in frameworks)
    for f in frameworks:
        if not f.installed:
            print(f"  {f.name.ljust(width)}  not installed ({INSTALL[f.name]})")
            continue
        if f.devices:
            sees = f"{TITLES[f.name]} sees {', '.join(f.devices)}"
        else:
            sees = "CPU only" + (f" ({f.note})" if f.note else "")
        print(f"  {f.name.ljust(width)}  {(f.version or '').ljust(version_width)}  {sees}")
    print(f"  auto picks: {auto['name']} ({auto['why']})")
