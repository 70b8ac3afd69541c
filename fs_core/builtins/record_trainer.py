"""What a training session writes into ``MODEL_DIR/record/``: the training-side half of the
built-in record plugin (:mod:`fs_core.builtins.record` calls it from the lifecycle hooks).

It lives with the plugin, not in :mod:`fs_core.record` (the record's files, reader and writer,
which ``fs gui`` and ``fs analysis`` use without TensorFlow), because it is made of a session:
it reads the running state, the held-out result and the preview plugin's faces.

:class:`TrainerRecord` is created at ``fs_train_start`` (on the chief worker, with ``[global]
training_record`` on) and kept in ``session.stash``. Per iteration it adds the losses to running
sums and looks at the clock; at most every 0.5 s that becomes one ``progress`` record, and the
command folder is looked at. Saves add the preview pair and a ``save`` record; the end of the
session (however it ends) adds the last ``progress`` and the ``end`` record.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from fs_core.atomic import atomic_write_bytes
from fs_core.builtins.preview import KEY as PREVIEW
from fs_core.folder.layout import (
    COMMANDS_DIR,
    EVENTS_FILE,
    PREVIEWS_DIR,
    TRAINER_FILE,
    preview_relpath,
    previews_dir,
    record_dir,
    state_file,
    trainer_file,
)
from fs_core.logs import FILE_ONLY, LOGGER
from fs_core.record.commands import CommandInbox, Request
from fs_core.record.files import encode, one_line, preview_names
from fs_core.record.reader import process_start_time
from fs_core.record.writer import RecordWriter, prune_previews, rounded
from fs_core.training.holdout import latest
from fs_core.training.live import answer_line
from fs_core.training.requests import LoopRequest

#: the largest share of the training time that drawing the previews of saves may take
PREVIEW_TIME_SHARE = 0.01


def preview_due(
    done_at: float | None, seconds: float, now: float, share: float = PREVIEW_TIME_SHARE
) -> bool:
    """Whether a save gets a preview: always, unless drawing them (``seconds`` the last one took,
    finished at ``done_at``) would take more than ``share`` of the time (a slow CPU with frequent
    saves); then saves go without until enough time has passed. Requested previews are always
    drawn."""
    if done_at is None:
        return True
    return seconds <= share * (now - done_at + seconds)


PROGRESS_SECONDS = 0.5
#: commands the loop does between iterations (asked as requests, answered when done), and the
#: loop request each becomes
LOOP_COMMANDS = {"save": "save", "snapshot": "snapshot", "stop": "stop", "set": "settings"}
#: flags of ``fs train`` for the request's fields, to write the command that resumes this run
_VALUE_FLAGS = (
    ("input_a", "-A", True),
    ("input_b", "-B", True),
    ("model_dir", "-m", True),
    ("model_name", "-t", False),
    ("batch_size", "-b", False),
    ("iterations", "-i", False),
    ("save_interval", "-s", False),
    ("snapshot_interval", "-I", False),
    ("config_path", "-C", True),
    ("warmup", "-a", False),
    ("seed", "--seed", False),
    ("distributed", "-d", False),
    ("timelapse_a", "-x", True),
    ("timelapse_b", "-y", True),
    ("timelapse_out", "-z", True),
)
_SWITCHES = (
    ("no_warp", "-W"),
    ("no_flip", "-P"),
    ("no_augment_color", "-c"),
    ("warp_to_landmarks", "-M"),
    ("use_lr_finder", "-r"),
    ("auto_batch", "--auto-batch"),
    ("write_image", "-w"),
    ("no_logs", "-n"),
    ("freeze", "-f"),
)


def train_argv(request: Any) -> list[str]:
    """``fs`` arguments (starting with ``train``) that run this request again, paths absolute."""
    argv = ["train"]
    for field, flag, is_path in _VALUE_FLAGS:
        value = getattr(request, field, None)
        if (
            value is None
            or (field in ("warmup", "snapshot_interval") and not value)
            or (field == "distributed" and value == "default")
        ):
            continue
        argv += [flag, os.path.abspath(value) if is_path else str(value)]
    argv += [flag for field, flag in _SWITCHES if getattr(request, field, False)]
    if getattr(request, "exclude_gpus", ()):
        argv += ["-X", ",".join(str(i) for i in request.exclude_gpus)]
    return argv


class _MessageHandler(logging.Handler):
    """Copies what the ``fs`` loggers print into ``message`` records (the console is unchanged)."""

    def __init__(self, write: Callable[..., None]) -> None:
        super().__init__()
        self._write = write

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(FILE_ONLY):
            return
        try:
            text = one_line(record.getMessage())
        except Exception:
            return
        if text:
            self._write("message", level=record.levelname, text=text)


class TrainerRecord:
    """The record of one training session (see the module docstring)."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.model_dir = Path(session.model_dir)
        self.session_id = int(session.record.get("id", 0) or 0)
        #: a model folder holds nothing until its first save (a failed first run leaves no folder):
        #: a record this session started is removed again when it ends before that save
        self.created_record = not record_dir(self.model_dir).exists()
        self.writer = RecordWriter(self.model_dir, self.session_id, warn=self._warn)
        self.inbox = CommandInbox(self.model_dir)
        self.sums: dict[str, float] = {}
        self.count = 0
        self.next_progress = 0.0
        self.faces: Any = None
        #: commands the loop is asked to do, answered when it has (:meth:`request_done`)
        self.asked: dict[LoopRequest, Request] = {}
        #: a save record held until the snapshot asked of that save is taken (it names it)
        self.held_save: dict[str, Any] | None = None
        self.pending: list[Request] = []  # requests sent while this process was starting
        #: when the last save's preview finished, and how long drawing it took (monotonic seconds)
        self.preview_done_at: float | None = None
        self.preview_seconds = 0.0
        self._handler: _MessageHandler | None = None
        self._print: Callable[[str], None] | None = None
        #: the first failure to write the record, told when the session ends (see :meth:`_warn`)
        self.failure: str | None = None

    # ---------------------------------------------------------------- start

    def start(self) -> None:
        session, request = self.session, self.session.request
        argv = train_argv(request)
        host, pid, started = socket.gethostname(), os.getpid(), time.time()
        self._write_trainer_json(
            {
                "pid": pid,
                "host": host,
                "session": self.session_id,
                "started": started,
                "argv": argv,
                "process_started": process_start_time(pid),
                "model": session.model_name,
                "iteration": session.state.iterations,
                "target": request.iterations,
                "batch_size": session.batch_size,
            }
        )
        self.writer.write(
            "session_start",
            iteration=session.state.iterations,
            target=request.iterations,
            batch_size=session.batch_size,
            model=session.model_name,
            pid=pid,
            host=host,
            save_interval=request.save_interval,
            snapshot_interval=request.snapshot_interval,
            argv=argv,
        )
        self._refuse_stale()
        self._capture_messages()

    def _write_trainer_json(self, content: dict) -> None:
        try:
            atomic_write_bytes(trainer_file(self.model_dir), encode(content))
        except Exception as error:
            self._warn(f"Training record: {one_line(error)}")

    def _refuse_stale(self) -> None:
        """Requests older than this process were meant for a trainer that is gone."""
        born = process_start_time(os.getpid())
        for request in self.inbox.take():
            if born is not None and request.mtime >= born and request.command is not None:
                self.pending.append(request)  # handled at the first iteration
            else:
                self._answer(
                    request,
                    "failed",
                    request.detail or "sent before this training session started; not executed",
                )

    def _capture_messages(self) -> None:
        logger = logging.getLogger(LOGGER)
        if logger.handlers:  # the CLI's handlers: what fs prints goes through the logger
            self._handler = _MessageHandler(self.writer.write)
            logger.addHandler(self._handler)
        if self.session.print != logger.info:  # an API caller's own print function
            self._print = original = self.session.print

            def recorded(text: str) -> None:
                original(text)
                line = one_line(text)
                if line:
                    self.writer.write("message", level="INFO", text=line)

            self.session.print = recorded

    def _warn(self, text: str) -> None:
        """Keep the first failure to write the record; :meth:`end` tells it once.

        Why not at once: the record lives in the model folder, so when it cannot be written the
        model's own save usually fails too, and that error (one line, naming the file) is what
        the user must see; a session that ends well is told that its record is incomplete.
        """
        if self.failure is None:
            self.failure = text

    # ---------------------------------------------------------------- each iteration

    def iteration(self, losses: Mapping[str, float]) -> None:
        sums = self.sums
        for name, value in losses.items():
            sums[name] = sums.get(name, 0.0) + value
        self.count += 1
        now = time.monotonic()
        if now >= self.next_progress:
            self.next_progress = now + PROGRESS_SECONDS
            self.progress()
        if now >= self.inbox.next_check:
            waiting, self.pending = self.pending + self.inbox.poll(now), []
            for request in waiting:
                self._handle(request)

    def progress(self) -> None:
        """A progress record for the iterations since the last one (none when there were none)."""
        if not self.count:
            return
        session, count = self.session, self.count
        means = {name: rounded(total / count) for name, total in self.sums.items()}
        loss_a, loss_b = means.pop("loss_a", None), means.pop("loss_b", None)
        self.sums, self.count = {}, 0
        low = getattr(session, "disk_low_free", None)  # only while the disk is low
        self.writer.write(
            "progress",
            iteration=session.state.iterations,
            session_iterations=session.session_iterations,
            elapsed=round(time.monotonic() - session.started, 3),
            loss_a=loss_a,
            loss_b=loss_b,
            examples_per_second=round(session.examples_per_second(), 3),
            count=count,
            losses=means,
            **({"disk_free": int(low)} if low is not None else {}),
        )

    # ---------------------------------------------------------------- commands

    def _handle(self, request: Request) -> None:
        if request.command is None:
            self._answer(request, "failed", request.detail)
            return
        if request.command in LOOP_COMMANDS:  # the loop does it after this iteration
            asked = self.session.running.ask(
                LOOP_COMMANDS[request.command],
                asker=request,
                changes=request.changes,
                forget=request.reset,
            )
            self.asked[asked] = request
            return
        iteration = self.session.state.iterations
        try:
            detail = getattr(self, f"_command_{request.command}")()
        except Exception as error:
            self._answer(
                request, "failed", f"{request.command} at iteration {iteration}: {one_line(error)}"
            )
            return
        self._answer(request, "done", detail)

    def _answer(self, request: Request, status: str, detail: str) -> None:
        self.writer.write(
            "command",
            id=request.id,
            command=request.command,
            status=status,
            detail=one_line(detail),
        )

    def request_done(self, done: LoopRequest) -> None:
        """The loop honoured a request: answer the command that asked for it (after the save
        record a snapshot's save was holding)."""
        request = self.asked.pop(done, None)
        if request is None:
            return
        if self.held_save is not None:
            held, self.held_save = self.held_save, None
            if done.snapshot is not None and held["iteration"] == done.iteration:
                held["snapshot"] = done.snapshot
            self.writer.write("save", **held)
        iteration = done.iteration
        if done.outcome != "done":
            reason = one_line(done.error) if done.error is not None else "not done"
            self._answer(request, "failed", f"{done.action} at iteration {iteration}: {reason}")
        elif done.action == "settings":
            self._settings_done(request, done)
        elif done.action == "stop":
            self._answer(request, "done", f"stopping: saving at iteration {iteration} and exiting")
        elif done.action == "save":
            self._answer(request, "done", f"saved at iteration {iteration}")
        else:
            self._answer(
                request, "done", f"saved and snapshot {done.snapshot} at iteration {iteration}"
            )

    def _settings_done(self, request: Request, done: LoopRequest) -> None:
        """A ``settings`` record for what changed (the GUI's graph marks it), then the answer."""
        iteration = int(done.iteration or 0)
        if done.applied or done.forget:
            self.writer.write(
                "settings",
                iteration=iteration,
                changes=[{"key": c.key, "old": c.old, "new": c.new} for c in done.applied],
                applies="rebuild" if done.rebuild else "now",
                forgot=list(done.forget),
            )
        self._answer(
            request, "done", answer_line(done.applied, done.forget, iteration, done.rebuild)
        )

    def _command_preview(self) -> str:
        iteration = self.session.state.iterations
        paths = self.write_preview(iteration)
        if paths is None:
            raise ValueError("no preview faces in this session")
        self.writer.write("preview", iteration=iteration, preview=paths)
        return f"preview at iteration {iteration}"

    # ---------------------------------------------------------------- saves, NaN, end

    def saved(self, iteration: int, backup: bool) -> None:
        self.progress()
        written = self.session.running.last_snapshot
        snapshot = (
            written.folder if written is not None and written.iteration == iteration else None
        )
        preview = self.write_preview(iteration) if self._preview_due() else None

        held = latest(self.session)
        extra = (
            {"holdout": {"a": held[1], "b": held[2]}}
            if held is not None and held[0] == iteration
            else {}
        )
        record = dict(
            iteration=iteration, backup=bool(backup), snapshot=snapshot, preview=preview, **extra
        )
        if self._snapshot_to_follow(iteration):
            self.held_save = record  # written when the snapshot is taken
        else:
            self.writer.write("save", **record)

    def _snapshot_to_follow(self, iteration: int) -> bool:
        """Whether this save is one a snapshot command asked for (the loop is doing it)."""
        return any(
            asked.action == "snapshot"
            and asked.outcome == "pending"
            and asked.iteration == iteration
            for asked in self.asked
        )

    def collapse(self, event: Mapping[str, Any]) -> None:
        """The collapse guard rolled back (``fs_collapse``): a ``collapse`` record for the GUI."""
        self.writer.write("collapse", **event)

    def nan(self, iteration: int, losses: Mapping[str, float], rolled_back: bool) -> None:
        self.writer.write(
            "nan",
            iteration=iteration,
            losses={k: float(v) for k, v in losses.items()},
            rolled_back=bool(rolled_back),
        )

    def end(self, reason: str, error: str | None) -> None:
        try:
            self.progress()
            self.writer.write(
                "end",
                iteration=self.session.state.iterations,
                reason=reason,
                error=one_line(error) if error else None,
            )
        finally:
            if self._handler is not None:
                logging.getLogger(LOGGER).removeHandler(self._handler)
            if self._print is not None:
                self.session.print = self._print
            self.writer.close()
            self._remove_unsaved_folder()
            if self.failure is not None and reason != "error":
                print(f"{self.failure} (the training record is incomplete)", file=sys.stderr)

    def _remove_unsaved_folder(self) -> None:
        if not self.created_record or state_file(self.model_dir).exists():
            return
        folder = record_dir(self.model_dir)
        for name in (EVENTS_FILE, TRAINER_FILE):
            with contextlib.suppress(OSError):
                (folder / name).unlink()
        for sub in (COMMANDS_DIR, PREVIEWS_DIR, ""):
            with contextlib.suppress(OSError):
                (folder / sub).rmdir()  # only when empty

    # ---------------------------------------------------------------- previews

    def _preview_due(self) -> bool:
        return preview_due(
            self.preview_done_at, self.preview_seconds, time.monotonic(), PREVIEW_TIME_SHARE
        )

    def write_preview(self, iteration: int) -> dict[str, str] | None:
        """Render the preview pair (mask shown, plain) and write it; None when it cannot be drawn
        (the reason is a WARNING message; a preview never stops training)."""
        started = time.monotonic()
        try:
            return self._write_preview(iteration)
        except Exception as error:
            self.writer.write(
                "message",
                level="WARNING",
                text=f"Training record: no preview at iteration {iteration}: {one_line(error)}",
            )
            return None
        finally:
            self.preview_done_at = time.monotonic()
            self.preview_seconds = self.preview_done_at - started

    def _write_preview(self, iteration: int) -> dict[str, str] | None:
        images = self._render()
        if images is None:
            return None
        folder = previews_dir(self.model_dir)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {}
        for key, name, image in zip(("mask", "plain"), preview_names(iteration), images):
            _write_png(folder / name, image)
            paths[key] = preview_relpath(name)
        prune_previews(self.model_dir)
        return paths

    def _render(self) -> tuple[Any, Any] | None:
        from fs_core.preview.layout import render_preview  # noqa: PLC0415 (OpenCV: builtins.record_trainer loads without it)
        from fs_core.preview.render import session_faces, side_images, style_of  # noqa: PLC0415 (OpenCV: builtins.record_trainer loads without it)

        session = self.session
        if self.faces is None:
            shown = session.stash.get(PREVIEW, None)
            if shown is not None and shown.faces is not None:  # -w/-p: the faces of preview.png
                self.faces = shown.faces
            elif session.faces_a is not None and session.prepare_spec is not None:
                self.faces = session_faces(session)
            else:
                return None
        faces_a, faces_b = self.faces
        batch = session.config.global_.convert_batchsize
        style = style_of(session.config, session.built)
        side_a = side_images(session.built, faces_a, "a", batch)
        side_b = side_images(session.built, faces_b, "b", batch)
        return (
            render_preview(side_a, side_b, style),
            render_preview(side_a, side_b, attrs.evolve(style, show_mask=False)),
        )


def _write_png(path: Path, image: Any) -> None:
    """Fast PNG (low compression), written under a temporary name and renamed: a reader never
    sees half an image. Not fsynced: a preview lost in a power cut costs nothing."""
    import cv2  # noqa: PLC0415 (OpenCV: builtins.record_trainer loads without it)

    ok, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise OSError(f"cannot encode {path.name}")
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_bytes(data.tobytes())
    os.replace(temp, path)
