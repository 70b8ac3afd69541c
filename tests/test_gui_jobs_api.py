"""Convert, export and import from the GUI's server: every refusal (paths leaving the root, a
missing model, bad options, no TensorFlow ...) is one line and starts nothing; a job runs in its
own process, records how it ended in files (a new server finds it), can be cancelled, and its
output is served (a range of a file, a folder as a zip).

The jobs here run cheap ``fs`` commands (``--version``, a ``fs gui`` to cancel); a real convert and
export from the page are in test_gui_jobs_browser.py."""

from __future__ import annotations

import io
import time
import warnings
import zipfile
from pathlib import Path

import pytest

with warnings.catch_warnings():  # Starlette 1.x suggests the httpx2 fork; httpx works the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from fs_core.config.convert import MASK_TYPES
from fs_core.folder.state import save_state
from fs_core.gui import detached, job_forms, jobs
from fs_core.gui.app import create_app
from fs_core.model.state import ModelState

TOKEN = "test-token"
BASE = "http://127.0.0.1:8765"
POST = {"X-FS-Token": TOKEN}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A root with the demo clip (frames and alignments), a saved model and a faceswap-like
    folder."""
    from fs_core.faces.demo import write_demo_data

    folder = tmp_path_factory.mktemp("jobs_root")
    write_demo_data(folder / "demo", count=2, size=64)
    model = folder / "saved"
    model.mkdir()
    save_state(model, ModelState(model="lightweight", iterations=7))
    (folder / "faceswap_model").mkdir()
    (folder / "faceswap_model" / "original.keras").write_bytes(b"")
    (folder / "empty").mkdir()
    (folder / "taken").mkdir()
    (folder / "taken" / "file.txt").write_text("x")
    return folder


@pytest.fixture(autouse=True)
def tiny_registry(registry, monkeypatch):
    import fs_core.plugin_manager

    monkeypatch.setattr(fs_core.plugin_manager, "get_registry", lambda disabled=None: registry)


@pytest.fixture()
def client(root) -> TestClient:
    return TestClient(create_app(root, TOKEN, require_token_for_reads=False), base_url=BASE)


@pytest.fixture()
def no_launch(monkeypatch) -> list:
    """Fails the test if a job or a preview process starts."""
    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError("a process was started")

    monkeypatch.setattr(detached.subprocess, "Popen", refuse)  # every start goes through it
    return attempts


def _one_line_400(response) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error and "\n" not in error
    return error


def test_convert_options_come_from_the_convert_section(client, registry):
    data = client.get("/api/convert/options").json()
    convert = data["convert"]
    assert convert["mask_type"]["choices"] == list(MASK_TYPES)
    assert convert["writer"]["choices"] == sorted(registry.convert_writers)
    assert {"opencv", "ffmpeg"} <= set(convert["writer"]["choices"])
    assert convert["color_adjustment"]["default"] == "avg-color"
    assert (convert["output_scale"]["min"], convert["output_scale"]["max"]) == (25, 400)
    assert data["export"]["formats"] == ["savedmodel", "onnx", "dfm"]


def test_frames_of_an_input_and_its_alignments_beside_it(client):
    info = client.get("/api/convert/frames", params={"input": "demo/clip"}).json()
    assert info["count"] == 24 and info["video"] is False
    assert info["alignments"] == "demo/clip/alignments.fsa"
    error = _one_line_400(client.get("/api/convert/frames", params={"input": "../"}))
    assert "'..'" in error


def test_inputs_suggested_are_videos_and_folders_with_alignments(client, root):
    (root / "videos").mkdir(exist_ok=True)
    (root / "videos" / "talk.mp4").write_bytes(b"")
    (root / ".hidden").mkdir(exist_ok=True)
    (root / ".hidden" / "x.mp4").write_bytes(b"")
    assert client.get("/api/convert/inputs").json()["inputs"] == ["demo/clip", "videos/talk.mp4"]


GOOD = {"model": "saved", "input": "demo/clip"}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"input": "/etc"}, "outside the root"),
        ({"input": "demo/../../x"}, "'..'"),
        ({"input": "demo/nothing"}, "does not exist"),
        ({"input": "demo/A"}, "no alignments file beside the input"),
        ({"alignments": "/etc/passwd"}, "outside the root"),
        ({"model": "missing"}, "no model 'missing'"),
        ({"model": "../saved"}, "one folder name"),
        ({"options": {"mask_type": "bogus"}}, "mask_type"),
        ({"options": {"output_scale": 1000}}, "at most 400"),
        ({"options": {"writer": "nope"}}, "not installed"),
        ({"options": {"sharpen": "box"}}, "unknown convert option"),
        ({"output": "taken"}, "not empty"),
        ({"output": "/tmp/elsewhere"}, "outside the root"),
    ],
)
def test_each_bad_convert_form_is_refused_and_starts_nothing(client, no_launch, change, named):
    error = _one_line_400(client.post("/api/convert", json={**GOOD, **change}, headers=POST))
    assert named in error
    assert not no_launch and client.get("/api/jobs").json()["jobs"] == []


def test_preview_refuses_a_frame_outside_the_input(client, no_launch):
    for frame, named in ((24, "from 0 to 23"), ("3", "whole number"), (-1, "0 or more")):
        error = _one_line_400(
            client.post("/api/convert/preview", json={**GOOD, "frame": frame}, headers=POST)
        )
        assert named in error
    assert not no_launch


def test_posts_need_the_token(client, no_launch):
    for path in ("/api/convert", "/api/export", "/api/import", "/api/convert/preview"):
        assert client.post(path, json=GOOD).status_code == 403
    assert not no_launch


@pytest.mark.parametrize(
    ("form", "named"),
    [
        ({"model": "missing"}, "no model"),
        ({"model": "saved", "format": "tflite"}, "format must be one of"),
        ({"model": "saved", "direction": "up"}, "direction must be one of"),
        ({"model": "saved", "precision": "float16"}, "float32 only"),
    ],
)
def test_bad_export_forms_are_refused(client, no_launch, form, named):
    assert named in _one_line_400(client.post("/api/export", json=form, headers=POST))
    assert not no_launch


def test_export_without_tensorflow_says_so_in_one_line(client, no_launch, monkeypatch):
    monkeypatch.setattr(job_forms, "tensorflow_missing", lambda: True)
    error = _one_line_400(client.post("/api/export", json={"model": "saved"}, headers=POST))
    assert "needs TensorFlow" in error and "pip install tensorflow" in error
    assert not no_launch


@pytest.mark.parametrize(
    ("form", "named"),
    [
        ({"input": "/etc", "name": "new"}, "outside the root"),
        ({"input": "nothing", "name": "new"}, "does not exist"),
        ({"input": "empty", "name": "new"}, "no faceswap model (<name>.keras)"),
        ({"input": "faceswap_model", "name": "../up"}, "one folder name"),
        ({"input": "faceswap_model", "name": "taken"}, "already exists"),
        ({"input": "faceswap_model", "name": "-flag"}, "not a usable folder name"),
    ],
)
def test_bad_import_forms_are_refused(client, no_launch, form, named):
    assert named in _one_line_400(client.post("/api/import", json=form, headers=POST))
    assert not no_launch


def test_unknown_and_malformed_job_ids(client):
    assert client.get("/api/jobs/20260101-000000-convert-abcdef").status_code == 404
    assert client.get("/api/jobs/..%2F..").status_code in (400, 404)
    assert "not a job id" in _one_line_400(client.get("/api/jobs/not-an-id"))


def _wait_state(client, job_id, states, seconds=60.0) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} stayed {job['state']}: {job.get('log')}")
        time.sleep(0.2)


def test_a_job_records_its_end_and_serves_its_output(client, root):
    store = jobs.JobStore(root)
    output = root / "exports" / "made.onnx"
    output.parent.mkdir(exist_ok=True)
    output.write_bytes(bytes(range(256)) * 4)
    started = store.start("export", ["--version"], {"model": "saved", "output": str(output)})
    job = _wait_state(client, started["id"], ("done", "failed"))
    assert job["state"] == "done" and any("fs-core" in line for line in job["log"])
    ranged = client.get(f"/api/jobs/{job['id']}/files/made.onnx", headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.content == bytes(range(10, 20))
    download = client.get(f"/api/jobs/{job['id']}/download")
    assert download.content == output.read_bytes()
    assert 'filename="made.onnx"' in download.headers["content-disposition"]
    assert client.get(f"/api/jobs/{job['id']}/files/other.onnx").status_code == 404

    folder = root / "converted" / "frames_out"
    folder.mkdir(parents=True)
    (folder / "a_000001.png").write_bytes(b"png")
    (folder / "clip_converted.mp4").write_bytes(b"mp4")
    second = store.start("convert", ["--version"], {"model": "saved", "output": str(folder)})
    _wait_state(client, second["id"], ("done",))
    result = client.get(f"/api/jobs/{second['id']}/result").json()
    assert result["videos"] == ["clip_converted.mp4"] and result["images"] == ["a_000001.png"]
    assert _one_line_400(client.get(f"/api/jobs/{second['id']}/files/..%2F..%2Fsaved%2Fstate.toml"))
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"/api/jobs/{second['id']}/download").content))
    assert sorted(archive.namelist()) == [
        "frames_out/a_000001.png",
        "frames_out/clip_converted.mp4",
    ]

    # a new server (a reloaded page) lists both, newest first, with their state
    fresh = TestClient(create_app(root, TOKEN, require_token_for_reads=False), base_url=BASE)
    listed = fresh.get("/api/jobs").json()["jobs"]
    assert [j["id"] for j in listed[:2]] == [second["id"], job["id"]]
    assert {j["state"] for j in listed[:2]} == {"done"}


def test_a_running_job_is_cancelled_from_the_page(client, root):
    store = jobs.JobStore(root)
    # a command that runs until interrupted, and starts in a fraction of a second
    job = store.start(
        "import",
        ["gui", "--root", str(root), "--port", "0", "--no-browser", "--token", "x"],
        {"model": "none", "output": str(root / "none")},
    )
    _wait_state(client, job["id"], ("running",))
    assert client.post(f"/api/jobs/{job['id']}/cancel", headers=POST).status_code == 200
    ended = _wait_state(client, job["id"], ("cancelled", "failed", "done"))
    assert ended["state"] == "cancelled"
    error = _one_line_400(client.post(f"/api/jobs/{job['id']}/cancel", headers=POST))
    assert "cancelled, not running" in error


def test_convert_progress_file_is_replaced_whole_and_throttled(tmp_path):
    import json

    from fs_core.cli.convert import progress_writer

    path = tmp_path / "progress.json"
    write = progress_writer(path, every=60.0)
    write(0, 24)
    assert json.loads(path.read_text())["done"] == 0
    write(5, 24)  # within the interval: not rewritten
    assert json.loads(path.read_text())["done"] == 0
    write(24, 24)  # the last frame always is
    data = json.loads(path.read_text())
    assert (data["done"], data["total"]) == (24, 24) and data["seconds"] >= 0
    assert [p.name for p in tmp_path.iterdir()] == ["progress.json"]
