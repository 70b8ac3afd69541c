"""What several commands share, kept apart from the dispatcher so commands never import it."""

from __future__ import annotations

import argparse


def disabled_from(args: argparse.Namespace) -> tuple[str, ...]:
    """The plugin names ``--disable-plugins`` blocks (comma-separated)."""
    return tuple(n.strip() for n in getattr(args, "disable_plugins", "").split(",") if n.strip())
