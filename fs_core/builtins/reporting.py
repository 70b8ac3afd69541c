"""The live status line, as a built-in implementation of the lifecycle hooks.

On a terminal it rewrites one line (carriage return) at most a few times a second; when output
goes to a file or CI log it prints a full line every few seconds instead, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any

from fs_core.folder.disk import human
from fs_core.hookspecs import hookimpl
from fs_core.logs import log_to_file
from fs_core.stash import StashKey
from fs_core.training.holdout import latest

TTY_REFRESH_SECONDS = 0.25
LOG_REFRESH_SECONDS = 10.0
#: when the status line was last printed (time.monotonic)
STATUS_PRINTED: StashKey[float] = StashKey("status printed")
#: the last iteration's losses, for the log file's line at the next save
STATUS_LOSSES: StashKey[Mapping[str, float]] = StashKey("status losses")


def _elapsed(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _extension_terms(losses: Mapping[str, float]) -> list[tuple[str, float]]:
    """The training-step extensions' values (``ext/gan_b``, ``ext/discriminator_b`` ...)."""
    return [(name, value) for name, value in losses.items() if name.startswith("ext/")]


def status_line(session: Any, losses: Mapping[str, float]) -> str:
    """``[elapsed] [#total] [session id: its iterations] | Loss A: x | Loss B: y | EG/s``, with
    each training-step extension's value (``| gan_b: z``) before the speed when extensions are on,
    and ``| disk: 1.2 GB free`` while the model's disk is low (:mod:`fs_core.folder.disk`)."""
    low = getattr(session, "disk_low_free", None)
    return (
        f"[{_elapsed(time.monotonic() - session.started)}] "
        f"[#{session.state.iterations:06d}] "
        f"[session {session.record.get('id', '?')}: {session.session_iterations} it] "
        f"| Loss A: {losses['loss_a']:.5f} | Loss B: {losses['loss_b']:.5f} "
        + "".join(f"| {name[4:]}: {value:.4f} " for name, value in _extension_terms(losses))
        + _held_out(session)
        + f"| {session.examples_per_second():.1f} EG/s"
        + (f" | disk: {human(low)} free" if low is not None else "")
    )


def _held_out(session: Any) -> str:
    """``| Held-out A: x B: y`` once a save measured the held-out set (``--holdout``)."""
    held = latest(session)
    text = f"| Held-out A: {held[1]:.5f} B: {held[2]:.5f} " if held is not None else ""
    guarded = len(session.record.get("collapse_rollbacks", ()))
    return text + (f"| collapse guard: {guarded} rollback(s) " if guarded else "")


@hookimpl
def fs_train_start(session: Any) -> None:
    session.print(
        f"Training '{session.model_name}' in {session.model_dir} from iteration "
        f"{session.state.iterations} (batch {session.batch_size}); Ctrl-C saves and stops."
    )
    session.stash.setdefault(STATUS_PRINTED, 0.0)


@hookimpl
def fs_iteration_end(session: Any, iteration: int, losses: Mapping[str, float]) -> None:
    session.stash[STATUS_LOSSES] = losses  # for the log file's line at the next save
    stream = sys.stdout
    tty = stream.isatty()
    now = time.monotonic()
    last = session.stash.get(STATUS_PRINTED, 0.0)
    final = session.session_iterations == session.request.iterations
    if (
        not final
        and now - last < (TTY_REFRESH_SECONDS if tty else LOG_REFRESH_SECONDS)
        and session.session_iterations > 1
    ):
        return
    session.stash[STATUS_PRINTED] = now
    line = status_line(session, losses)
    stream.write(("\r" + line) if tty else line + "\n")
    stream.flush()


@hookimpl
def fs_save(session: Any, model_dir: str, iteration: int) -> None:
    losses = session.stash.get(STATUS_LOSSES, None)
    if losses:  # the -F log file gets the status at each save (the console shows it live)
        log_to_file("saved: %s", status_line(session, losses))
    if sys.stdout.isatty():
        sys.stdout.write(f"  [saved at #{iteration}]")
        sys.stdout.flush()


@hookimpl
def fs_train_end(session: Any) -> None:
    if sys.stdout.isatty():
        sys.stdout.write("\n")
    session.print(
        f"Stopped at iteration {session.state.iterations} "
        f"({session.session_iterations} this session, "
        f"{session.examples_per_second():.1f} examples/s)."
    )
