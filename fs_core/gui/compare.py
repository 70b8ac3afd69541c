"""The Compare view's server side: several models at a glance, with their latest previews.

The loss curves come from each model's ``/api/models/NAME/losses``; what that route lacks is, per
model, the newest preview and the loss *at that preview's iteration* (the status holds the latest
loss, which may be many iterations past the preview), so a user comparing two previews compares
the losses that go with them. ``GET /api/compare?models=a,b`` answers that in one request; a name
that is not a model (a deleted folder in a bookmarked address) answers its own error line without
failing the others.
"""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fs_core.errors import FsUserError
from fs_core.gui import models
from fs_core.gui.jsonout import JSON
from fs_core.gui.security import model_path
from fs_core.record import loss_series, previews

#: the most models one comparison shows (each adds two lines to one graph)
MAX_MODELS = 8
#: resolution of the series searched for the loss at a preview's iteration
SEARCH_POINTS = 100_000


def loss_at(model_dir: Path, iteration: int) -> dict[str, Any] | None:
    """The recorded losses at ``iteration`` or the last point before it (None when there is
    none): ``{"iteration", "loss_a", "loss_b"}``."""
    series = loss_series(model_dir, max_points=SEARCH_POINTS)
    iterations = series["iterations"]
    index = bisect.bisect_right(iterations, iteration) - 1
    if index < 0:
        return None
    terms = series["terms"]
    return {
        "iteration": iterations[index],
        "loss_a": (terms.get("loss_a") or [None] * len(iterations))[index],
        "loss_b": (terms.get("loss_b") or [None] * len(iterations))[index],
    }


def model_entry(root: Path, name: str) -> dict[str, Any]:
    """One model of a comparison: its summary, newest preview and the loss that goes with it."""
    try:
        folder = model_path(root, name)
    except FsUserError as error:
        return {"name": name, "error": error.one_line()}
    if not models.is_model_folder(folder):
        return {"name": name, "error": f"no model '{name}' in {root}"}
    summary = models.summary(folder)
    shown = previews(folder)
    newest = shown[-1] if shown else None
    return {
        "name": name,
        "error": summary.get("error") if summary.get("state") == "failed" else None,
        "model": summary.get("model"),
        "state": summary.get("state"),
        "iterations": summary.get("iterations"),
        "status": summary.get("status"),
        "preview": newest,
        "preview_loss": loss_at(folder, newest["iteration"]) if newest else None,
    }


def names_param(text: str) -> list[str]:
    """The model names of ``?models=a,b`` (each once, in order), or FsUserError."""
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise FsUserError("models must name at least one model (models=a,b)")
    if len(names) > MAX_MODELS:
        raise FsUserError(f"at most {MAX_MODELS} models can be compared, got {len(names)}")
    return names


def routes(api: Any) -> list[Route]:
    """The Compare route for ``api`` (an :class:`fs_core.gui.app.Api`: its ``root``)."""

    def compare(request: Request) -> Response:
        names = names_param(request.query_params.get("models", ""))
        return JSON({"models": [model_entry(api.root, name) for name in names]})

    return [Route("/api/compare", compare)]
