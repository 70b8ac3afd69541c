"""Settings changed while a model trains (``fs set``, the loop's ``settings`` request): parsing,
checking and classifying a change; in place or in a new session; stored for the next start."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_record import (
    _events,
    _start_trainer,
    _wait_for,
    subprocess_env,  # noqa: F401 (a fixture, used by name)
)
from train_request import FAST, tiny_request

from fs_core import hookimpl
from fs_core.config import Config
from fs_core.errors import FsUserError


def _check(registry, changes, config=None):
    import tiny_plugin

    from fs_core.training.live import check_changes

    return check_changes(
        changes,
        registry=registry,
        model_name="tiny",
        config=config or Config(),
        config_class=tiny_plugin.TinyConfig,
    )


# ---------------------------------------------------------------- parsing and checking


def test_values_parse_as_toml_and_bare_words_as_strings():
    from fs_core.training.live import parse_assignments

    assert parse_assignments(
        ["global.learning_rate=2e-5", "global.loss.loss_function=ssim", 'a="ssim"', "b = true"]
    ) == {"global.learning_rate": 2e-5, "global.loss.loss_function": "ssim", "a": "ssim", "b": True}
    with pytest.raises(FsUserError, match="KEY=VALUE"):
        parse_assignments(["global.learning_rate"])
    with pytest.raises(FsUserError, match="not a valid TOML value"):
        parse_assignments(['a="open'])


def test_a_change_is_checked_as_a_stage_and_refused_whole(registry):
    config = Config()
    assert _check(registry, {"global.loss.loss_weight_2": 50, "batch_size": 4}, config) == {
        "global.loss.loss_weight_2": 50.0,
        "batch_size": 4,
    }
    refusals = {
        "global.coverage": "locked",
        "model.tiny.filters": "locked",
        "global.nope": "has no option 'nope'",
        "global.backend": "chosen once",
        "save_interval": "1 or more",
        "batch_size": "1 to 256",
    }
    bad = {"global.coverage": 80.0, "model.tiny.filters": 16, "global.nope": 1}
    bad.update({"global.backend": "torch", "save_interval": 0, "batch_size": 999})
    for key, reason in refusals.items():
        with pytest.raises(FsUserError, match=reason) as caught:
            _check(registry, {"global.learning_rate": 2e-5, key: bad[key]}, config)
        assert key.rpartition(".")[2] in caught.value.message
    with pytest.raises(FsUserError, match=r"global\.learning_rate"):
        _check(registry, {"global.learning_rate": 0.5}, config)
    assert config.global_.learning_rate == 5e-5  # nothing applied


def test_what_applies_now_and_what_needs_a_new_session():
    from fs_core.training.live import applies_now

    assert all(
        applies_now(k) for k in ("global.learning_rate", "save_interval", "global.nan_recovery")
    )
    assert not any(
        applies_now(k)
        for k in ("global.loss.loss_weight_2", "batch_size", "faces_a", "augmentation.zoom_amount")
    )


def test_the_channel_carries_a_set_request_and_refuses_a_bad_one(tmp_path):
    from fs_core.record.commands import CommandInbox, parse_request, send_command

    send_command(tmp_path, "set", changes={"global.learning_rate": 2e-5}, reset=["batch_size"])
    (request,) = CommandInbox(tmp_path).take()
    assert request.command == "set"
    assert (dict(request.changes), request.reset) == (
        {"global.learning_rate": 2e-5},
        ("batch_size",),
    )
    body = {"v": 1, "command": "set", "changes": {"k": {"nested": 1}}, "reset": []}
    refused = parse_request("x.json", json.dumps(body).encode())
    assert refused.command is None and "must be a string, number" in refused.detail
    with pytest.raises(FsUserError, match="larger than"):
        send_command(tmp_path, "set", changes={f"k{i}": "x" * 100 for i in range(60)})


# ---------------------------------------------------------------- in the loop


class Changer:
    """A pack that asks the loop for live changes at given iterations and keeps the answers."""

    def __init__(self, changes: dict[int, dict]) -> None:
        self.changes, self.answers, self.rates = changes, [], []

    @hookimpl
    def fs_iteration_end(self, session, iteration):
        self.rates.append(float(session.optimizer.learning_rate.numpy()))
        if iteration in self.changes:
            session.running.ask("settings", asker=self, changes=self.changes.pop(iteration))

    @hookimpl
    def fs_request_done(self, request):
        if request.asker is self:
            self.answers.append(request)


def test_a_running_session_changes_in_place_then_goes_on_in_a_new_session(faces, tmp_path):
    import tiny_plugin

    from fs_core.folder.live_settings import read_live_settings
    from fs_core.folder.state import load_state
    from fs_core.plugin_manager import load_registry
    from fs_core.training.run import run_train

    changer = Changer(
        {
            2: {"global.learning_rate": 2e-5, "save_interval": 50},
            4: {"global.loss.loss_weight_2": 50},
        }
    )
    registry = load_registry(extra_plugins={"tiny_plugin": tiny_plugin, "changer": changer})
    config = tmp_path / "fs.toml"
    config.write_text(FAST.replace("loss_function_2 = 'none'", "loss_function_2 = 'mse'"))
    model = tmp_path / "m"
    request = tiny_request(faces, model, config, iterations=6)
    assert run_train(request, registry, notify=lambda text: None) == "done"

    in_place, rebuilt = changer.answers
    assert (in_place.outcome, in_place.rebuild, in_place.iteration) == ("done", False, 2)
    assert changer.rates[2] == pytest.approx(2e-5)  # the optimizer's rate from iteration 3 on
    assert (rebuilt.outcome, rebuilt.rebuild, rebuilt.iteration) == ("done", True, 4)
    state = load_state(model)
    assert state.iterations == 6  # no iteration lost to the new session
    first, second = state.sessions
    assert [(c["iteration"], c["key"], c["new"]) for c in first["live_changes"]] == [
        (2, "global.learning_rate", 2e-5),
        (2, "save_interval", 50),
        (4, "global.loss.loss_weight_2", 50.0),
    ]
    assert first["iterations"] == 4 and second["iterations"] == 2
    assert second["config"]["global.loss"]["loss_weight_2"] == 50.0
    assert second["config"]["global"]["learning_rate"] == pytest.approx(2e-5)
    stored = read_live_settings(model)
    assert stored.values == {
        "global.learning_rate": 2e-5,
        "save_interval": 50,
        "global.loss.loss_weight_2": 50.0,
    }
    assert stored.replaced["global.learning_rate"] == pytest.approx(5e-5)


def test_a_bad_change_in_the_loop_is_refused_and_nothing_applies(faces, tmp_path):
    import tiny_plugin

    from fs_core.folder.layout import live_settings_file
    from fs_core.plugin_manager import load_registry
    from fs_core.training.run import run_train

    changer = Changer({1: {"global.learning_rate": 2e-5, "global.loss.loss_weight_2": 999}})
    registry = load_registry(extra_plugins={"tiny_plugin": tiny_plugin, "changer": changer})
    config = tmp_path / "fs.toml"
    config.write_text(FAST)
    model = tmp_path / "m"
    assert run_train(tiny_request(faces, model, config), registry, notify=lambda t: None) == "done"
    (answer,) = changer.answers
    assert answer.outcome == "failed" and "loss_weight_2" in str(answer.error)
    assert changer.rates[-1] == pytest.approx(5e-5)
    assert not live_settings_file(model).exists()


# ---------------------------------------------------------------- fs set on a stopped model


def test_fs_set_stores_lists_resets_and_the_next_start_applies(faces, tmp_path, registry, capsys):
    from fs_core.folder.state import load_state
    from fs_core.training import set_settings
    from fs_core.training.run import run_train

    config = tmp_path / "fs.toml"
    config.write_text(FAST)
    model = tmp_path / "m"
    run_train(tiny_request(faces, model, config, iterations=1), registry, notify=lambda t: None)

    outcome = set_settings.change(model, {"global.learning_rate": 2e-5, "batch_size": 3}, registry)
    assert not outcome.sent and "stored for the next start" in outcome.text
    rows = {row["key"]: row for row in set_settings.listing(model)}
    assert rows["global.learning_rate"]["value"] == 2e-5
    assert rows["global.learning_rate"]["replaces"] == pytest.approx(5e-5)
    assert rows["batch_size"]["replaces"] == 2
    with pytest.raises(FsUserError, match="locked"):
        set_settings.change(model, {"global.coverage": 80.0}, registry)
    set_settings.change(model, {}, registry, reset=["batch_size"])
    assert [row["key"] for row in set_settings.listing(model)] == ["global.learning_rate"]

    said: list[str] = []
    run_train(tiny_request(faces, model, config, iterations=1), registry, notify=said.append)
    assert any("global.learning_rate = 2e-05" in line and "--reset" in line for line in said)
    last = load_state(model).sessions[-1]
    assert last["config"]["global"]["learning_rate"] == pytest.approx(2e-5)
    assert last["batch_size"] == 2

    from fs_core.cli.set_cmd import run as set_run

    class Args:
        model_dir, settings, reset, list, no_wait, timeout = str(model), [], ["all"], False, 0, 60

    assert set_run(Args()) == 0
    assert set_settings.listing(model) == []
    assert "forgot all" in capsys.readouterr().out


def test_a_damaged_settings_file_stops_fs_train_before_training(faces, tmp_path, registry):
    from fs_core.folder.layout import live_settings_file
    from fs_core.training.run import run_train

    config = tmp_path / "fs.toml"
    config.write_text(FAST)
    model = tmp_path / "m"
    model.mkdir()
    live_settings_file(model).write_text('[settings]\n"global.learning_rate" = 9.0\n')
    with pytest.raises(FsUserError, match=r"learning_rate.*--reset all"):
        run_train(tiny_request(faces, model, config), registry, notify=lambda t: None)
    assert not (model / "state.toml").exists()


def test_markers_come_from_settings_records(tmp_path):
    from fs_core.record import loss_series

    record = tmp_path / "record"
    record.mkdir()
    lines = [
        {"v": 1, "type": "session_start", "time": 1, "session": 1, "iteration": 0},
        {
            "v": 1,
            "type": "progress",
            "time": 2,
            "session": 1,
            "iteration": 5,
            "loss_a": 1,
            "loss_b": 1,
            "count": 5,
        },
        {
            "v": 1,
            "type": "settings",
            "time": 3,
            "session": 1,
            "iteration": 5,
            "applies": "now",
            "changes": [{"key": "global.learning_rate", "old": 5e-5, "new": 2e-5}],
        },
    ]
    compact = (json.dumps(r, separators=(",", ":")) + "\n" for r in lines)  # as the trainer writes
    (record / "events.jsonl").write_text("".join(compact))
    assert loss_series(Path(tmp_path))["markers"] == [
        {"iteration": 5, "label": "lr 5e-05 -> 2e-05"}
    ]


# ---------------------------------------------------------------- a real trainer process


def test_a_running_trainer_takes_changes_through_the_channel(
    demo,
    tmp_path,
    subprocess_env,  # noqa: F811 (the fixture)
):
    import tiny_plugin

    from fs_core.folder.state import load_state
    from fs_core.plugin_manager import load_registry
    from fs_core.record import is_training, send_command
    from fs_core.training import set_settings

    registry = load_registry(extra_plugins={"tiny_plugin": tiny_plugin})
    model = tmp_path / "m"
    proc = _start_trainer(demo, model, subprocess_env)
    try:
        _wait_for(proc, lambda: any(r["type"] == "progress" for r in _events(model)))
        assert is_training(model)
        now = set_settings.change(model, {"global.learning_rate": 2e-5}, registry)
        assert now.answered and not now.failed, now.text
        assert now.text.startswith("global.learning_rate 5e-05 -> 2e-05 at iteration")
        assert now.text.endswith("applied now")
        with pytest.raises(FsUserError, match="loss_weight_2"):  # refused before it is sent
            set_settings.change(model, {"global.loss.loss_weight_2": 999}, registry)
        ident = send_command(model, "set", changes={"global.loss.loss_weight_2": 999})
        refused = set_settings.wait_for_answer(model, ident, 0, 60)
        assert refused["status"] == "failed" and "loss_weight_2" in refused["detail"]

        later = set_settings.change(model, {"global.loss.loss_weight_2": 50}, registry)
        assert "after a rebuild" in later.text, later.text
        _wait_for(
            proc,
            lambda: (
                len([r for r in _events(model) if r["type"] == "progress" and r["session"] == 2])
                > 0
            ),
        )
        assert is_training(model)
        send_command(model, "stop")
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    records = _events(model)
    changes = [r for r in records if r["type"] == "settings"]
    assert [(r["applies"], r["changes"][0]["key"]) for r in changes] == [
        ("now", "global.learning_rate"),
        ("rebuild", "global.loss.loss_weight_2"),
    ]
    ends = [r["reason"] for r in records if r["type"] == "end"]
    assert ends == ["settings", "stopped"]
    state = load_state(model)
    first, second = state.sessions
    assert [c["key"] for c in first["live_changes"]] == [
        "global.learning_rate",
        "global.loss.loss_weight_2",
    ]
    assert second["config"]["global"]["learning_rate"] == pytest.approx(2e-5)
    assert second["config"]["global.loss"]["loss_weight_2"] == 50.0
    assert state.iterations == first["iterations"] + second["iterations"]
