"""The ``fs`` command: sub-commands, and the one place errors become exit codes.

A :class:`~fs_core.errors.FsUserError` prints one line and exits 1; anything else is a bug in fs
and exits 2 with the traceback, so users can report it. The exception: an ``OSError`` about a named
file, or a full disk or refused permission, is the system refusing what the user asked (not a bug in
fs), so it too is one line naming the file and exit 1.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from fs_core import backend
from fs_core.errors import FsUserError
from fs_core.version import __version__

#: sub-command modules; each has ``add_parser(subparsers)`` setting ``func`` to its ``run(args)``
COMMANDS: tuple[str, ...] = (
    "fs_core.cli.train",
    "fs_core.cli.summary",
    "fs_core.cli.plugins_cmd",
    "fs_core.cli.config_cmd",
    "fs_core.cli.demo_data",
    "fs_core.cli.augment_preview",
    "fs_core.cli.swap",
    "fs_core.cli.extract",
    "fs_core.cli.sort",
    "fs_core.cli.faces",
    "fs_core.cli.convert",
    "fs_core.cli.export",
    "fs_core.cli.import_cmd",
    "fs_core.cli.restore",
    "fs_core.cli.set_cmd",
    "fs_core.cli.analysis",
    "fs_core.cli.gui",
)


class _Parser(argparse.ArgumentParser):
    """argparse, but a wrong flag is a user error like any other: one line, exit code 1."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(1, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fs", description="Train face-swap models.")
    parser.add_argument("--version", action="version", version=f"fs-core {__version__}")
    parser.add_argument(
        "--disable-plugins",
        default="",
        metavar="NAMES",
        help="comma-separated plugin names to block (also FS_DISABLE_PLUGINS)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS:
        module = importlib.import_module(module_name)  # a missing command is a broken install
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()  # imports no framework: fs --help starts without one
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        if not getattr(args, "chooses_backend", False):  # train, export: choose, then quiet
            backend.quiet_startup()
        return int(args.func(args) or 0)
    except FsUserError as error:
        sys.stdout.flush()
        print(f"fs {args.command}: error: {error.one_line()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 1
    except OSError as error:
        line = os_error_line(error)
        if line is None:
            return _internal_error()
        sys.stdout.flush()
        print(f"fs {args.command}: error: {line}", file=sys.stderr)
        return 1
    except Exception:
        return _internal_error()


def _internal_error() -> int:
    """A bug (in fs or a plugin): the traceback, so it can be reported, and exit status 2."""
    sys.stdout.flush()
    traceback.print_exc()
    print("fs: internal error (this is a bug in fs or a plugin; please report it)", file=sys.stderr)
    return 2


#: errors that say the system refused a request whatever the file (the user can fix them)
_SYSTEM_REFUSALS = {
    errno.ENOSPC: "no space left on the disk",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


def os_error_line(error: OSError) -> str | None:
    """One line for an OSError a user can fix (a named file, or a system refusal); None
    otherwise."""
    reason = _SYSTEM_REFUSALS.get(error.errno or 0) or error.strerror
    if error.filename is not None:
        return f"{os.fspath(error.filename)}: {reason or error}"
    if getattr(error, "errno", None) in _SYSTEM_REFUSALS:
        return reason
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
