"""The collapse guard: a sustained loss jump, or reconstructions losing their variance, rolls back
to the last backup, lowers the learning rate and training goes on."""

from __future__ import annotations

import collections
import json
import tomllib

import pytest
from train_request import FAST, tiny_request

from fs_core.training.collapse import jumped
from fs_core.training.run import run_train
from fs_core.training.session import TrainRequest


def _request(faces, model_dir, config, **changes) -> TrainRequest:
    return tiny_request(faces, model_dir, config, **{"seed": 11, **changes})


def test_a_jump_counts_only_when_sustained():
    window = 5
    steady = collections.deque([1.0, 1.1, 0.9] * 5, maxlen=25)
    assert jumped(steady, window, 3.0) is None
    steady.extend([10.0, 0.9, 10.0, 1.0, 1.0])  # two spikes: the median stays low
    assert jumped(steady, window, 3.0) is None
    steady.extend([10.0] * window)
    assert jumped(steady, window, 3.0) == (1.0, 10.0)
    assert jumped(collections.deque([5.0] * 9), window, 3.0) is None  # too few to tell


def test_an_injected_loss_jump_rolls_back_once_and_training_goes_on(
    registry, faces, tmp_path, monkeypatch
):
    import fs_core.training.run as run_module

    config = tmp_path / "fs.toml"
    config.write_text(FAST)
    model = tmp_path / "m"
    assert run_train(_request(faces, model, config), registry, lambda s: None) == "done"
    config.write_text(
        "[global]\ncollapse_window = 5\ncollapse_factor = 3.0\nnan_lr_factor = 0.5\n" + FAST
    )
    real = run_module.make_train_step
    calls = []

    def jumping(*args, **kwargs):
        step = real(*args, **kwargs)

        def wrapped(batch):
            result = dict(step(batch))
            calls.append(1)
            if 12 < len(calls) <= 17:  # five steps of a loss 20 times higher
                result = {k: v * 20 for k, v in result.items()}
            return result

        return wrapped

    monkeypatch.setattr(run_module, "make_train_step", jumping)
    messages: list[str] = []
    request = _request(faces, model, config, iterations=20)
    assert run_train(request, registry, messages.append) == "done"
    state = tomllib.loads((model / "state.toml").read_text())
    rollbacks = state["sessions"][-1]["collapse_rollbacks"]
    assert len(rollbacks) == 1
    assert rollbacks[0]["cause"] == "loss jump" and rollbacks[0]["restored_to"] == 3
    # the median of the last five is high from the third high step on
    assert rollbacks[0]["iteration"] == 3 + 15
    assert rollbacks[0]["learning_rate"] == pytest.approx(2.5e-5)
    # 20 steps: 15 up to the rollback (back to 3), then 5 more
    assert state["iterations"] == 8
    assert any("Collapse guard: loss" in m and "rolled back to 3" in m for m in messages)
    events = [json.loads(line) for line in (model / "record" / "events.jsonl").open()]
    assert [e["cause"] for e in events if e["type"] == "collapse"] == ["loss jump"]


def test_reconstructions_losing_their_variance_roll_back(registry, faces, tmp_path, monkeypatch):
    from fs_core.training import holdout

    config = tmp_path / "fs.toml"
    config.write_text(FAST)
    model = tmp_path / "m"
    spreads = iter([0.8, 0.8, 0.8, 0.8, 0.02, 0.02] + [0.8] * 20)  # (A, B) per save
    monkeypatch.setattr(holdout, "reconstruction_error", lambda *a: (0.1, next(spreads)))
    request = _request(faces, model, config, iterations=8, save_interval=2)
    messages: list[str] = []
    assert run_train(request, registry, messages.append) == "done"
    state = tomllib.loads((model / "state.toml").read_text())
    rollbacks = state["sessions"][-1]["collapse_rollbacks"]
    assert [r["cause"] for r in rollbacks] == ["variance lost"]
    assert rollbacks[0]["iteration"] == 6 and rollbacks[0]["restored_to"] in (2, 4)
    assert any("solid colour" in m for m in messages)


def test_the_guard_can_be_switched_off(registry, faces, tmp_path, monkeypatch):
    from fs_core.training import holdout

    config = tmp_path / "fs.toml"
    config.write_text("[global]\ncollapse_protection = false\n" + FAST)
    called = []
    monkeypatch.setattr(holdout, "reconstruction_error", lambda *a: called.append(1))
    request = _request(faces, tmp_path / "m", config, iterations=4, save_interval=2)
    assert run_train(request, registry, lambda s: None) == "done"
    assert not called
