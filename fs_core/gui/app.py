"""The GUI's web application: the page, its JSON API and the live event stream.

:func:`create_app` builds a Starlette app for one root folder and one token; ``fs gui`` serves it
with uvicorn, and tests drive it with Starlette's TestClient. Routes only translate HTTP: model
folders are read by :mod:`fs_core.gui.models` (through the training record), forms are checked by
:mod:`fs_core.gui.forms`, trainers started by :mod:`fs_core.gui.launch`, and who may ask what is
decided by :mod:`fs_core.gui.security` before any route runs.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from fs_core.errors import FsUserError
from fs_core.folder.layout import PREVIEWS_DIR, RECORD_DIR, previews_dir
from fs_core.gui import browse, compare, faces, forms, job_routes, models, settings, worst
from fs_core.gui.config_view import config_view
from fs_core.gui.installed import LazyInstalled
from fs_core.gui.jsonout import JSON
from fs_core.gui.launch import Launcher, resume_args, write_config
from fs_core.gui.params import int_param, json_body, safe_file_name
from fs_core.gui.security import SecurityMiddleware, file_under, model_path
from fs_core.gui.stream import model_events
from fs_core.record import loss_series, send_command
from fs_core.version import __version__

STATIC_DIR = Path(__file__).parent / "static"
COMMANDS = ("stop", "save", "snapshot", "preview")


class Api:
    """The routes of one server: its root, the trainers it started, the installed plugins."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.launcher = Launcher()
        self.installed = LazyInstalled()
        #: one start at a time, so two quick clicks cannot start two trainers on one folder
        self.start_lock = threading.Lock()

    # -- helpers ------------------------------------------------------------------------------

    def model_dir(self, request: Request) -> Path:
        """The model folder a request names; 400 for a name leaving the root, 404 for none."""
        name = request.path_params["name"]
        folder = model_path(self.root, name)
        if not models.is_model_folder(folder):
            raise HTTPException(404, f"no model '{name}' in {self.root}")
        return folder

    def _refuse_if_training(self, folder: Path) -> None:
        if models.is_training(folder, self.launcher):
            raise HTTPException(409, f"model '{folder.name}' is training; stop it first")

    # -- page ---------------------------------------------------------------------------------

    def index(self, request: Request) -> Response:
        page = STATIC_DIR / "index.html"
        if not page.is_file():
            raise HTTPException(404, "the page is not installed (fs_core/gui/static/index.html)")
        return FileResponse(page, headers={"Cache-Control": "no-cache"})

    # -- reads --------------------------------------------------------------------------------

    def info(self, request: Request) -> Response:
        installed = self.installed.get()
        return JSON(
            {
                "root": str(self.root),
                "version": __version__,
                "models_available": sorted(installed.models),
                "presets": sorted(installed.presets),
                "token_required_for_reads": request.app.state.require_token_for_reads,
            }
        )

    def models(self, request: Request) -> Response:
        return JSON({"models": models.list_models(self.root)})

    def model(self, request: Request) -> Response:
        return JSON(models.detail(self.model_dir(request), self.installed.get()))

    def losses(self, request: Request) -> Response:
        folder = self.model_dir(request)
        session = int_param(request, "session", 1, 10**9)
        last = int_param(request, "last", 1, 10**12)
        max_points = int_param(request, "max_points", 2, 100_000)
        return JSON(
            loss_series(
                folder,
                session=session,
                last=last,
                max_points=2000 if max_points is None else max_points,
            )
        )

    def stream(self, request: Request) -> Response:
        folder = self.model_dir(request)
        return StreamingResponse(
            model_events(folder, request.is_disconnected),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    def file(self, request: Request) -> Response:
        """A preview image: a path under ``record/previews/`` (given from the model folder, from
        ``record/``, or as the bare file name), nothing else."""
        folder = self.model_dir(request)
        relpath = request.path_params["relpath"]
        for prefix in (f"{RECORD_DIR}/{PREVIEWS_DIR}/", f"{PREVIEWS_DIR}/"):
            if relpath.startswith(prefix):
                relpath = relpath[len(prefix) :]
                break
        path = file_under(previews_dir(folder), relpath, (".png",))
        if not path.is_file():
            raise HTTPException(404, f"no preview {relpath!r}")
        return FileResponse(
            path, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"}
        )

    def analysis_csv(self, request: Request) -> Response:
        folder = self.model_dir(request)
        safe = safe_file_name(folder.name)
        return Response(
            models.sessions_csv(folder),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{safe}_analysis.csv"'},
        )

    def config(self, request: Request) -> Response:
        return JSON(
            config_view(
                self.installed.get(),
                request.query_params.get("model") or None,
                request.query_params.get("preset") or None,
            )
        )

    # -- actions ------------------------------------------------------------------------------

    async def train(self, request: Request) -> Response:
        data = await json_body(request)
        return JSON(await run_in_threadpool(self._train, data))

    def _train(self, data: Any) -> dict[str, Any]:
        form = forms.parse_train_form(data, self.root, self.installed.get())
        with self.start_lock:
            if form.model_dir.exists():
                self._refuse_if_training(form.model_dir)
            config_file = None
            if form.config_toml is not None:
                config_file = write_config(form.model_dir, form.config_toml)
            pid = self.launcher.start(form.model_dir, form.train_args(config_file), self.root)
        return {"model": form.name, "pid": pid}

    def command(self, request: Request) -> Response:
        folder = self.model_dir(request)
        if not models.is_training(folder, self.launcher):
            raise HTTPException(409, f"model '{folder.name}' is not training")
        return JSON({"id": send_command(folder, request.url.path.rsplit("/", 1)[-1])})

    def restore(self, request: Request) -> Response:
        from fs_core.folder.restore import restore  # noqa: PLC0415 (TensorFlow: the GUI starts without it)

        folder = self.model_dir(request)
        with self.start_lock:
            self._refuse_if_training(folder)
            iterations, archive = restore(folder)
        return JSON(
            {
                "message": f"Restored the backup at {iterations} iterations; the previous "
                f"files are in {archive.name}/."
            }
        )

    def resume(self, request: Request) -> Response:
        folder = self.model_dir(request)
        presets = [path for _, path in self.installed.get().presets.values()]
        with self.start_lock:
            self._refuse_if_training(folder)
            pid = self.launcher.start(folder, resume_args(folder, self.root, presets), self.root)
        return JSON({"model": folder.name, "pid": pid})

    def routes(self) -> list[Any]:
        return [
            Route("/", self.index),
            Route("/index.html", self.index),
            Route("/api/info", self.info),
            Route("/api/models", self.models),
            Route("/api/config", self.config),
            Route("/api/train", self.train, methods=["POST"]),
            Route("/api/models/{name:str}", self.model),
            Route("/api/models/{name:str}/losses", self.losses),
            Route("/api/models/{name:str}/stream", self.stream),
            Route("/api/models/{name:str}/analysis.csv", self.analysis_csv),
            Route("/api/models/{name:str}/files/{relpath:path}", self.file),
            Route("/api/models/{name:str}/restore", self.restore, methods=["POST"]),
            Route("/api/models/{name:str}/resume", self.resume, methods=["POST"]),
            *worst.routes(self),
            *(
                Route(f"/api/models/{{name:str}}/{c}", self.command, methods=["POST"])
                for c in COMMANDS
            ),
            *browse.routes(self),
            *compare.routes(self),
            *faces.routes(self),
            *job_routes.routes(self),
            *settings.routes(self),
            Mount("/static", app=StaticFiles(directory=STATIC_DIR, check_dir=False)),
        ]


async def _user_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, FsUserError)
    return JSON({"error": error.one_line()}, status_code=400)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return JSON(
        {"error": str(error.detail)},
        status_code=error.status_code,
        headers=getattr(error, "headers", None),
    )


def create_app(root: Path, token: str, require_token_for_reads: bool) -> Starlette:
    """The app serving the models under ``root``; ``token`` guards every state-changing request
    (and every read when ``require_token_for_reads``, for a server reachable beyond loopback)."""
    folder = Path(root).resolve()
    if not folder.is_dir():
        raise FsUserError("the root is not a folder", root)
    if not token:
        raise FsUserError("the token must not be empty")
    api = Api(folder)
    app = Starlette(
        routes=api.routes(),
        middleware=[
            Middleware(
                SecurityMiddleware, token=token, require_token_for_reads=require_token_for_reads
            )
        ],
        exception_handlers={FsUserError: _user_error, HTTPException: _http_error},
    )
    app.state.root = folder
    app.state.require_token_for_reads = require_token_for_reads
    app.state.api = api
    return app
