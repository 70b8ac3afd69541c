"""The command channel: a tool asks a running trainer to stop, save, snapshot, preview or change
settings (``set``, whose request carries the changes as JSON values).

A request is a small JSON file ``MODEL_DIR/record/commands/<id>.json`` written under a temporary
name starting with "." and renamed into place, so the trainer never reads half of one. The trainer
looks at the folder at most twice a second between iterations (a clock check per iteration, then
one ``os.scandir``), handles the files in name order and deletes each; a file that is not a valid
request is refused and deleted, never executed. Files are only ever parsed as JSON.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from fs_core.errors import FsUserError
from fs_core.folder.layout import commands_dir
from fs_core.record.files import COMMANDS, VERSION, one_line

POLL_SECONDS = 0.5
MAX_COMMAND_BYTES = 4096


def send_command(
    model_dir: str | Path,
    command: str,
    changes: Mapping[str, Any] | None = None,
    reset: Sequence[str] = (),
) -> str:
    """Drop a ``command`` request for the trainer of ``model_dir``; returns its id.

    ``set`` carries ``changes`` ("section.key" -> value) and the stored settings to forget
    (``reset``). Ids sort in the order they were sent. The trainer answers with a ``command``
    record carrying the same id in ``events.jsonl``."""
    folder = commands_dir(model_dir)
    if command not in COMMANDS:
        raise FsUserError(f"unknown command '{command}' (commands: {', '.join(COMMANDS)})", folder)
    if not Path(model_dir).is_dir():
        raise FsUserError("the model folder does not exist", model_dir)
    ident = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
    body: dict[str, Any] = {"v": VERSION, "id": ident, "command": command, "time": time.time()}
    if command == "set":
        body.update(changes=dict(changes or {}), reset=list(reset))
        problem = _settings_problem(body)
        if problem:
            raise FsUserError(problem)
    payload = json.dumps(body)
    if len(payload.encode("utf-8")) > MAX_COMMAND_BYTES:
        raise FsUserError(
            f"the request is larger than {MAX_COMMAND_BYTES} bytes: change fewer settings at once"
        )
    temp = folder / f".{ident}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temp.write_text(payload, encoding="utf-8")
        os.replace(temp, folder / f"{ident}.json")
    except OSError as error:
        try:
            temp.unlink()
        except OSError:
            pass
        raise FsUserError(f"cannot send the command: {error.strerror or error}", folder) from None
    return ident


@attrs.frozen
class Request:
    """One request file as read: ``command`` is None when it was refused (``detail`` says why)."""

    id: str
    command: str | None
    detail: str = ""
    mtime: float = 0.0
    #: ``set``: the settings to change ("section.key" -> value) and the stored ones to forget
    changes: Mapping[str, Any] = attrs.field(factory=dict)
    reset: tuple[str, ...] = ()


#: the JSON values a setting may take (a list of part names, say; never an object)
_SCALARS = (str, int, float, bool)


def _settings_problem(body: Mapping[str, Any]) -> str | None:
    """Why a ``set`` request's ``changes`` and ``reset`` are not what the channel carries."""
    changes, reset = body.get("changes", {}), body.get("reset", [])
    if not isinstance(changes, dict) or not isinstance(reset, list):
        return "set: 'changes' must be an object and 'reset' a list"
    if not changes and not reset:
        return "set: no settings to change or forget"
    for key, value in changes.items():
        if not isinstance(key, str) or not 0 < len(key) <= 200:
            return "set: setting names must be strings"
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(item, _SCALARS) for item in items):
            return f"set: '{one_line(key)[:80]}' must be a string, number, true/false or a list"
    if not all(isinstance(key, str) and 0 < len(key) <= 200 for key in reset):
        return "set: 'reset' must list setting names"
    return None


def parse_request(name: str, data: bytes, mtime: float = 0.0) -> Request:
    """The request in file ``name`` holding ``data``; a refused Request when it is not valid."""
    stem = name[:-5] if name.endswith(".json") else name
    if not name.endswith(".json"):
        return Request(stem, None, f"{name}: not a .json request file", mtime)
    if len(data) > MAX_COMMAND_BYTES:
        return Request(stem, None, f"{name}: larger than {MAX_COMMAND_BYTES} bytes", mtime)
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        return Request(stem, None, f"{name}: not valid JSON ({one_line(error)})", mtime)
    if not isinstance(body, dict):
        return Request(stem, None, f"{name}: not a JSON object", mtime)
    ident = body.get("id")
    ident = ident if isinstance(ident, str) and 0 < len(ident) <= 200 else stem
    if body.get("v") != VERSION:
        return Request(ident, None, f"{name}: unsupported version {body.get('v')!r}", mtime)
    command = body.get("command")
    if command not in COMMANDS:
        return Request(
            ident,
            None,
            f"{name}: unknown command {one_line(repr(command))[:80]} "
            f"(commands: {', '.join(COMMANDS)})",
            mtime,
        )
    if command == "set":
        problem = _settings_problem(body)
        if problem:
            return Request(ident, None, f"{name}: {problem}", mtime)
        return Request(ident, command, "", mtime, dict(body["changes"]), tuple(body["reset"]))
    return Request(ident, command, "", mtime)


class CommandInbox:
    """The trainer's end of the channel: :meth:`poll` is cheap enough to call every iteration."""

    def __init__(self, model_dir: str | Path, interval: float = POLL_SECONDS) -> None:
        self.folder = commands_dir(model_dir)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.interval = interval
        self.next_check = 0.0

    def poll(self, now: float) -> list[Request]:
        """The waiting requests (deleted from the folder), at most once per ``interval``;
        ``now`` is ``time.monotonic()``."""
        if now < self.next_check:
            return []
        self.next_check = now + self.interval
        return self.take()

    def take(self) -> list[Request]:
        """Every waiting request now, in name order; each file is deleted once read."""
        try:
            with os.scandir(self.folder) as entries:
                found = sorted(
                    (e.name, e.path)
                    for e in entries
                    if not e.name.startswith(".") and e.is_file(follow_symlinks=False)
                )
        except OSError:
            return []
        requests = []
        for name, path in found:
            try:
                with open(path, "rb") as handle:
                    mtime = os.fstat(handle.fileno()).st_mtime
                    data = handle.read(MAX_COMMAND_BYTES + 1)
            except OSError:
                continue
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue  # another reader took it
            except OSError:
                pass
            requests.append(parse_request(name, data, mtime))
        return requests
