"""The Faces tab's routes: the face-set report of the folders a model's last session trained on.

The report reads every face, which takes from seconds to a minute, so it runs in a background
thread (its workers at a lower CPU priority, to give way to a trainer) and the page polls its
progress. The result is kept in ``record/face-report.json`` beside the model's record, with the
*signature* of the folders it measured (every image file's name, size and modification time): the
page is shown the kept report at once while it still matches the folders, and told it is stale
(so it offers to check again) when a face was added, removed or changed.

The folders come from the last session's arguments (``record/trainer.json``, as Resume reads
them) and must lie inside the server's root, like every path the GUI touches.

Routes::

    GET  /api/models/{name}/faces       state, progress, and the report (thumbnails, heat-maps)
    POST /api/models/{name}/faces/run   start (or restart) the report
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fs_core.atomic import atomic_write_bytes
from fs_core.errors import FsUserError
from fs_core.facereport.html import add_thumbnails, heatmaps
from fs_core.facereport.report import REPORT_VERSION, build_report, identity_available
from fs_core.folder.layout import record_dir
from fs_core.gui.jsonout import JSON
from fs_core.gui.security import path_inside
from fs_core.training.arguments import recorded_train_args

CACHE_NAME = "face-report.json"
#: the report's worker processes give way to a trainer on the same cores
NICE = 10


def cache_file(model_dir: Path) -> Path:
    return record_dir(model_dir) / CACHE_NAME


def face_folders(model_dir: Path, root: Path) -> dict[str, Path]:
    """The face folders ({"A": path, "B": path}) of the model's last session; FsUserError when
    there is no recorded session or a folder is outside ``root``."""
    args = recorded_train_args(model_dir)
    found = {side: text for side, text in (("A", args.input_a), ("B", args.input_b)) if text}
    if "A" not in found:
        raise FsUserError("the last training session recorded no face folders")
    return {side: path_inside(root, text, f"face folder {side}") for side, text in found.items()}


def signature(folders: dict[str, Path]) -> str:
    """A digest of every image file's name, size and modification time in ``folders``: it
    changes when a face is added, removed, replaced or edited (one stat per file, no reading)."""
    digest = hashlib.sha256()
    for side, folder in sorted(folders.items()):
        digest.update(f"{side}:{folder}\n".encode())
        try:
            with os.scandir(folder) as entries:
                rows = sorted(
                    f"{e.name}\t{e.stat().st_size}\t{e.stat().st_mtime_ns}"
                    for e in entries
                    if e.is_file() and not e.name.startswith(".")
                )
        except OSError:
            rows = ["<unreadable>"]
        digest.update("\n".join(rows).encode())
    return digest.hexdigest()


def _read_cache(model_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(cache_file(model_dir).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("report"), dict):
        return None
    # a report kept by another version of fs may lack what this page shows: made again
    return data if data["report"].get("version") == REPORT_VERSION else None


def make_report(
    folders: dict[str, Path], progress: Any = None, identity: bool = False
) -> dict[str, Any]:
    """The report as the tab shows it: findings with thumbnails, and the heat-maps as SVG.
    ``identity``: also the identity outliers (the extract extra; about 0.1 s a face)."""
    report = build_report(
        folders["A"], folders.get("B"), identity=identity, progress=progress, nice=NICE
    )
    add_thumbnails(report)
    report["heatmaps"] = heatmaps(report)
    return report


class FaceReportJobs:
    """The background report per model folder: at most one running each, its progress kept for
    the page to poll."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._jobs: dict[Path, dict[str, Any]] = {}

    def _job(self, model_dir: Path) -> dict[str, Any] | None:
        with self._lock:
            job = self._jobs.get(model_dir)
            return dict(job) if job else None

    def start(self, model_dir: Path, identity: bool = False) -> dict[str, Any]:
        folders = face_folders(model_dir, self.root)
        if identity and not identity_available():
            raise FsUserError(
                'the identity check needs dlib and its models: pip install "fs-core[extract]"'
            )
        with self._lock:
            job = self._jobs.get(model_dir)
            if job and job["state"] == "running":
                return dict(job)
            job = {"state": "running", "done": 0, "total": 0, "error": None}
            self._jobs[model_dir] = job
        thread = threading.Thread(
            target=self._run,
            args=(model_dir, folders, job, identity),
            name="face-report",
            daemon=True,
        )
        thread.start()
        return dict(job)

    def _run(
        self, model_dir: Path, folders: dict[str, Path], job: dict[str, Any], identity: bool
    ) -> None:
        def progress(done: int, total: int) -> None:
            with self._lock:
                job.update(done=done, total=total)

        try:
            key = signature(folders)
            report = make_report(folders, progress, identity)
            data = {
                "signature": key,
                "folders": {s: str(p) for s, p in folders.items()},
                "report": report,
            }
            atomic_write_bytes(cache_file(model_dir), json.dumps(data).encode("utf-8"))
            state, error = "done", None
        except FsUserError as err:
            state, error = "failed", err.one_line()
        except Exception as err:  # a bug: shown on the page rather than lost in a thread
            state, error = "failed", f"the report failed: {type(err).__name__}: {err}"
        with self._lock:
            job.update(state=state, error=error)

    def status(self, model_dir: Path) -> dict[str, Any]:
        """What the tab shows: ``state`` "running" (with ``done``/``total``), "ready" (the
        report, ``stale`` when the folders changed since), "none" (never made), "failed"
        (``error``) or "unavailable" (no folders to report on: ``error`` says why)."""
        job = self._job(model_dir)
        try:
            folders = face_folders(model_dir, self.root)
        except FsUserError as err:
            return {"state": "unavailable", "error": err.one_line()}
        shown = {side: str(path) for side, path in folders.items()}
        if job and job["state"] == "running":
            return {
                "state": "running",
                "done": job["done"],
                "total": job["total"],
                "folders": shown,
            }
        cached = _read_cache(model_dir)
        if cached is None or cached.get("folders") != shown:
            if job and job["state"] == "failed":
                return {"state": "failed", "error": job["error"], "folders": shown}
            return {"state": "none", "folders": shown}
        return {
            "state": "ready",
            "folders": shown,
            "report": cached["report"],
            "stale": cached.get("signature") != signature(folders),
            "error": job["error"] if job and job["state"] == "failed" else None,
        }


def routes(api: Any) -> list[Route]:
    """The Faces tab's routes on ``api`` (the server's :class:`~fs_core.gui.app.Api`)."""
    jobs = FaceReportJobs(api.root)
    #: whether the extract extra is installed, looked up once (it imports dlib)
    extra: list[bool] = []

    def status(request: Request) -> Response:
        if not extra:
            extra.append(identity_available())
        return JSON({**jobs.status(api.model_dir(request)), "identity_available": extra[0]})

    def run(request: Request) -> Response:
        identity = request.query_params.get("identity") in ("1", "true")
        return JSON(jobs.start(api.model_dir(request), identity))

    return [
        Route("/api/models/{name:str}/faces", status),
        Route("/api/models/{name:str}/faces/run", run, methods=["POST"]),
    ]
