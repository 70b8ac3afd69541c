"""Runs one GUI job (``python -m fs_core.gui.jobrun JOB_DIR``) and records how it ended.

The server starts this small runner in its own session rather than the ``fs`` command itself, so
that the job's outcome is written down even when the server is gone by then: the runner starts
``python -m fs_core ARGS`` (the argument list in ``JOB_DIR/job.json``) with its output in
``JOB_DIR/log.txt``, waits for it, and writes ``JOB_DIR/result.json`` (exit code, end time, whether
it was cancelled). A page reloaded later, or a new server, reads the job's state from these files.

Cancelling sends SIGINT to the whole process group, so the command sees a Ctrl-C (``fs convert``
then deletes a video it had begun); the runner only notes it, and ends the command for good if it
has not stopped within :data:`GRACE_SECONDS`. Only the standard library and fs_core.atomic
(which needs nothing else) are imported here.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from fs_core.atomic import atomic_write_bytes

JOB_FILE = "job.json"
LOG_FILE = "log.txt"
RESULT_FILE = "result.json"
CANCEL_FILE = "cancel"
#: how long a cancelled command may take to stop before it is killed
GRACE_SECONDS = 30.0


def _write_json(path: Path, data: dict) -> None:
    atomic_write_bytes(path, json.dumps(data).encode("utf-8"))


def run(job_dir: Path) -> int:
    """Run the job of ``job_dir`` to its end; returns the command's exit code."""
    stopping: list[float] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # the command got the same signal (one process group); remember when, to end it later
        if not stopping:
            stopping.append(time.monotonic())

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    job = json.loads((job_dir / JOB_FILE).read_text(encoding="utf-8"))
    argv = [sys.executable, "-m", "fs_core", *job["argv"]]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(job_dir / LOG_FILE, "ab") as log:
        process = subprocess.Popen(
            argv,
            cwd=job.get("cwd") or None,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            close_fds=True,
        )
        while True:
            try:
                code = process.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if stopping and time.monotonic() - stopping[0] > GRACE_SECONDS:
                    process.kill()
    _write_json(
        job_dir / RESULT_FILE,
        {
            "rc": code,
            "ended": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "cancelled": bool(stopping) or (job_dir / CANCEL_FILE).exists(),
        },
    )
    return code


if __name__ == "__main__":
    sys.exit(0 if run(Path(sys.argv[1])) == 0 else 1)
