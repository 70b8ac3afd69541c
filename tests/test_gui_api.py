"""``fs gui``'s server: the JSON API, its security rules, the start form, launching and stopping a
real trainer, the event stream, and the command line (port in use, the printed address)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():  # Starlette 1.x suggests the httpx2 fork; httpx works the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from fs_core.cli.main import main
from fs_core.folder.state import save_state
from fs_core.gui import detached, launch
from fs_core.gui.app import create_app
from fs_core.model.state import ModelState

TOKEN = "test-token"
BASE = "http://127.0.0.1:8765"
POST = {"X-FS-Token": TOKEN}
TINY = {"model": "lightweight", "batch_size": 2, "iterations": 4, "save_interval": 2}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A root with demo faces, a saved model (made by fs's own state code) and a plain folder."""
    folder = tmp_path_factory.mktemp("gui_root")
    assert main(["demo-data", str(folder / "faces"), "--count", "12", "--size", "128"]) == 0
    model = folder / "saved"
    model.mkdir()
    state = ModelState(model="lightweight", iterations=7)
    state.new_session(2, {"global": {"learning_rate": 5e-5}})
    state.sessions[0].update(iterations=7, end=state.sessions[0]["start"])
    save_state(model, state)
    (folder / "not_a_model").mkdir()
    return folder


@pytest.fixture()
def client(root) -> TestClient:
    return TestClient(create_app(root, TOKEN, require_token_for_reads=False), base_url=BASE)


@pytest.fixture()
def no_launch(monkeypatch) -> list:
    """Fails the test if anything tries to start a process; records the attempts."""
    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError("a process was started")

    monkeypatch.setattr(detached.subprocess, "Popen", refuse)  # every start goes through it
    return attempts


def test_models_list_and_detail(client):
    listed = {m["name"]: m for m in client.get("/api/models").json()["models"]}
    assert "saved" in listed and "not_a_model" not in listed and "faces" not in listed
    assert listed["saved"]["model"] == "lightweight" and listed["saved"]["iterations"] == 7
    detail = client.get("/api/models/saved").json()
    assert detail["state"] == "stopped"
    assert [row["iterations"] for row in detail["sessions"]] == [7]
    assert detail["config"]["global"]["learning_rate"] == 5e-5
    assert isinstance(detail["locked"], list) and detail["previews"] == []
    assert client.get("/api/models/not_a_model").status_code == 404
    csv_text = client.get("/api/models/saved/analysis.csv").text
    assert csv_text.splitlines()[0].startswith("id,start,end")
    info = client.get("/api/info").json()
    assert "lightweight" in info["models_available"] and info["token_required_for_reads"] is False


def test_config_lists_options_with_their_limits(client):
    data = client.get("/api/config", params={"model": "phaze_a"}).json()
    options = {o["name"]: o for o in data["sections"]["global"]}
    assert options["learning_rate"]["min"] == 1e-6 and options["learning_rate"]["locked"] is False
    assert options["centering"]["choices"] == ["face", "head", "legacy"]
    assert options["centering"]["locked"] is True
    assert "model.phaze_a" in data["sections"] and "[model.phaze_a]" in data["toml"]
    preset = client.get("/api/config", params={"preset": "phaze_a_dny256"}).json()
    assert preset["toml"] != data["toml"]
    assert client.get("/api/config", params={"preset": "nope"}).status_code == 400


def test_post_needs_the_token_and_the_same_origin(client):
    assert client.post("/api/models/saved/stop").status_code == 403
    wrong = client.post("/api/models/saved/stop", headers={"X-FS-Token": "nope"})
    assert wrong.status_code == 403 and "X-FS-Token" in wrong.json()["error"]
    foreign = client.post("/api/models/saved/stop", headers={**POST, "Origin": "http://evil.test"})
    assert foreign.status_code == 403 and "origin" in foreign.json()["error"]
    same = client.post("/api/models/saved/stop", headers={**POST, "Origin": BASE})
    assert same.status_code == 409 and same.json() == {"error": "model 'saved' is not training"}


def test_reads_need_the_token_beyond_loopback(root):
    client = TestClient(
        create_app(root, TOKEN, require_token_for_reads=True), base_url="http://192.0.2.10:8765"
    )
    assert client.get("/api/models").status_code == 403
    assert client.get("/api/models", headers=POST).status_code == 200
    assert client.get("/api/models", params={"token": TOKEN}).status_code == 200
    assert client.get("/api/models", params={"token": "wrong"}).status_code == 403
    assert client.get("/").status_code in (200, 404)  # the page itself loads without the token
    assert client.get("/static/vendor/nothing.js").status_code == 404


def test_loopback_server_refuses_other_host_names(root):
    """A page that rebinds its own name to 127.0.0.1 cannot read the models."""
    client = TestClient(
        create_app(root, TOKEN, require_token_for_reads=False), base_url="http://attacker.test:8765"
    )
    assert client.get("/api/models").status_code == 403
    assert (
        TestClient(create_app(root, TOKEN, False), base_url="http://localhost:8765")
        .get("/api/models")
        .status_code
        == 200
    )


def test_path_escapes_are_refused(client, root, tmp_path, no_launch):
    outside = tmp_path / "outside_model"
    outside.mkdir()
    save_state(outside, ModelState(model="lightweight"))
    (root / "escape").symlink_to(outside)
    try:
        assert client.get("/api/models/%2e%2e").status_code == 400
        assert client.get("/api/models/escape").status_code == 400
        assert client.post("/api/models/escape/restore", headers=POST).status_code == 400
        assert client.get("/api/models/saved/files/..%2Fstate.toml").status_code == 400
        assert client.get("/api/models/saved/files/%2Fetc%2Fpasswd").status_code == 400
        assert (
            client.get("/api/models/saved/files/record/previews/000000001.png").status_code == 404
        )
        previews = root / "saved" / "record" / "previews"
        previews.mkdir(parents=True)
        (previews / "000000002.png").write_bytes(b"\x89PNG\r\n\x1a\n")
        (root / "saved" / "record" / "secret.png").write_bytes(b"\x89PNG\r\n\x1a\n")
        shown = client.get("/api/models/saved/files/record/previews/000000002.png")
        assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"
        assert client.get("/api/models/saved/files/record/secret.png").status_code == 404
        assert client.get("/api/models/saved/files/previews/..%2Fsecret.png").status_code == 400
        for faces in ("../faces/A", str(tmp_path), "escape"):
            answer = client.post(
                "/api/train",
                headers=POST,
                json={**TINY, "faces_a": faces, "faces_b": "faces/B", "model_dir": "new"},
            )
            assert answer.status_code == 400, faces
    finally:
        (root / "escape").unlink()
        shutil.rmtree(root / "saved" / "record", ignore_errors=True)
    assert not no_launch


BAD_FIELDS = [
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": 300}, "batch_size"),
    ({"batch_size": "many"}, "batch_size"),
    ({"batch_size": 2.5}, "batch_size"),
    ({"iterations": 0}, "iterations"),
    ({"save_interval": -1}, "save_interval"),
    ({"snapshot_interval": -2}, "snapshot_interval"),
    ({"warmup": 9999}, "warmup"),
    ({"no_warp": "yes"}, "no_warp"),
    ({"lr_finder": 1}, "lr_finder"),
    ({"faces_a": "faces/missing"}, "faces_a"),
    ({"faces_b": ""}, "faces_b"),
    ({"faces_a": "not_a_model"}, "faces_a"),
    ({"model_dir": "a/b"}, "model_dir"),
    ({"model_dir": ".hidden"}, "model_dir"),
    ({"model_dir": "-t"}, "model_dir"),
    ({"model_dir": 5}, "model_dir"),
    ({"model": "no_such_model"}, "no_such_model"),
    ({"model": "original", "model_dir": "saved"}, "saved"),
    ({"preset": "nope"}, "nope"),
    ({"preset": "phaze_a_dny256"}, "phaze_a_dny256"),
    ({"config_toml": "[global\n"}, "config_toml"),
    ({"config_toml": "[global]\nlearning_rate = 5.0\n"}, "learning_rate"),
    ({"config_toml": "[global]\nno_such = 1\n"}, "no_such"),
    ({"surprise": True}, "surprise"),
]


@pytest.mark.parametrize("change, named", BAD_FIELDS, ids=[str(c) for c, _ in BAD_FIELDS])
def test_each_bad_form_field_is_refused_and_starts_nothing(client, root, no_launch, change, named):
    form = {**TINY, "faces_a": "faces/A", "faces_b": "faces/B", "model_dir": "fresh", **change}
    answer = client.post("/api/train", headers=POST, json=form)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert named in error and "\n" not in error
    assert not no_launch and not (root / "fresh").exists()


def test_a_body_that_is_not_a_form_is_refused(client, no_launch):
    assert client.post("/api/train", headers=POST, content=b"{not json").status_code == 400
    assert client.post("/api/train", headers=POST, json=[1, 2]).status_code == 400
    assert not no_launch


def test_resume_rechecks_the_recorded_arguments(root, tmp_path):
    model = root / "saved"
    record = model / "record"
    record.mkdir(exist_ok=True)
    argv = [
        "train",
        "-A",
        str(root / "faces/A"),
        "-B",
        "faces/B",
        "-m",
        str(model),
        "-t",
        "lightweight",
        "-b",
        "2",
        "-i",
        "4",
        "-W",
        "-p",
    ]
    (record / "trainer.json").write_text(json.dumps({"argv": argv}))
    args = launch.resume_args(model, root.resolve())
    assert "--input-B=" + str(root.resolve() / "faces/B") in args and "--preview" not in args
    assert "--no-warp" in args and "--batch-size=2" in args
    from fs_core.errors import FsUserError

    for bad in (
        ["-A", str(tmp_path)],
        ["-m", str(root / "other")],
        ["--no-such-flag"],
        ["-b", "two"],
        ["-h"],
    ):
        (record / "trainer.json").write_text(json.dumps({"argv": argv + bad}))
        with pytest.raises(FsUserError):
            launch.resume_args(model, root.resolve())
    (record / "trainer.json").unlink()
    record.rmdir()


def test_stream_starts_with_a_status_event(client, root):
    events = root / "streamed" / "record" / "events.jsonl"
    events.parent.mkdir(parents=True)
    progress = {
        "v": 1,
        "type": "progress",
        "time": time.time(),
        "session": 1,
        "iteration": 3,
        "session_iterations": 3,
        "elapsed": 1.5,
        "loss_a": 0.25,
        "loss_b": 0.5,
        "examples_per_second": 4.0,
        "count": 3,
        "losses": {},
    }
    events.write_text(json.dumps(progress) + "\n")
    with client.stream("GET", "/api/models/streamed/stream") as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        lines = answer.iter_lines()
        assert next(lines) == "event: status"
        data = json.loads(next(lines).removeprefix("data: "))
    assert data["state"] in ("stopped", "failed", "new") and "eta_seconds" in data


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_fs_gui_on_a_busy_port_says_so_in_one_line(root, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert main(["gui", "--root", str(root), "--port", str(port), "--no-browser"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"port {port}" in err and "in use" in err


def test_fs_gui_prints_its_address_with_the_token_and_serves(root):
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fs_core",
            "gui",
            "--root",
            str(root),
            "--port",
            str(port),
            "--token",
            "abc123",
            "--no-browser",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert f"http://127.0.0.1:{port}/?token=abc123" in line
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/models", timeout=30) as answer:
            assert "saved" in [m["name"] for m in json.load(answer)["models"]]
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        assert process.returncode == 0 and "stopped" in out, err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _wait(predicate, seconds: float, what: str, log: Path | None = None):
    """Poll ``predicate``; fail early, with the trainer's log, when ``log``'s trainer has ended."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if log is not None and "fs train: error" in (log.read_text() if log.exists() else ""):
            raise AssertionError(f"the trainer failed: {log.read_text()[-2000:]}")
        time.sleep(0.3)
    tail = log.read_text()[-2000:] if log is not None and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}; {tail}")


@pytest.mark.slow
def test_a_valid_form_trains_and_stop_and_resume_reach_it(client, root):
    """A real ``fs train`` from the form: it lists, streams, stops on Stop with a save, resumes."""
    form = {
        **TINY,
        "iterations": 100000,
        "save_interval": 100000,
        "faces_a": "faces/A",
        "faces_b": "faces/B",
        "model_dir": "from_form",
        "no_flip": True,
    }
    answer = client.post("/api/train", headers=POST, json=form)
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == "from_form" and answer.json()["pid"] > 0
    api = client.app.state.api
    model = root / "from_form"
    log = model / "record" / "trainer.log"
    try:
        assert "from_form" in [m["name"] for m in client.get("/api/models").json()["models"]]
        assert client.post("/api/train", headers=POST, json=form).status_code == 409
        _wait(
            lambda: (
                (client.get("/api/models/from_form").json()["status"] or {}).get("iteration", 0) > 0
            ),
            120,
            "progress in the record",
            log,
        )
        with client.stream("GET", "/api/models/from_form/stream") as stream:
            lines = stream.iter_lines()
            assert next(lines) == "event: status"
            assert json.loads(next(lines)[6:])["state"] == "training"
        stop = client.post("/api/models/from_form/stop", headers=POST)
        assert stop.status_code == 200 and stop.json()["id"]
        _wait(lambda: not api.launcher.busy(model), 120, "the trainer to stop", log)
        summary = client.get("/api/models/from_form").json()
        assert summary["state"] == "stopped", log.read_text()
        assert summary["iterations"] > 0 and (model / "state.toml").is_file()
        resumed = client.post("/api/models/from_form/resume", headers=POST)
        assert resumed.status_code == 200, resumed.text
        _wait(
            lambda: client.get("/api/models/from_form").json()["session"] == 2,
            120,
            "the resumed session",
            log,
        )
        assert client.post("/api/models/from_form/stop", headers=POST).status_code == 200
        _wait(lambda: not api.launcher.busy(model), 120, "the resumed trainer to stop", log)
        assert client.post("/api/models/from_form/stop", headers=POST).status_code == 409
    finally:
        for process in list(api.launcher._running.values()):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
