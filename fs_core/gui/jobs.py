"""The GUI's convert, export and import jobs: each one a folder under ``ROOT/.fs-jobs/``.

A job lives in files, not in the server's memory, so a reloaded page or a restarted server finds
every job again with its state: ``job.json`` (what was asked: kind, model, the ``fs`` arguments,
where the output goes), ``pid`` (the runner, :mod:`fs_core.gui.jobrun`), ``log.txt`` (the
command's output), ``progress.json`` (``fs convert``'s frame count) and, once it ended,
``result.json``. The runner runs in its own session, so a job outlives the server as a trainer does.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import signal
import sys
import threading
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fs_core.atomic import atomic_write_bytes
from fs_core.errors import FsUserError
from fs_core.gui.detached import start_detached
from fs_core.gui.jobrun import CANCEL_FILE, JOB_FILE, LOG_FILE, RESULT_FILE

JOBS_DIR = ".fs-jobs"
PID_FILE = "pid"
PROGRESS_FILE = "progress.json"
#: an argument starting with this names a file in the job's own folder (made by :meth:`start`)
IN_JOB = "@job/"
#: how long after its start a runner may not yet show its own command line
STARTUP_SECONDS = 10.0
#: jobs the list shows (newest first); older folders stay on disk
LIST_LIMIT = 50
_JOB_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-(convert|export|import)-[0-9a-f]{6}$")
VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".mov", ".avi", ".mpeg", ".flv")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def jobs_root(root: Path) -> Path:
    return root / JOBS_DIR


def job_dir(root: Path, job_id: str) -> Path:
    """The folder of job ``job_id``; the id must have the form the server gives ids."""
    if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
        raise FsUserError(f"not a job id: {job_id!r}")
    folder = jobs_root(root) / job_id
    if not (folder / JOB_FILE).is_file():
        raise FileNotFoundError(job_id)
    return folder


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _runner_alive(pid: int, pid_file: Path) -> bool:
    """Whether ``pid`` is still a job runner (not a pid the system has since given to another
    program: where ``/proc`` exists, its command line is checked, except in the first seconds,
    when a runner just forked may still show the server's command line)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        text = cmdline.read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except OSError:
        return True
    if not text:  # a zombie: ended, not yet reaped
        return False
    if b"fs_core.gui.jobrun" in text:
        return True
    try:
        return time.time() - pid_file.stat().st_mtime < STARTUP_SECONDS
    except OSError:
        return False


class JobStore:
    """Starts jobs under one root and reads them back; reaps the runners it started."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()

    def start(
        self,
        kind: str,
        argv: Sequence[str],
        meta: dict[str, Any],
        files: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Start ``fs *argv`` as a job of ``kind``; ``meta`` (model, output, title ...) is kept
        in ``job.json`` for the list and the result views. ``files`` (name -> text) are written
        into the job's folder first; an argument ``@job/NAME`` becomes that file's path."""
        stamp = dt.datetime.now()
        job_id = f"{stamp:%Y%m%d-%H%M%S}-{kind}-{secrets.token_hex(3)}"
        folder = jobs_root(self.root) / job_id
        folder.mkdir(parents=True)
        for name, text in (files or {}).items():
            (folder / name).write_text(text, encoding="utf-8")
        argv = [str(folder / a[len(IN_JOB) :]) if a.startswith(IN_JOB) else a for a in argv]
        job = {
            **meta,
            "id": job_id,
            "kind": kind,
            "created": stamp.astimezone().isoformat(timespec="seconds"),
            "argv": list(argv),
            "cwd": str(self.root),
        }
        # the list reads job.json while jobs start: never half of one
        atomic_write_bytes(folder / JOB_FILE, json.dumps(job, indent=1).encode("utf-8"))
        with self._lock:
            log = open(folder / LOG_FILE, "ab")  # handed to the child, closed below
            try:
                log.write(f"--- fs gui started: fs {' '.join(argv)}\n".encode())
                log.flush()
                process = start_detached(
                    [sys.executable, "-m", "fs_core.gui.jobrun", str(folder)], self.root, log
                )
            finally:
                log.close()
            (folder / PID_FILE).write_text(str(process.pid), encoding="ascii")
        threading.Thread(target=process.wait, name=f"reap-job-{process.pid}", daemon=True).start()
        return self.state(folder)

    def state(self, folder: Path) -> dict[str, Any]:
        """What the page shows of one job: ``job.json`` plus ``state`` (running, done, failed,
        cancelled), ``progress`` and, for a failed job, ``error`` (its last error line)."""
        job = _read_json(folder / JOB_FILE) or {}
        job.pop("argv", None)
        job.pop("cwd", None)
        result = _read_json(folder / RESULT_FILE)
        progress = _read_json(folder / PROGRESS_FILE)
        job["progress"] = progress if isinstance(progress, dict) else None
        if isinstance(result, dict):
            if result.get("cancelled"):
                job["state"] = "cancelled"
            else:
                job["state"] = "done" if result.get("rc") == 0 else "failed"
            job["ended"] = result.get("ended")
        else:
            pid_file = folder / PID_FILE
            pid_text = pid_file.read_text().strip() if pid_file.is_file() else ""
            if pid_text.isdigit() and _runner_alive(int(pid_text), pid_file):
                job["state"] = "running"
            elif not pid_text:
                job["state"] = "starting"
            elif (folder / CANCEL_FILE).exists():  # interrupted before it could record the end
                job["state"] = "cancelled"
            else:
                job["state"] = "failed"
                job["error"] = "the job ended without recording a result (was it killed?)"
        if job["state"] == "failed" and "error" not in job:
            job["error"] = error_line(folder)
        return job

    def get(self, job_id: str) -> dict[str, Any]:
        return self.state(job_dir(self.root, job_id))

    def all(self) -> list[dict[str, Any]]:
        base = jobs_root(self.root)
        if not base.is_dir():
            return []
        found = []
        for path in base.iterdir():
            if _JOB_ID.match(path.name):
                try:  # when the job was made (the name's time has whole seconds only)
                    found.append((path.name[:15], (path / JOB_FILE).stat().st_mtime_ns, path))
                except OSError:
                    continue
        found.sort(reverse=True)
        return [self.state(path) for _, _, path in found[:LIST_LIMIT]]

    def cancel(self, job_id: str) -> dict[str, Any]:
        folder = job_dir(self.root, job_id)
        job = self.state(folder)
        if job["state"] != "running":
            raise FsUserError(f"the job is {job['state']}, not running")
        (folder / CANCEL_FILE).touch()
        pid = int((folder / PID_FILE).read_text().strip())
        try:
            os.killpg(pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        return self.state(folder)

    def log_tail(self, job_id: str, lines: int = 20) -> list[str]:
        return _tail(job_dir(self.root, job_id) / LOG_FILE, lines)

    def output(self, job_id: str) -> Path:
        """The finished output of a job (a file or a folder under the root)."""
        folder = job_dir(self.root, job_id)
        job = self.state(folder)
        if job["state"] != "done":
            raise FsUserError(f"the job is {job['state']}: it has no output to offer")
        output = Path(job.get("output") or "")
        base = self.root.resolve()
        resolved = output.resolve()
        if not output.is_absolute() or base not in resolved.parents or not resolved.exists():
            raise FileNotFoundError(str(output))
        return resolved

    def zipped(self, job_id: str) -> Path:
        """A folder output as one ``.zip`` in the job's folder (made once, then reused)."""
        source = self.output(job_id)
        target = job_dir(self.root, job_id) / f"{source.name}.zip"
        if target.is_file():
            return target
        # two clicks at once write two temporary files, not one
        temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        with zipfile.ZipFile(temp, "w", zipfile.ZIP_STORED) as archive:
            for path in sorted(source.rglob("*")):
                if path.is_file() and not path.name.startswith("."):
                    archive.write(path, Path(source.name) / path.relative_to(source))
        os.replace(temp, target)
        return target


def result_files(output: Path) -> dict[str, Any]:
    """What a finished convert wrote, for the page to play: videos, images (sorted) and others."""
    files = [output] if output.is_file() else sorted(p for p in output.rglob("*") if p.is_file())
    files = [p for p in files if not p.name.startswith(".")]

    def rel(path: Path) -> str:
        return path.name if output.is_file() else path.relative_to(output).as_posix()

    return {
        "videos": [rel(p) for p in files if p.suffix.lower() in VIDEO_SUFFIXES],
        "images": [rel(p) for p in files if p.suffix.lower() in IMAGE_SUFFIXES],
        "count": len(files),
    }


def _tail(path: Path, lines: int) -> list[str]:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 32 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [line.rsplit("\r", 1)[-1] for line in text.splitlines()[-lines:]]


def error_line(folder: Path) -> str:
    """The one line that says why a job failed: the command's ``error:`` line, else its last."""
    lines = [line.strip() for line in _tail(folder / LOG_FILE, 40) if line.strip()]
    for line in reversed(lines):
        if line.startswith("fs ") and ": error: " in line:
            return line
    for line in reversed(lines):
        if "Error" in line or "error" in line:
            return line
    return lines[-1] if lines else "the job failed without output"
