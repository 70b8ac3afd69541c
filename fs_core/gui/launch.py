"""Starting ``fs train`` for the GUI: its own process, its own session, never a shell.

A trainer started here outlives the GUI (``start_new_session``: closing the server or pressing
Ctrl-C in its terminal does not reach it). Its output goes to ``MODEL_DIR/record/trainer.log``,
which the page shows when a trainer fails. Resume takes the arguments the last session recorded in
``record/trainer.json`` and reads them with ``fs train``'s own parser, keeping only what is safe to
repeat: its paths must stay inside the root and name this model folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fs_core.atomic import atomic_write_bytes
from fs_core.errors import FsUserError
from fs_core.folder.layout import (
    gui_config_file,
    record_dir,
    trainer_log,
)
from fs_core.gui.detached import start_detached
from fs_core.gui.security import path_inside
from fs_core.training.arguments import recorded_train_argv, train_parser

#: ``fs train`` options that name paths, which must stay inside the root
PATH_OPTIONS = (
    "input_a",
    "input_b",
    "model_dir",
    "configfile",
    "timelapse_a",
    "timelapse_b",
    "timelapse_out",
    "logfile",
)
#: options not repeated on resume: new models only, one-off prints, a window needing a display
DROPPED_OPTIONS = ("load_weights", "summary", "preview")


class Launcher:
    """Starts trainers and reaps them when they exit (a zombie would look alive to a pid check)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[Path, subprocess.Popen] = {}

    def busy(self, model_dir: Path) -> bool:
        """Whether a trainer this server started for ``model_dir`` is still running."""
        with self._lock:
            process = self._running.get(model_dir.absolute())
            return process is not None and process.poll() is None

    def start(self, model_dir: Path, train_args: Sequence[str], cwd: Path) -> int:
        """Run ``fs train *train_args`` for ``model_dir``; returns the trainer's pid."""
        argv = [sys.executable, "-m", "fs_core", "train", *train_args]
        record = record_dir(model_dir)
        record.mkdir(parents=True, exist_ok=True)
        with open(trainer_log(model_dir), "ab") as log:
            stamp = dt.datetime.now().astimezone().isoformat(timespec="seconds")
            log.write(f"--- {stamp} fs gui started: fs train {shlex.join(train_args)}\n".encode())
            log.flush()
            process = start_detached(argv, cwd, log)
        with self._lock:
            self._running[model_dir.absolute()] = process
        threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()
        return process.pid


def log_tail(model_dir: Path, lines: int = 20) -> list[str]:
    """The last ``lines`` lines of the trainer's log (read from the end: the log can be long)."""
    path = trainer_log(model_dir)
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [line.rsplit("\r", 1)[-1] for line in text.splitlines()[-lines:]]


def write_config(model_dir: Path, text: str) -> Path:
    """Keep the form's config text beside the record, where ``-C`` (and a resume) finds it."""
    path = gui_config_file(model_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, text.encode())
    return path


def _emit(action: argparse.Action, value: Any) -> list[str]:
    flag = max(action.option_strings, key=len)
    if action.nargs == 0:
        return [flag] if value else []
    if isinstance(value, list):
        return [flag, *map(str, value)]
    return [f"{flag}={value}"]


def resume_args(model_dir: Path, root: Path, preset_files: Sequence[Path] = ()) -> list[str]:
    """The recorded arguments, re-read by ``fs train``'s parser and rebuilt from what it parsed:
    paths absolute (relative ones taken from the root) and inside the root (a config may also be
    an installed preset), the model folder this one; options that make no sense again dropped."""
    parser = train_parser()
    try:
        argv = recorded_train_argv(model_dir)
    except FsUserError as error:
        raise FsUserError(f"{error.one_line()}; start it from the New training form") from None
    parsed = parser.parse_args(argv)
    for dest in PATH_OPTIONS:
        value = getattr(parsed, dest, None)
        if value is None:
            continue
        if dest == "configfile" and Path(value).resolve() in {p.resolve() for p in preset_files}:
            setattr(parsed, dest, str(Path(value).resolve()))
            continue
        setattr(parsed, dest, str(path_inside(root, value, f"recorded {dest}")))
    if parsed.model_dir is None or Path(parsed.model_dir) != model_dir.resolve():
        raise FsUserError(
            f"the recorded arguments train another model folder "
            f"({parsed.model_dir}), not '{model_dir.name}'"
        )
    args: list[str] = []
    for action in parser._actions:
        if not action.option_strings or action.dest in DROPPED_OPTIONS or action.dest == "help":
            continue
        value = getattr(parsed, action.dest, action.default)
        if value is None or value == action.default:
            continue
        args += _emit(action, value)
    return args
