"""``fs gui``'s folder picker (``/api/browse``, its thumbnails), the Compare route
(``/api/compare``) and the refusal of symbolic links that lead out of the root."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from gui_record_support import write_model

with warnings.catch_warnings():  # Starlette 1.x suggests the httpx2 fork; httpx works the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from fs_core.faces.demo import write_demo_data
from fs_core.gui.app import create_app

TOKEN = "test-token"
POST = {"X-FS-Token": TOKEN}
FORM = {"model": "lightweight", "batch_size": 2, "iterations": 4, "save_interval": 2}


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> tuple[Path, Path]:
    """(root, elsewhere): a root with demo faces, a text file, two written models and links to
    faces and a model kept in a folder beside it (outside the root)."""
    top = tmp_path_factory.mktemp("browse")
    root, elsewhere = top / "root", top / "elsewhere"
    write_demo_data(root / "faces", count=8, size=64, seed=0)
    write_demo_data(elsewhere, count=2, size=64, seed=1)
    (root / "faces" / "notes.txt").write_text("not a face")
    (root / "faces" / "fake.png").write_text("not a picture either")
    (root / "faces" / "A_elsewhere").symlink_to(elsewhere / "A")
    (root / "data_link").symlink_to(elsewhere)
    write_model(root / "first", [(100, 0.4, 0.5), (200, 0.3, 0.35), (300, 0.2, 0.25)], [200])
    write_model(root / "second", [(50, 0.6, 0.7), (150, 0.5, 0.55)], [])
    write_model(elsewhere / "far_model", [(10, 0.1, 0.1)], [])
    (root / "far_model").symlink_to(elsewhere / "far_model")
    return root, elsewhere


@pytest.fixture()
def client(place) -> TestClient:
    return TestClient(create_app(place[0], TOKEN, False), base_url="http://127.0.0.1:8765")


def test_browse_lists_folders_with_face_counts_and_never_leaves_the_root(client, place):
    root, elsewhere = place
    top = client.get("/api/browse").json()
    assert top["path"] == "" and top["parent"] is None and top["root"] == str(root.resolve())
    assert {"faces", "first", "second"} <= {f["name"] for f in top["folders"]}
    faces = {
        f["name"]: f for f in client.get("/api/browse", params={"path": "faces"}).json()["folders"]
    }
    assert faces["A"]["faces"] == 8 and faces["A"]["path"] == "faces/A"
    assert faces["A_elsewhere"]["faces"] is None
    assert str(elsewhere / "A") in faces["A_elsewhere"]["outside"]
    inside = client.get("/api/browse", params={"path": "faces/A"}).json()
    assert inside["faces"] == 8 and inside["parent"] == "faces" and len(inside["thumbnails"]) == 6
    files = client.get("/api/browse", params={"path": "faces", "kind": "file"}).json()["files"]
    assert {f["name"]: f["type"] for f in files} == {"notes.txt": "other", "fake.png": "image"}
    for path in ("..", "faces/../..", str(elsewhere), "faces/notes.txt", "no_such"):
        answer = client.get("/api/browse", params={"path": path})
        assert answer.status_code == 400, path
        assert "\n" not in answer.json()["error"]
    assert client.get("/api/browse", params={"kind": "everything"}).status_code == 400


def test_thumbnails_are_small_images_of_image_files_inside_the_root(client, place):
    elsewhere = place[1]
    url = client.get("/api/browse", params={"path": "faces/A"}).json()["thumbnails"][0]
    answer = client.get("/" + url)
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
    picture = cv2.imdecode(np.frombuffer(answer.content, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and max(picture.shape[:2]) <= 128
    refused = {
        "faces/notes.txt": "not an image file",
        "faces/fake.png": "not a readable image",
        "faces/missing.png": "no such image file",
        "faces/A_elsewhere/" + sorted(p.name for p in (elsewhere / "A").iterdir())[0]: "link",
        "../elsewhere/A/x.png": "'..'",
    }
    for path, reason in refused.items():
        answer = client.get("/api/browse/thumb", params={"path": path})
        assert answer.status_code == 400 and reason in answer.json()["error"], path


def test_a_symbolic_link_out_of_the_root_is_refused_saying_where_it_leads(client, place):
    root, elsewhere = place
    started: list = []
    client.app.state.api.launcher.start = lambda *args: started.append(args)
    top = root.resolve().parent
    form = {**FORM, "faces_a": "faces/A_elsewhere", "faces_b": "faces/B", "model_dir": "new"}
    error = client.post("/api/train", headers=POST, json=form).json()["error"]
    assert error == (
        f"faces_a faces/A_elsewhere is a symbolic link to {elsewhere / 'A'}, outside the root "
        f"folder {root.resolve()}; start fs gui with --root set to a folder that holds both "
        f"(here: fs gui --root {top})"
    )
    form["faces_a"] = "data_link/A"
    error = client.post("/api/train", headers=POST, json=form).json()["error"]
    assert error.startswith(
        f"faces_a data_link/A is inside data_link, a symbolic link to {elsewhere},"
    )
    browse = client.get("/api/browse", params={"path": "faces/A_elsewhere"}).json()["error"]
    assert browse.startswith("path faces/A_elsewhere is a symbolic link to")
    model = client.get("/api/models/far_model")
    assert model.status_code == 400
    assert model.json()["error"].startswith(
        f"model folder 'far_model' is a symbolic link to {elsewhere / 'far_model'}, outside"
    )
    form = {**form, "faces_a": "faces/A", "model_dir": "far_model"}
    error = client.post("/api/train", headers=POST, json=form).json()["error"]
    assert error.startswith(
        f"model_dir 'far_model' is a symbolic link to {elsewhere / 'far_model'}"
    )
    listed = {m["name"]: m for m in client.get("/api/models").json()["models"]}
    assert listed["far_model"]["state"] == "failed"
    assert "symbolic link" in listed["far_model"]["error"]
    assert not started and not (root / "new").exists()


def test_compare_gives_each_model_its_newest_preview_and_the_loss_there(client):
    models = client.get("/api/compare", params={"models": "first,second,gone,first"}).json()
    first, second, gone = models["models"]
    assert first["preview"]["iteration"] == 200 and first["iterations"] == 300
    assert first["preview_loss"] == {"iteration": 200, "loss_a": 0.3, "loss_b": 0.35}
    assert first["status"]["loss_a"] == 0.2 and first["error"] is None
    assert first["preview"]["mask"] == "record/previews/000000200.png"
    assert client.get("/api/models/first/files/" + first["preview"]["mask"]).status_code == 200
    assert second["preview"] is None and second["preview_loss"] is None
    assert gone == {"name": "gone", "error": f"no model 'gone' in {client.app.state.root}"}
    assert client.get("/api/compare").status_code == 400
    many = ",".join(f"m{i}" for i in range(9))
    assert "at most 8" in client.get("/api/compare", params={"models": many}).json()["error"]
