"""``fs summary -t MODEL``: each part's layers and the parameter counts, without any data."""

from __future__ import annotations

import argparse

from fs_core import plugin_manager
from fs_core.cli.common import disabled_from
from fs_core.config import load_config


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("summary", help="print a model's layers and parameter counts")
    parser.add_argument("-t", "--trainer", required=True, metavar="MODEL", help="model name")
    parser.add_argument("-C", "--configfile", metavar="FILE", help="options for the model")
    parser.set_defaults(func=run)


def print_summary(model_name: str, config_path: str | None, disabled: tuple[str, ...]) -> None:
    from fs_core.model.build import build_from_config, get_descriptor, summary_text  # noqa: PLC0415 (TensorFlow: fs --help starts without it)

    registry = plugin_manager.get_registry(disabled)
    get_descriptor(registry, model_name)
    config = load_config(config_path, registry.model_config_classes())
    print(summary_text(build_from_config(registry, model_name, config)))


def run(args: argparse.Namespace) -> int:
    print_summary(args.trainer, args.configfile, disabled_from(args))
    return 0
