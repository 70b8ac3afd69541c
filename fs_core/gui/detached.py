"""Starting a command the GUI does not wait for: a trainer, a convert/export/import job, a frame
preview. Each runs in its own session, so Ctrl-C in the server's terminal or the server ending
never reaches it; never through a shell; its output goes to a log file the page can show."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO


def start_detached(
    argv: Sequence[str], cwd: Path, log: IO[bytes], env: Mapping[str, str] | None = None
) -> subprocess.Popen:
    """Start ``argv`` in ``cwd`` with stdout and stderr into ``log`` (an open binary file: the
    child keeps its own handle, the caller may close it), unbuffered Python output, no stdin and
    no other inherited files. ``env``: the environment (default: this one)."""
    return subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(os.environ if env is None else env, PYTHONUNBUFFERED="1"),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        close_fds=True,
    )
