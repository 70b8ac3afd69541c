"""The Settings tab's API: a model's options with their live values, and a change from the page
(checked, stored for the next start when no trainer runs, token-guarded)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():  # Starlette 1.x suggests the httpx2 fork; httpx works the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from fs_core.folder.state import save_state
from fs_core.gui.app import create_app
from fs_core.model.state import ModelState

TOKEN = "test-token"
POST = {"X-FS-Token": TOKEN}


@pytest.fixture()
def client(tmp_path) -> TestClient:
    model = tmp_path / "saved"
    model.mkdir()
    (tmp_path / "faces").mkdir()
    state = ModelState(model="lightweight", iterations=7)
    state.new_session(4, {"global": {"learning_rate": 4e-5}})
    save_state(model, state)
    app = create_app(tmp_path, TOKEN, require_token_for_reads=False)
    return TestClient(app, base_url="http://127.0.0.1:8765")


def _options(view: dict) -> dict:
    return {row["key"]: row for rows in view["sections"].values() for row in rows}


def test_settings_show_values_locks_and_store_a_change(client, tmp_path):
    view = client.get("/api/models/saved/settings").json()
    options = _options(view)
    assert options["global.learning_rate"]["value"] == 4e-5  # the last session's
    assert options["global.learning_rate"]["applies"] == "now"
    assert options["global.coverage"]["locked"] and options["global.backend"]["fixed"]
    assert options["global.loss.loss_weight_2"]["applies"] == "rebuild"
    assert "convert" not in view["sections"] and view["training"] is False
    assert {row["key"]: row["value"] for row in view["run"]}["batch_size"] == 4

    changes = {"global.learning_rate": 2e-5, "faces_a": "faces"}
    refused = client.post("/api/models/saved/settings", json={"changes": changes})
    assert refused.status_code == 403  # no token
    answer = client.post("/api/models/saved/settings", json={"changes": changes}, headers=POST)
    assert answer.status_code == 200, answer.text
    assert "stored for the next start" in answer.json()["message"]
    options = _options(client.get("/api/models/saved/settings").json())
    assert options["global.learning_rate"]["value"] == 2e-5
    assert options["global.learning_rate"]["live"] and options["global.learning_rate"][
        "replaces"
    ] == pytest.approx(4e-5)

    for bad, reason in (
        ({"global.learning_rate": 1.0}, "global.learning_rate"),
        ({"global.coverage": 80.0}, "locked"),
        ({"faces_b": "../outside"}, "'..'"),
    ):
        answer = client.post("/api/models/saved/settings", json={"changes": bad}, headers=POST)
        assert answer.status_code == 400 and reason in answer.json()["error"], answer.text
    answer = client.post("/api/models/saved/settings", json={"reset": ["all"]}, headers=POST)
    assert answer.status_code == 200 and not (Path(tmp_path) / "saved" / "settings.toml").exists()
