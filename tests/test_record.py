"""The training record (record/ in the model folder): what a run writes, reading it back while it
grows or is compacted, the command channel into a running trainer, and fs analysis from it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fs_core.cli.main import main
from fs_core.errors import FsUserError
from fs_core.faces.demo import write_demo_data
from fs_core.folder.layout import events_file
from fs_core.record import (
    loss_series,
    model_summary,
    previews,
    read_events,
    recent_messages,
    send_command,
    sessions_table,
)
from fs_core.record.reader import EventReader
from fs_core.record.writer import RecordWriter, compact_lines

FAST = (
    "[global.loss]\nloss_function = 'mae'\nloss_function_2 = 'none'\n"
    "penalized_mask_loss = false\n[global.mask]\nmask_type = 'none'\n"
    "[augmentation]\npreview_images = 2\n"
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    write_demo_data(out, count=8, size=64)
    return out


@pytest.fixture(scope="module")
def trained(demo, tmp_path_factory) -> Path:
    """lightweight at -b 2: 4 iterations, saved at 2 and 4."""
    root = tmp_path_factory.mktemp("run")
    config = root / "fs.toml"
    config.write_text("[augmentation]\npreview_images = 2\n")
    model = root / "m"
    with pytest.MonkeyPatch.context() as patch:  # a preview at every save, however slow
        patch.setattr("fs_core.builtins.record_trainer.PREVIEW_TIME_SHARE", 1.0)
        code = main(
            [
                "train",
                "-A",
                str(demo / "A"),
                "-B",
                str(demo / "B"),
                "-m",
                str(model),
                "-t",
                "lightweight",
                "-b",
                "2",
                "-i",
                "4",
                "-s",
                "2",
                "-C",
                str(config),
                "--seed",
                "3",
            ]
        )
    assert code == 0
    return model


def _events(model: Path) -> list[dict]:
    return read_events(model)[0]


def test_a_short_run_writes_every_kind_of_record(trained):
    records = _events(trained)
    kinds = [r["type"] for r in records]
    assert kinds[0] == "session_start" and kinds[-1] == "end"
    assert all(r["v"] == 1 and r["session"] == 1 and isinstance(r["time"], float) for r in records)
    start = records[0]
    assert start["iteration"] == 0 and start["target"] == 4 and start["batch_size"] == 2
    assert start["model"] == "lightweight" and start["pid"] == os.getpid()
    assert start["save_interval"] == 2 and start["argv"][:1] == ["train"]
    progress = [r for r in records if r["type"] == "progress"]
    assert progress[-1]["iteration"] == 4 and sum(p["count"] for p in progress) == 4
    assert {"loss_a", "loss_b", "examples_per_second", "elapsed", "session_iterations"} <= set(
        progress[-1]
    ) and progress[-1]["losses"]
    saves = [r for r in records if r["type"] == "save"]
    assert [s["iteration"] for s in saves] == [2, 4]
    for save in saves:
        assert save["snapshot"] is None and isinstance(save["backup"], bool)
        assert (trained / save["preview"]["mask"]).is_file()
        assert (trained / save["preview"]["plain"]).is_file()
    before_save = kinds.index("save") - 1
    assert kinds[before_save] == "progress" and records[before_save]["iteration"] == 2
    assert records[-1]["reason"] == "done" and records[-1]["error"] is None
    texts = [r["text"] for r in records if r["type"] == "message"]
    assert any(t.startswith("Training 'lightweight'") for t in texts)
    assert any(t.startswith("Stopped at iteration 4") for t in texts)
    trainer = json.loads((trained / "record" / "trainer.json").read_text())
    assert trainer["pid"] == os.getpid() and trainer["session"] == 1
    assert {"host", "started", "argv"} <= set(trainer)
    assert [p["iteration"] for p in previews(trained)] == [2, 4]
    assert recent_messages(trained, 1)[0]["text"].startswith("Stopped at iteration 4")


def test_summary_series_and_sessions_of_a_finished_run(trained):
    summary = model_summary(trained)
    assert summary["name"] == "m" and summary["model"] == "lightweight"
    assert summary["state"] == "stopped" and summary["iterations"] == 4 and summary["error"] is None
    assert (
        summary["status"]["iteration"] == 4 and summary["target"] == 4 and summary["session"] == 1
    )
    assert 1 <= len(summary["trend"]) <= 40 and summary["last_save"]
    series = loss_series(trained)
    assert series["iterations"][-1] == 4 and len(series["terms"]["loss_a"]) == len(
        series["iterations"]
    )
    assert series["sessions"] == [{"id": 1, "first_iteration": 1, "last_iteration": 4}]
    rows = sessions_table(trained)
    assert len(rows) == 1 and rows[0]["iterations"] == 4 and rows[0]["batch_size"] == 2


def test_analysis_reads_the_record_and_falls_back_to_tensorboard(trained, tmp_path, capsys):
    graph = tmp_path / "loss.png"
    assert main(["analysis", "-m", str(trained), "--graph", str(graph)]) == 0
    assert graph.stat().st_size > 1000 and "examples/s" in capsys.readouterr().out
    import shutil

    old = tmp_path / "old"
    shutil.copytree(trained, old)
    shutil.rmtree(old / "record")  # as a model trained before the record existed
    series = loss_series(old)
    assert series["iterations"] == [1, 2, 3, 4] and len(series["terms"]["loss_b"]) == 4
    assert main(["analysis", "-m", str(old), "--graph", str(tmp_path / "old.png")]) == 0
    assert model_summary(old)["state"] == "stopped"


def test_a_half_written_last_line_is_ignored(trained, tmp_path):
    data = events_file(trained).read_bytes()
    model = tmp_path / "m"
    events_file(model).parent.mkdir(parents=True)
    events_file(model).write_bytes(data + b'{"v":1,"type":"progress","ti')
    records, offset = read_events(model)
    assert len(records) == len(_events(trained)) and offset == len(data)
    with open(events_file(model), "ab") as handle:
        handle.write(b'me":1.0,"session":1}\n')
    more, end = read_events(model, offset)
    assert [r["type"] for r in more] == ["progress"] and end == events_file(model).stat().st_size


def _write_history(model: Path, iterations: int, compact_at: int) -> RecordWriter:
    writer = RecordWriter(model, 1, compact_at=compact_at)
    writer.write(
        "session_start",
        iteration=0,
        target=iterations,
        batch_size=2,
        model="tiny",
        pid=1,
        host="h",
        save_interval=100,
        snapshot_interval=0,
        argv=["train"],
    )
    for iteration in range(1, iterations + 1):
        writer.write(
            "progress",
            iteration=iteration,
            session_iterations=iteration,
            elapsed=1.0,
            loss_a=1.0 / iteration,
            loss_b=0.5,
            examples_per_second=10.0,
            count=1,
            losses={"a/mae": 1.0 / iteration},
        )
        if iteration % 100 == 0:
            writer.write("save", iteration=iteration, backup=False, snapshot=None, preview=None)
            writer.write("message", level="INFO", text=f"saved {iteration}")
    writer.write("end", iteration=iterations, reason="done", error=None)
    writer.close()
    return writer


def test_compaction_keeps_the_file_bounded_and_every_other_record(tmp_path):
    writer = _write_history(tmp_path, 20_000, compact_at=200_000)
    size = writer.path.stat().st_size
    assert size <= 200_000
    records = _events(tmp_path)
    kinds = [r["type"] for r in records]
    assert kinds.count("save") == kinds.count("message") == 200
    assert kinds[0] == "session_start" and kinds[-1] == "end"
    progress = [r for r in records if r["type"] == "progress"]
    assert len(progress) < 20_000 / 4 and sum(p["count"] for p in progress) == 20_000
    assert [p["iteration"] for p in progress] == sorted(p["iteration"] for p in progress)
    assert progress[-1]["iteration"] == 20_000
    # merging is weighted by the iterations covered: the mean of loss_b stays 0.5
    assert all(p["loss_b"] == pytest.approx(0.5) for p in progress)
    counts = [p["count"] for p in progress]
    assert counts[0] == max(counts) <= 256  # old records are not merged over and over


def test_compaction_caps_messages(tmp_path):
    from fs_core.record.files import encode

    lines = [
        encode(
            {"v": 1, "type": "message", "time": 1.0, "session": 1, "level": "INFO", "text": str(i)}
        )[:-1]
        for i in range(50)
    ]
    kept = compact_lines(lines, 10**6, message_limit=10)
    assert [json.loads(line)["text"] for line in kept] == [str(i) for i in range(40, 50)]


def test_a_replaced_file_is_read_again_from_0(tmp_path):
    _write_history(tmp_path, 300, compact_at=10**9)
    records, offset = read_events(tmp_path)
    reader = EventReader(tmp_path)
    assert len(reader.read()[0]) == len(records)
    short = b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in records[:5])
    temp = events_file(tmp_path).with_name(".events.tmp")
    temp.write_bytes(short)
    os.replace(temp, events_file(tmp_path))
    again, new_offset = read_events(tmp_path, offset)
    assert again == records[:5] and new_offset == len(short)
    followed, reset = reader.read()
    assert reset and followed == records[:5]


def test_loss_series_downsamples_and_keeps_the_last_iterations(tmp_path):
    _write_history(tmp_path, 5000, compact_at=10**9)
    series = loss_series(tmp_path, max_points=100)
    assert 50 <= len(series["iterations"]) <= 100 and series["iterations"][-1] == 5000
    assert set(series["terms"]) == {"loss_a", "loss_b", "a/mae"}
    assert all(v == pytest.approx(0.5) for v in series["terms"]["loss_b"])
    assert series["terms"]["loss_a"][0] > series["terms"]["loss_a"][-1]
    tail = loss_series(tmp_path, last=500, max_points=2000)
    assert tail["iterations"] == list(range(4501, 5001))
    assert tail["sessions"] == [{"id": 1, "first_iteration": 4501, "last_iteration": 5000}]
    assert loss_series(tmp_path, session=7)["iterations"] == []


def _summary_after(
    tmp_path: Path, reason: str | None, error: str | None = None, pid: int | None = None
) -> dict:
    writer = RecordWriter(tmp_path, 1)
    writer.write(
        "session_start",
        iteration=0,
        target=10,
        batch_size=2,
        model="tiny",
        pid=pid,
        host="h",
        save_interval=1,
        snapshot_interval=0,
        argv=["train"],
    )
    writer.write(
        "progress",
        iteration=3,
        session_iterations=3,
        elapsed=1.0,
        loss_a=0.1,
        loss_b=0.2,
        examples_per_second=4.0,
        count=3,
        losses={},
    )
    if reason:
        writer.write("end", iteration=3, reason=reason, error=error)
    writer.close()
    import socket

    (tmp_path / "record" / "trainer.json").write_text(
        json.dumps(
            {
                "pid": pid or os.getpid(),
                "host": socket.gethostname(),
                "session": 1,
                "started": time.time(),
                "argv": ["train"],
            }
        )
    )
    return model_summary(tmp_path)


def test_model_summary_states(tmp_path):
    assert model_summary(tmp_path / "nothing")["state"] == "new"
    summary = _summary_after(tmp_path / "a", "error", "RuntimeError: boom")
    assert summary["state"] == "failed" and summary["error"] == "RuntimeError: boom"
    assert _summary_after(tmp_path / "b", "nan")["state"] == "failed"
    assert _summary_after(tmp_path / "c", "stopped")["state"] == "stopped"
    live = _summary_after(tmp_path / "d", None)  # this process is the "trainer"
    assert live["state"] == "training" and live["status"]["iteration"] == 3
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = _summary_after(tmp_path / "e", None, pid=gone.pid)
    assert dead["state"] == "failed" and "without" in dead["error"]


def test_send_command_refuses_unknown_commands(tmp_path):
    with pytest.raises(FsUserError, match="unknown command 'explode'"):
        send_command(tmp_path, "explode")
    with pytest.raises(FsUserError, match="does not exist"):
        send_command(tmp_path / "nope", "stop")
    ident = send_command(tmp_path, "save")
    request = json.loads((tmp_path / "record" / "commands" / f"{ident}.json").read_text())
    assert request["command"] == "save" and request["id"] == ident and request["v"] == 1
    assert send_command(tmp_path, "stop") > ident


def test_an_exception_ends_the_record_with_the_error(demo, tmp_path):
    import tiny_plugin

    import fs_core
    from fs_core.plugin_manager import load_registry
    from fs_core.training.run import run_train
    from fs_core.training.session import TrainRequest

    class Boom:
        @fs_core.hookimpl
        def fs_iteration_end(self, iteration):
            if iteration == 3:
                raise RuntimeError("boom\nsecond line")

    registry = load_registry(extra_plugins={"tiny_plugin": tiny_plugin, "boom": Boom()})
    config = tmp_path / "fs.toml"
    config.write_text(FAST)
    request = TrainRequest(
        input_a=str(demo / "A"),
        input_b=str(demo / "B"),
        model_dir=str(tmp_path / "m"),
        model_name="tiny",
        batch_size=2,
        iterations=10,
        save_interval=2,
        config_path=str(config),
        no_logs=True,
    )
    with pytest.raises(RuntimeError):
        run_train(request, registry, notify=lambda text: None)
    end = _events(tmp_path / "m")[-1]
    assert end["type"] == "end" and end["reason"] == "error"
    assert end["error"] == "RuntimeError: boom second line"
    summary = model_summary(tmp_path / "m")
    assert summary["state"] == "failed" and summary["error"] == end["error"]


def test_training_record_off_writes_nothing(demo, tmp_path, registry):
    from fs_core.training.run import run_train
    from fs_core.training.session import TrainRequest

    config = tmp_path / "fs.toml"
    config.write_text("[global]\ntraining_record = false\n" + FAST)
    request = TrainRequest(
        input_a=str(demo / "A"),
        input_b=str(demo / "B"),
        model_dir=str(tmp_path / "m"),
        model_name="tiny",
        batch_size=2,
        iterations=2,
        save_interval=1,
        config_path=str(config),
        no_logs=True,
    )
    run_train(request, registry, notify=lambda text: None)
    assert (tmp_path / "m" / "state.toml").exists() and not (tmp_path / "m" / "record").exists()


# ---------------------------------------------------------------- a real trainer process


@pytest.fixture(scope="module")
def subprocess_env(tmp_path_factory) -> dict:
    """An environment in which the tiny test model is an installed pack."""
    site = tmp_path_factory.mktemp("site")
    info = site / "fs_test_tiny-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fs-test-tiny\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[fs_core]\ntiny = tiny_plugin\n")
    tests = Path(__file__).parent
    return dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(site), str(tests), os.environ.get("PYTHONPATH", "")]),
        PYTHONUNBUFFERED="1",
        TF_CPP_MIN_LOG_LEVEL="2",
        CUDA_VISIBLE_DEVICES="",
    )


def _start_trainer(demo: Path, model: Path, env: dict) -> subprocess.Popen:
    config = model.parent / f"{model.name}.toml"
    config.write_text(FAST)
    command = [
        sys.executable,
        "-m",
        "fs_core",
        "train",
        "-A",
        str(demo / "A"),
        "-B",
        str(demo / "B"),
        "-m",
        str(model),
        "-t",
        "tiny",
        "-b",
        "2",
        "-s",
        "100000",
        "-i",
        "1000000",
        "-C",
        str(config),
        "-n",
    ]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def _wait_for(proc: subprocess.Popen, until, timeout: float = 120.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = until()
        if found:
            return found
        if proc.poll() is not None:
            raise AssertionError(f"trainer exited: {proc.stderr.read()[-2000:]}")
        time.sleep(0.05)
    raise AssertionError("timed out")


def _answer(model: Path, ident: str) -> dict | None:
    return next((r for r in _events(model) if r["type"] == "command" and r["id"] == ident), None)


def test_commands_reach_a_running_trainer(demo, tmp_path, subprocess_env):
    model = tmp_path / "m"
    proc = _start_trainer(demo, model, subprocess_env)
    try:
        _wait_for(proc, lambda: any(r["type"] == "progress" for r in _events(model)))
        assert model_summary(model)["state"] == "training"
        ident = send_command(model, "save")
        assert _wait_for(proc, lambda: _answer(model, ident))["status"] == "done"
        assert (model / "state.toml").exists()
        saved = [r for r in _events(model) if r["type"] == "save"]
        assert saved and saved[-1]["preview"] is not None

        ident = send_command(model, "snapshot")
        answer = _wait_for(proc, lambda: _answer(model, ident))
        assert answer["status"] == "done", answer
        snapshot = [r for r in _events(model) if r["type"] == "save"][-1]["snapshot"]
        assert snapshot and (tmp_path / snapshot / "weights.h5").is_file()

        ident = send_command(model, "preview")
        assert _wait_for(proc, lambda: _answer(model, ident))["status"] == "done"
        shown = [r for r in _events(model) if r["type"] == "preview"][-1]
        assert (model / shown["preview"]["mask"]).is_file()
        assert (model / shown["preview"]["plain"]).is_file()

        bad = model / "record" / "commands" / "0-bad.json"
        bad.write_text('{"v": 1, "command": "rm -rf /"}')
        refused = _wait_for(proc, lambda: _answer(model, "0-bad"))
        assert refused["status"] == "failed" and "unknown command" in refused["detail"]
        assert not bad.exists()
        (model / "record" / "commands" / "1-junk.json").write_bytes(b"\x80not json")
        assert _wait_for(proc, lambda: _answer(model, "1-junk"))["status"] == "failed"

        ident = send_command(model, "stop")
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    records = _events(model)
    assert _answer(model, ident)["status"] == "done"
    end = records[-1]
    assert end["type"] == "end" and end["reason"] == "stopped"
    from fs_core.folder.state import load_state

    assert load_state(model).iterations == end["iteration"]
    assert model_summary(model)["state"] == "stopped"
    assert not [p for p in (model / "record" / "commands").iterdir()]


def test_a_killed_trainer_reads_as_failed(demo, tmp_path, subprocess_env):
    model = tmp_path / "m"
    proc = _start_trainer(demo, model, subprocess_env)
    try:
        _wait_for(proc, lambda: any(r["type"] == "progress" for r in _events(model)))
        assert model_summary(model)["state"] == "training"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    summary = model_summary(model)
    assert summary["state"] == "failed" and summary["error"]
    assert _events(model)[-1]["type"] != "end"


def test_previews_take_at_most_their_share_of_the_training_time():
    """A save draws a preview unless the last one's drawing time would exceed 1% of the time
    since: a 2 s preview waits for 198 s of training, a 0.1 s one for 9.9 s."""
    from fs_core.builtins.record_trainer import preview_due

    assert preview_due(None, 0.0, 5.0)
    assert not preview_due(100.0, 2.0, 100.0 + 197.0)
    assert preview_due(100.0, 2.0, 100.0 + 198.0)
    assert preview_due(100.0, 0.1, 100.0 + 9.9)
    assert preview_due(100.0, 2.0, 101.0, share=1.0)
