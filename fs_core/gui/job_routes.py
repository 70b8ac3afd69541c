"""The HTTP side of convert, export and import from the page.

Routes only translate HTTP: forms are checked by :mod:`fs_core.gui.job_forms`, jobs started and
read back by :mod:`fs_core.gui.jobs`, the slider's before/after frames made by
:mod:`fs_core.gui.frame_preview`. :func:`routes` hooks them into the app.

``GET /api/convert/options``, ``/api/convert/inputs``, ``/api/convert/frames?input=``,
``/api/convert/preview/KEY/{before,after}.png``, ``/api/jobs``, ``/api/jobs/ID``,
``/api/jobs/ID/result`` (what a convert wrote),
``/api/jobs/ID/files/PATH`` (one output file; ranges for a video), ``/api/jobs/ID/download``
(the file, or a folder as a .zip); ``POST /api/convert``, ``/api/convert/preview``,
``/api/export``, ``/api/import``, ``/api/jobs/ID/cancel``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from fs_core import plugin_manager
from fs_core.errors import FsUserError
from fs_core.gui import job_forms
from fs_core.gui.frame_preview import FramePreviews, frame_list
from fs_core.gui.jobs import IN_JOB, PROGRESS_FILE, JobStore, job_dir, result_files
from fs_core.gui.jsonout import JSON
from fs_core.gui.params import json_body, safe_file_name
from fs_core.gui.security import path_inside

#: a form is a few paths and options
MAX_FORM_BYTES = 64 * 1024


class _Api(Protocol):
    root: Path


async def _form(request: Request) -> Any:
    return await json_body(request, MAX_FORM_BYTES)


class JobRoutes:
    """The routes of one server's jobs; all state is in files under the root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = JobStore(root)
        self.previews = FramePreviews(root)

    def _job(self, request: Request) -> str:
        job_id = request.path_params["job"]
        try:
            job_dir(self.root, job_id)
        except FileNotFoundError:
            raise HTTPException(404, f"no job {job_id!r}") from None
        return job_id

    # -- reads ---------------------------------------------------------------------------------

    def options(self, request: Request) -> Response:
        return JSON(
            {
                "convert": job_forms.convert_choices(plugin_manager.get_registry()),
                "export": {
                    "formats": list(job_forms.FORMATS),
                    "directions": list(job_forms.DIRECTIONS),
                    "precisions": list(job_forms.PRECISIONS),
                    "tensorflow": not job_forms.tensorflow_missing(),
                    "missing_converter": job_forms.missing_converter(),
                },
            }
        )

    def frames(self, request: Request) -> Response:
        source = job_forms.convert_source(self.root, dict(request.query_params))
        info = frame_list(source.input)
        info["alignments"] = str(source.alignments.relative_to(self.root.resolve()))
        return JSON(info)

    def inputs(self, request: Request) -> Response:
        return JSON({"inputs": job_forms.convert_inputs(self.root)})

    def preview_image(self, request: Request) -> Response:
        try:
            path = self.previews.image(request.path_params["key"], request.path_params["which"])
        except FileNotFoundError:
            raise HTTPException(404, "no such preview (yet)") from None
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-cache"})

    def jobs(self, request: Request) -> Response:
        return JSON({"jobs": self.store.all()})

    def job(self, request: Request) -> Response:
        job_id = self._job(request)
        job = self.store.get(job_id)
        job["log"] = self.store.log_tail(job_id, 12)
        return JSON(job)

    def result(self, request: Request) -> Response:
        job_id = self._job(request)
        try:
            output = self.store.output(job_id)
        except FileNotFoundError:
            raise HTTPException(404, "the job's output is gone") from None
        return JSON({"is_file": output.is_file(), "name": output.name, **result_files(output)})

    def file(self, request: Request) -> Response:
        job_id = self._job(request)
        try:
            output = self.store.output(job_id)
        except FileNotFoundError:
            raise HTTPException(404, "the job's output is gone") from None
        relpath = request.path_params["relpath"]
        if output.is_file():
            if relpath != output.name:
                raise HTTPException(404, f"no file {relpath!r} in this job's output")
            path = output
        else:
            path = path_inside(output, relpath, "file")
        if not path.is_file():
            raise HTTPException(404, f"no file {relpath!r} in this job's output")
        return FileResponse(path, headers={"Cache-Control": "no-cache"})

    async def download(self, request: Request) -> Response:
        job_id = self._job(request)
        try:
            output = self.store.output(job_id)
            path = (
                output if output.is_file() else await run_in_threadpool(self.store.zipped, job_id)
            )
        except FileNotFoundError:
            raise HTTPException(404, "the job's output is gone") from None
        return FileResponse(
            path,
            filename=safe_file_name(path.name),
            content_disposition_type="attachment",
        )

    # -- actions -------------------------------------------------------------------------------

    async def convert(self, request: Request) -> Response:
        data = await _form(request)
        return JSON(await run_in_threadpool(self._convert, data))

    def _convert(self, data: Any) -> dict[str, Any]:
        form = job_forms.parse_convert(self.root, data, plugin_manager.get_registry())
        form.output.parent.mkdir(parents=True, exist_ok=True)
        argv = [*form.argv(f"{IN_JOB}convert.toml"), "--progress-file", f"{IN_JOB}{PROGRESS_FILE}"]
        return self.store.start(
            "convert",
            argv,
            {
                "model": form.model_dir.name,
                "title": f"Convert {form.source.input.name} with {form.model_dir.name}",
                "input": str(form.source.input),
                "output": str(form.output),
                "options": form.options,
            },
            files={"convert.toml": job_forms.convert_toml(form.options)},
        )

    async def preview(self, request: Request) -> Response:
        data = await _form(request)
        return JSON(await run_in_threadpool(self._preview, data))

    def _preview(self, data: Any) -> dict[str, Any]:
        form = job_forms.parse_convert(
            self.root, data, plugin_manager.get_registry(), need_output=False
        )
        frame = data.get("frame")
        if not isinstance(frame, int) or isinstance(frame, bool):
            raise FsUserError(f"frame must be a whole number, got {frame!r}")
        return self.previews.request(form, frame)

    async def export(self, request: Request) -> Response:
        data = await _form(request)
        return JSON(await run_in_threadpool(self._export, data))

    def _export(self, data: Any) -> dict[str, Any]:
        form = job_forms.parse_export(self.root, data)
        form.output.parent.mkdir(parents=True, exist_ok=True)
        return self.store.start(
            "export",
            form.argv(),
            {
                "model": form.model_dir.name,
                "title": f"Export {form.model_dir.name} as {form.format} ({form.direction})",
                "output": str(form.output),
                "format": form.format,
            },
        )

    async def import_model(self, request: Request) -> Response:
        data = await _form(request)
        return JSON(await run_in_threadpool(self._import, data))

    def _import(self, data: Any) -> dict[str, Any]:
        form = job_forms.parse_import(self.root, data)
        return self.store.start(
            "import",
            form.argv(),
            {
                "model": form.model_dir.name,
                "title": f"Import {form.input.name} as {form.model_dir.name}",
                "input": str(form.input),
                "output": str(form.model_dir),
            },
        )

    def cancel(self, request: Request) -> Response:
        return JSON(self.store.cancel(self._job(request)))

    def routes(self) -> list[Route]:
        return [
            Route("/api/convert/options", self.options),
            Route("/api/convert/frames", self.frames),
            Route("/api/convert/inputs", self.inputs),
            Route("/api/convert", self.convert, methods=["POST"]),
            Route("/api/convert/preview", self.preview, methods=["POST"]),
            Route("/api/convert/preview/{key:str}/{which:str}.png", self.preview_image),
            Route("/api/export", self.export, methods=["POST"]),
            Route("/api/import", self.import_model, methods=["POST"]),
            Route("/api/jobs", self.jobs),
            Route("/api/jobs/{job:str}", self.job),
            Route("/api/jobs/{job:str}/result", self.result),
            Route("/api/jobs/{job:str}/download", self.download),
            Route("/api/jobs/{job:str}/files/{relpath:path}", self.file),
            Route("/api/jobs/{job:str}/cancel", self.cancel, methods=["POST"]),
        ]


def routes(api: _Api) -> list[Route]:
    """The job routes for the app of ``api`` (its root)."""
    return JobRoutes(api.root).routes()
