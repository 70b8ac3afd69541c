"""The held-out set (``--holdout``): never in a training batch, recorded for resumes, measured at
each save; the plateau stop."""

from __future__ import annotations

import json
import tomllib

import numpy as np
import pytest
from train_request import FAST, tiny_request

from fs_core.data.loader import BatchLoader
from fs_core.training.holdout import choose, hash_order, plateau
from fs_core.training.run import run_train
from fs_core.training.session import TrainRequest


def _request(faces, model_dir, config, **changes) -> TrainRequest:
    return tiny_request(
        faces, model_dir, config, **{"iterations": 6, "save_interval": 3, "seed": 7, **changes}
    )


def _drawn_paths(monkeypatch) -> list[str]:
    """Every face file the loaders draw for a batch, by side."""
    drawn: list[str] = []
    real = BatchLoader._draw

    def spy(self, skipping=False):
        index, chosen, others = real(self, skipping)
        for side, indices in chosen.items():
            drawn.extend(self.caches[side].paths[int(i)] for i in indices)
        return index, chosen, others

    monkeypatch.setattr(BatchLoader, "_draw", spy)
    return drawn


def test_choice_is_reproducible_and_keeps_the_recorded_faces(tmp_path):
    paths = [tmp_path / f"{i:03d}.png" for i in range(20)]
    assert choose(paths, 3) == choose(list(reversed(paths)), 3) == hash_order(paths)[:3]
    recorded = [paths[5].name, paths[9].name]
    assert choose(paths, 3, recorded)[:2] == [paths[5], paths[9]]
    assert choose(paths[:9], 2, recorded)[0] == paths[5]  # a missing face is replaced


def test_held_out_faces_are_never_trained_and_their_loss_is_reported(
    registry, faces, tmp_path, monkeypatch
):
    config = tmp_path / "fs.toml"
    config.write_text(FAST)
    drawn = _drawn_paths(monkeypatch)
    model = tmp_path / "m"
    messages: list[str] = []
    # 6 faces left per side at batch 2: 6 iterations are two epochs of each side
    request = _request(faces, model, config, holdout=2, write_image=False)
    assert run_train(request, registry, messages.append) == "done"
    state = tomllib.loads((model / "state.toml").read_text())
    held = {"a": set(state["holdout"]["a"]), "b": set(state["holdout"]["b"])}
    assert state["holdout"]["count"] == 2 and all(len(v) == 2 for v in held.values())
    names = {p.rsplit("/", 1)[1] for p in drawn}
    assert not names & (held["a"] | held["b"])
    trained_a = {p.name for p in faces[0].glob("*.png")} - held["a"]
    assert trained_a <= names  # a whole epoch drawn, held-out faces excepted
    session = state["sessions"][-1]
    assert session["holdout"]["iteration"] == 6 and 0 < session["holdout"]["a"] < 1
    events = [json.loads(line) for line in (model / "record" / "events.jsonl").open()]
    saves = [e for e in events if e["type"] == "save"]
    assert [e["iteration"] for e in saves if "holdout" in e] == [3, 6]
    logs = list((model / "logs").rglob("events.out.tfevents*"))
    assert logs and b"holdout_a" in logs[0].read_bytes()
    assert any("Held-out set: 2 faces per side" in m for m in messages)
    # a resume without --holdout holds out the same faces
    drawn.clear()
    assert run_train(_request(faces, model, config, iterations=3), registry, print) == "done"
    again = tomllib.loads((model / "state.toml").read_text())["holdout"]
    assert set(again["a"]) == held["a"] and set(again["b"]) == held["b"]
    assert not {p.rsplit("/", 1)[1] for p in drawn} & (held["a"] | held["b"])


def test_plateau_is_a_fall_of_more_than_the_fraction():
    best, at = None, 0
    for iteration, value in enumerate([1.0, 0.995, 0.999, 0.996], start=1):
        best, at = plateau(best, at, value, iteration * 100, 0.01)
    assert (best, at) == (1.0, 100)  # flat within 1%: no improvement since 100
    best, at = plateau(best, at, 0.98, 500, 0.01)
    assert (best, at) == (0.98, 500)


def _flat_or_falling(monkeypatch, falling: bool) -> None:
    """Held-out losses without a model: flat, or falling 10% per save."""
    from fs_core.training import holdout as module

    values = iter([0.5 * (0.9**i if falling else 1.0) for i in range(100)])
    monkeypatch.setattr(module, "reconstruction_error", lambda *args: (next(values), 1.0))


@pytest.mark.parametrize("falling", [False, True])
def test_plateau_stop_fires_on_a_flat_curve_only(registry, faces, tmp_path, monkeypatch, falling):
    config = tmp_path / "fs.toml"
    config.write_text(
        "[global]\nstop_plateau_iterations = 4\nstop_plateau_fraction = 0.01\n" + FAST
    )
    _flat_or_falling(monkeypatch, falling)
    model = tmp_path / "m"
    request = _request(faces, model, config, holdout=1, save_interval=2, iterations=12)
    result = run_train(request, registry, lambda s: None)
    state = tomllib.loads((model / "state.toml").read_text())
    if falling:
        assert result == "done" and state["iterations"] == 12
    else:
        # best at the first save (2), no real fall by 6: stop requested there, exit save at 7
        assert result == "stopped" and state["iterations"] == 7
        assert state["sessions"][-1]["stopped_by"] == "plateau"


def test_convergence_says_falling_flat_or_rising():
    from fs_core.record.convergence import verdict

    steps = np.arange(0, 10_001, 1000, dtype=np.float64)
    falling = 1.0 - 0.008 * steps / 10_000
    assert verdict(steps, falling, 10_000) == "still falling: 0.8% over the last 10,000 iterations"
    assert verdict(steps, np.full_like(steps, 0.3), 10_000).startswith("flat: within 0.5%")
    assert verdict(steps, 1.0 + steps / 10_000, 10_000).startswith("rising: 100.0%")
    assert "all there is" in verdict(steps[:4], falling[:4], 10_000)
    assert verdict(steps[:2], falling[:2], 10_000) == "not enough measurements yet to tell"


def test_analysis_convergence_reads_the_held_out_curve(registry, faces, tmp_path, capsys):
    from fs_core.cli.main import main

    config = tmp_path / "fs.toml"
    config.write_text(FAST)
    model = tmp_path / "m"
    request = _request(faces, model, config, holdout=1, save_interval=2, iterations=8)
    assert run_train(request, registry, lambda s: None) == "done"
    graph = tmp_path / "g.png"
    args = ["analysis", "-m", str(model), "--convergence", "--window", "100", "--graph", str(graph)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Held-out loss (1 faces per side): best" in out
    assert "Convergence (held-out loss): " in out
    assert "over the last 6 iterations" in out  # saves at 2, 4, 6, 8
    assert graph.stat().st_size > 0


def test_the_gui_summary_shows_the_stage_the_curve_and_the_guard(tmp_path):
    from fs_core.record.convergence import recipe_summary

    assert recipe_summary(tmp_path, None) is None
    assert recipe_summary(tmp_path, {"sessions": [{"id": 1}]}) is None
    record = tmp_path / "record"
    record.mkdir()
    lines = [
        {
            "v": 1,
            "type": "save",
            "time": 0,
            "session": 1,
            "iteration": i,
            "holdout": {"a": v, "b": v},
        }
        for i, v in ((100, 0.3), (200, 0.25), (300, 0.2))
    ]
    (record / "events.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    guard = {"iteration": 250, "cause": "loss jump", "restored_to": 200, "from": "backup"}
    state = {
        "schedule": {"file": "r.toml", "stage": 2, "at": 150},
        "holdout": {"count": 3, "best": 0.4, "best_iteration": 300},
        "sessions": [{"id": 1}, {"id": 2, "collapse_rollbacks": [guard]}],
    }
    summary = recipe_summary(tmp_path, state)
    assert summary["stage"]["stage"] == 2
    assert summary["guard"] == [{**guard, "session": 2}]
    assert summary["holdout"]["points"] == [[100, 0.6], [200, 0.5], [300, 0.4]]
    assert summary["holdout"]["verdict"] == "still falling: 33.3% over the last 200 iterations"
