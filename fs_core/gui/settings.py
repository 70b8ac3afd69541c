"""The Settings tab's routes: a model's options as it trains them, editable, and their change.

``GET /api/models/NAME/settings`` lists every training option (the core's sections and the
model's) with the value in force (its creation values, its last session's, then the changes made
while training), whether it is locked, whether it was changed live and what it replaced, plus
the run settings (batch size, face folders, save and snapshot intervals). ``POST`` with
``{"changes": {...}, "reset": [...]}`` does what ``fs set`` does
(:mod:`fs_core.training.set_settings`): checked, then sent to the running trainer (its answer is
the reply) or stored for the next start. Face folders must be inside the root, as in the form
that starts training.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fs_core.errors import FsUserError
from fs_core.folder.live_settings import read_live_settings
from fs_core.gui import models
from fs_core.gui.config_view import config_view
from fs_core.gui.jsonout import JSON
from fs_core.gui.params import json_body
from fs_core.gui.security import path_inside

if TYPE_CHECKING:
    from pathlib import Path

    from fs_core.gui.app import Api

#: seconds the page waits for the trainer's answer (it answers between iterations)
WAIT_SECONDS = 20.0
#: the run settings the tab edits, as ``fs set`` names them
RUN_SETTINGS = ("batch_size", "faces_a", "faces_b", "save_interval", "snapshot_interval")
#: sections that are not training options
_SKIPPED = ("convert",)


def settings_view(folder: Path, installed: Any) -> dict[str, Any]:
    """What the tab shows (see the module docstring)."""
    from fs_core.training import live, set_settings  # noqa: PLC0415 (TensorFlow: the GUI starts without it)

    summary = models.summary(folder)
    model = summary.get("model")
    if not model or model not in installed.models:
        raise FsUserError(f"no settings: the model's architecture '{model}' is not installed")
    current = set_settings.current_values(folder)
    stored = read_live_settings(folder)
    view = config_view(installed, model)
    sections: dict[str, list[dict[str, Any]]] = {}
    for table, rows in view["sections"].items():
        if table in _SKIPPED:
            continue
        shown = []
        for option in rows:
            key = f"{table}.{option['name']}"
            row = dict(option)
            if key in current:
                row["value"] = _json(current[key])
            if key in live.NOT_LIVE:
                row["fixed"] = live.NOT_LIVE[key]
            shown.append(
                {
                    **row,
                    "key": key,
                    "live": key in stored.values,
                    "replaces": _json(stored.replaced.get(key)),
                    "applies": "now" if live.applies_now(key) else "rebuild",
                }
            )
        sections[table] = shown
    run = [
        {
            "key": key,
            "name": key,
            "value": _json(current.get(key)),
            "live": key in stored.values,
            "replaces": _json(stored.replaced.get(key)),
            "applies": "now" if live.applies_now(key) else "rebuild",
        }
        for key in RUN_SETTINGS
    ]
    return {"sections": sections, "run": run, "training": summary.get("state") == "training"}


def _json(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def apply_change(api: Api, folder: Path, data: Any) -> dict[str, Any]:
    """Check and send (or store) a change from the page; the line to show."""
    from fs_core import plugin_manager  # noqa: PLC0415 (TensorFlow: the GUI starts without it)
    from fs_core.training import set_settings  # noqa: PLC0415 (TensorFlow: the GUI starts without it)

    if not isinstance(data, Mapping):
        raise FsUserError('send {"changes": {"section.key": value, ...}}')
    changes, reset = data.get("changes") or {}, data.get("reset") or []
    if not isinstance(changes, Mapping) or not isinstance(reset, list):
        raise FsUserError("'changes' must be an object and 'reset' a list")
    changes = dict(changes)
    for key in ("faces_a", "faces_b"):
        if key in changes:
            changes[key] = str(path_inside(api.root, changes[key], key))
    outcome = set_settings.change(
        folder,
        changes,
        plugin_manager.get_registry() if changes else None,
        reset=[str(key) for key in reset],
        wait=WAIT_SECONDS,
    )
    if outcome.failed:
        raise FsUserError(outcome.text)
    text = outcome.text if outcome.sent else f"{outcome.text} (no trainer runs on this model)"
    return {"message": text, "sent": outcome.sent, "answered": outcome.answered}


def routes(api: Api) -> list[Route]:
    """The tab's two routes, for :meth:`fs_core.gui.app.Api.routes`."""

    def show(request: Request) -> Response:
        return JSON(settings_view(api.model_dir(request), api.installed.get()))

    async def change(request: Request) -> Response:
        folder = api.model_dir(request)
        data = await json_body(request)
        return JSON(await run_in_threadpool(apply_change, api, folder, data))

    return [
        Route("/api/models/{name:str}/settings", show),
        Route("/api/models/{name:str}/settings", change, methods=["POST"]),
    ]
