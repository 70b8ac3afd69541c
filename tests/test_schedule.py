"""Training schedules (``fs train --schedule``): the file's checks, and stages applied at the
right iterations across a stop and resume."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from fs_core.errors import FsUserError
from fs_core.model.weights import read_weights
from fs_core.training import schedule as schedule_module
from fs_core.training.run import run_train
from fs_core.training.schedule import frozen_parts, load_schedule
from fs_core.training.session import TrainRequest

FAST = (
    "[global.loss]\nloss_function = 'mae'\nloss_function_2 = 'none'\n"
    "penalized_mask_loss = false\n[global.mask]\nmask_type = 'none'\n"
)

RECIPE = """
[[stage]]
at = 0
[stage.set]
"global.learning_rate" = 4e-05

[[stage]]
at = 4
snapshot = true
[stage.set]
"augmentation.no_warp" = true
batch_size = 4

[[stage]]
at = 8
snapshot = true
reset = ["decoder_b"]
freeze = ["encoder"]
[stage.set]
"global.learning_rate" = 1e-05
"""


@pytest.fixture()
def config(tmp_path):
    path = tmp_path / "fs.toml"
    path.write_text(FAST)
    return path


def _write(tmp_path, text: str):
    path = tmp_path / "recipe.toml"
    path.write_text(text)
    return path


def _request(faces, model_dir, config, schedule_file, **changes) -> TrainRequest:
    values = dict(
        input_a=str(faces[0]),
        input_b=str(faces[1]),
        model_dir=str(model_dir),
        model_name="tiny",
        batch_size=2,
        iterations=6,
        save_interval=100,
        config_path=str(config),
        seed=3,
        schedule=load_schedule(schedule_file) if schedule_file else None,
    )
    values.update(changes)
    return TrainRequest(**values)


def test_stages_accumulate_settings_and_freezing():
    stages = (
        schedule_module.Stage(number=1, at=0, freeze=("encoder",), settings={"a.x": 1}),
        schedule_module.Stage(number=2, at=10, settings={"a.y": 2}),
        schedule_module.Stage(number=3, at=20, unfreeze=("encoder",), settings={"a.x": 3}),
    )
    plan = schedule_module.Schedule(path="r.toml", stages=stages)
    assert plan.settings_at(15) == {"a.x": 1, "a.y": 2}
    assert plan.settings_at(20) == {"a.x": 3, "a.y": 2}
    assert frozen_parts((), plan.freezing_at(5)) == ("encoder",)
    assert frozen_parts(("encoder",), plan.freezing_at(25)) == ()
    assert plan.in_force(19).number == 2 and plan.next_after(19).number == 3
    assert [s.number for s in plan.beginning(20, recorded_at=0)] == [2, 3]
    assert plan.beginning(20, recorded_at=20) == ()


def test_three_stages_apply_at_their_iterations_across_a_stop_and_resume(
    registry, faces, tmp_path, config, monkeypatch
):
    recipe = _write(tmp_path, RECIPE)
    model = tmp_path / "m"
    resets = []
    real_reset = schedule_module.reset_parts

    def spy(built, fresh, names):
        resets.append(tuple(names))
        real_reset(built, fresh, names)

    monkeypatch.setattr(schedule_module, "reset_parts", spy)
    messages: list[str] = []
    # stops mid-recipe at 6, in stage 2
    assert run_train(_request(faces, model, config, recipe), registry, messages.append) == "done"
    state = tomllib.loads((model / "state.toml").read_text())
    assert state["iterations"] == 6
    assert state["schedule"]["stage"] == 2 and state["schedule"]["at"] == 4
    assert any("upcoming stage 2 at 4" in m for m in messages)
    snapshot_4 = tmp_path / "m_snapshot_4_iters"
    assert tomllib.loads((snapshot_4 / "state.toml").read_text())["iterations"] == 4
    # resume: 2 more in stage 2, then stage 3 from 8 to 12
    assert run_train(_request(faces, model, config, recipe), registry, messages.append) == "done"
    state = tomllib.loads((model / "state.toml").read_text())
    assert state["iterations"] == 12 and state["schedule"]["stage"] == 3
    legs = [
        (
            s["stage"],
            s["iterations"],
            s["batch_size"],
            s["config"]["global"]["learning_rate"],
            s["config"]["augmentation"]["no_warp"],
        )
        for s in state["sessions"]
    ]
    assert legs == [
        (1, 4, 2, 4e-05, False),
        (2, 2, 4, 4e-05, True),
        (2, 2, 4, 4e-05, True),
        (3, 4, 4, 1e-05, True),
    ]
    assert resets == [("decoder_b",)]
    at_8, _ = read_weights(tmp_path / "m_snapshot_8_iters" / "weights.h5")
    final, _ = read_weights(model / "weights.h5")
    encoder = [key for key in final if key.startswith("encoder/")]
    assert encoder and all(np.array_equal(final[k], at_8[k]) for k in encoder)  # frozen
    decoder_b = [key for key in final if key.startswith("decoder_b/")]
    assert any(not np.array_equal(final[k], at_8[k]) for k in decoder_b)


def test_a_stage_that_came_due_while_stopped_begins_on_resume(registry, faces, tmp_path, config):
    model = tmp_path / "m"
    assert run_train(_request(faces, model, config, None, iterations=5), registry, print) == "done"
    recipe = _write(tmp_path, "[[stage]]\nat = 3\nsnapshot = true\n[stage.set]\nbatch_size = 3\n")
    request = _request(faces, model, config, recipe, iterations=1)
    assert run_train(request, registry, lambda s: None) == "done"
    state = tomllib.loads((model / "state.toml").read_text())
    assert state["schedule"] == {"file": str(recipe), "stage": 1, "at": 3}
    assert state["sessions"][-1]["batch_size"] == 3
    assert (tmp_path / "m_snapshot_5_iters" / "state.toml").is_file()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[stage]]\nat = 0\nwhen = 3\n", r"stage 1: unknown key 'when'"),
        ("[[stage]]\nat = 5\n[[stage]]\nat = 5\n", r"stage 2 \(at 5\): stages must be in order"),
        ("[[stage]]\nat = -1\n", r"stage 1: 'at' must be"),
        (
            '[[stage]]\nat = 9\n[stage.set]\n"global.lerning_rate" = 1e-5\n',
            r"stage 1 \(at 9\): 'global.lerning_rate': \[global\] has no option",
        ),
        (
            '[[stage]]\nat = 0\n[stage.set]\n"global.optimizer" = "lion"\n',
            r"'global.optimizer' is locked",
        ),
        (
            '[[stage]]\nat = 0\n[[stage]]\nat = 4\n[stage.set]\n"global.learning_rate" = 5.0\n',
            r"stage 2 \(at 4\): 'global.learning_rate': must be at most",
        ),
        ('[[stage]]\nat = 0\n[stage.set]\n"model.tiny.filters" = 16\n', r"locked"),
        ("[[stage]]\nat = 0\n[stage.set]\nbatch_size = 0\n", r"batch_size must be"),
        ('[[stage]]\nat = 0\n[stage.set]\nfaces_a = "nowhere"\n', r"no folder 'nowhere'"),
        ('[[stage]]\nat = 0\n[stage.set]\n"warp.no_warp" = true\n', r"unknown option"),
        ('[[stage]]\nat = 2\nreset = ["decoder_c"]\n', r"stage 1 \(at 2\).*no part 'decoder_c'"),
    ],
)
def test_a_bad_schedule_is_refused_before_anything_is_made(
    registry, faces, tmp_path, config, text, message
):
    recipe = _write(tmp_path, text)
    model = tmp_path / "m"
    with pytest.raises(FsUserError, match=message) as raised:
        run_train(_request(faces, model, config, recipe), registry, lambda s: None)
    assert raised.value.path == str(recipe)
    assert not model.exists()


def test_the_example_recipe_is_valid_for_the_shipped_models(registry):
    from pathlib import Path

    from fs_core.config import Config
    from fs_core.training.schedule import check_options

    recipe = load_schedule(Path(__file__).parents[1] / "examples" / "recipe.toml")
    assert [stage.at for stage in recipe.stages] == [0, 100, 160]
    check_options(recipe, registry, "lightweight", Config())
    assert recipe.settings_at(200)["augmentation.no_warp"] is True


def test_the_cli_refuses_a_bad_schedule_with_one_line(faces, tmp_path, capsys):
    from fs_core.cli.main import main

    recipe = _write(tmp_path, "[[stage]]\nat = 10\n[[stage]]\nat = 5\n")
    model = tmp_path / "m"
    args = ["train", "-A", str(faces[0]), "-B", str(faces[1]), "-m", str(model)]
    assert main([*args, "--schedule", str(recipe)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(recipe) in err[0] and "stage 2 (at 5)" in err[0]
    assert not model.exists()
