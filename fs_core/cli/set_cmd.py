"""``fs set``: change a model's settings, while it trains or for its next start.

``fs set -m MODEL_DIR global.learning_rate=2e-5`` sends the change to the trainer running on the
folder and prints its answer; with no trainer running the change is stored for the next
``fs train``. ``--list`` shows the stored changes, ``--reset KEY`` (or ``all``) forgets them. What
a change does and when it applies is :mod:`fs_core.training.set_settings`'s and
:mod:`fs_core.training.live`'s; this module parses the arguments and prints.
"""

from __future__ import annotations

import argparse
from typing import Any

from fs_core.cli.common import disabled_from
from fs_core.errors import FsUserError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "set",
        help="change a model's settings while it trains (or for its next start)",
        description="Change settings of a model: sent to the trainer running on the folder, "
        "which applies them between iterations (the learning rate, save and snapshot "
        "intervals and the guards' options at once; anything else with a save and a new "
        "session), or stored for the next fs train when none runs. Every later fs train of "
        "the model applies them over its config file until --reset forgets them.",
    )
    parser.add_argument(
        "-m",
        "--model-dir",
        dest="model_dir",
        required=True,
        metavar="MODEL_DIR",
        help="the model folder",
    )
    parser.add_argument(
        "settings",
        nargs="*",
        metavar="KEY=VALUE",
        help='options named as a schedule names them: "section.key" (global.learning_rate=2e-5, '
        "global.loss.loss_function=ssim, global.loss.loss_weight_2=50) or batch_size, faces_a, "
        "faces_b, save_interval, snapshot_interval; values are TOML (a bare word is a string)",
    )
    parser.add_argument(
        "--list", action="store_true", help="show the stored changes and what each replaced"
    )
    parser.add_argument(
        "--reset",
        nargs="+",
        metavar="KEY",
        default=(),
        help="forget these stored changes (all: every one); the config file's values apply "
        "again from the next start",
    )
    parser.add_argument(
        "--no-wait", action="store_true", help="send to the trainer without waiting for its answer"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for the trainer's answer (default 60)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from fs_core.training import live, set_settings  # noqa: PLC0415 (TensorFlow: fs --help starts without it)

    set_settings.check_model_dir(args.model_dir)
    if args.list:
        if args.settings or args.reset:
            raise FsUserError("--list changes nothing: give it alone")
        rows = set_settings.listing(args.model_dir)
        if not rows:
            print(f"{args.model_dir}: no changed settings (the config file's values apply)")
            return 0
        print(f"Changed settings of {args.model_dir} (applied over the config file at each start):")
        for row in rows:
            replaces = (
                f"  (replaces {live.format_value(row['replaces'])})"
                if row["replaces"] is not None
                else ""
            )
            print(f"  {row['key']} = {live.format_value(row['value'])}{replaces}")
        return 0
    if not args.settings and not args.reset:
        raise FsUserError("give KEY=VALUE settings to change, --reset KEY, or --list")
    changes = live.parse_assignments(args.settings)
    registry = None
    if changes:
        from fs_core import plugin_manager  # noqa: PLC0415 (TensorFlow: fs --help starts without it)

        registry = plugin_manager.get_registry(disabled_from(args))
    outcome = set_settings.change(
        args.model_dir,
        changes,
        registry,
        reset=tuple(args.reset),
        wait=None if args.no_wait else args.timeout,
    )
    if outcome.failed:
        raise FsUserError(outcome.text)
    print(outcome.text)
    return 0
