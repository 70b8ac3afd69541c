"""The GUI's Faces tab API: the report of a model's face folders, made in the background, kept in
the model's record and marked stale when the folders change; folders outside the root refused."""

from __future__ import annotations

import json
import shutil
import time
import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():  # Starlette 1.x suggests the httpx2 fork; httpx works the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from fs_core.gui.app import create_app
from fs_core.gui.faces import CACHE_NAME

TOKEN = "faces-token"
POST = {"X-FS-Token": TOKEN}


def write_trainer_json(model: Path, *argv: str) -> None:
    """A model folder whose last session trained with ``fs train *argv``."""
    (model / "record").mkdir(parents=True, exist_ok=True)
    data = {"pid": 0, "host": "nowhere", "argv": ["train", *argv, "-m", str(model)]}
    (model / "record" / "trainer.json").write_text(json.dumps(data))


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    from fs_core.faces.demo import write_demo_data

    folder = tmp_path_factory.mktemp("faces_root")
    a, b = write_demo_data(folder / "faces", count=20, size=64, seed=0, clip_frames=0)
    shutil.copy(a / "demo_a_0003_0.png", a / "copy_of_3.png")
    write_trainer_json(folder / "model", "-A", str(a), "-B", str(b))
    write_trainer_json(folder / "outside", "-A", "/", "-B", str(b))
    return folder


@pytest.fixture()
def client(root) -> TestClient:
    return TestClient(create_app(root, TOKEN, False), base_url="http://127.0.0.1:8765")


def _wait_ready(client: TestClient, name: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        data = client.get(f"/api/models/{name}/faces").json()
        if data["state"] not in ("running",):
            return data
        time.sleep(0.2)
    pytest.fail("the face report did not finish")


def test_report_runs_in_the_background_is_kept_and_goes_stale(client, root):
    assert client.get("/api/models/model/faces").json()["state"] == "none"
    assert client.post("/api/models/model/faces/run").status_code == 403  # no token
    started = client.post("/api/models/model/faces/run", headers=POST).json()
    assert started["state"] == "running"
    data = _wait_ready(client, "model")
    assert data["state"] == "ready" and not data["stale"], data
    report = data["report"]
    assert len(report["heatmaps"]) == 2 and report["heatmaps"][0].startswith("<svg")
    duplicates = next(f for f in report["findings"] if f["kind"] == "duplicates")
    faces = duplicates["groups"][0]["faces"]
    assert {face["name"] for face in faces} == {"copy_of_3.png", "demo_a_0003_0.png"}
    assert all(face["thumb"].startswith("data:image/jpeg;base64,") for face in faces)
    assert (root / "model" / "record" / CACHE_NAME).is_file()
    (root / "faces" / "A" / "copy_of_3.png").unlink()
    again = client.get("/api/models/model/faces").json()
    assert again["state"] == "ready" and again["stale"]


def test_folders_outside_the_root_are_refused(client):
    data = client.get("/api/models/outside/faces").json()
    assert data["state"] == "unavailable" and "outside the root" in data["error"]
    response = client.post("/api/models/outside/faces/run", headers=POST)
    assert response.status_code == 400 and "outside the root" in response.json()["error"]


def test_the_identity_check_is_asked_for_and_needs_the_extract_extra(client, root):
    from fs_core.facereport.report import identity_available

    available = identity_available()
    assert client.get("/api/models/model/faces").json()["identity_available"] is available
    answer = client.post("/api/models/model/faces/run?identity=1", headers=POST)
    if not available:
        assert answer.status_code == 400
        assert 'pip install "fs-core[extract]"' in answer.json()["error"]
        return
    assert answer.status_code == 200, answer.text
    notes = " ".join(_wait_ready(client, "model")["report"]["notes"])
    assert "identity outliers were not checked" not in notes
