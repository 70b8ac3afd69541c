"""Pretraining: a base model trained on one face set for both sides, then a new model fine-tuned
from it (``--pretrain``, ``--from-pretrained``)."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
from train_request import FAST, tiny_request

from fs_core.cli.main import main
from fs_core.errors import FsUserError
from fs_core.model.weights import read_weights
from fs_core.training.run import run_train
from fs_core.training.session import TrainRequest


def _request(config, model_dir, input_a, input_b, **changes) -> TrainRequest:
    return tiny_request((input_a, input_b), model_dir, config, **{"seed": 5, **changes})


def test_pretrain_then_fine_tune_starts_from_the_base(registry, faces, tmp_path):
    config = tmp_path / "fs.toml"
    config.write_text(FAST)
    base, tuned = tmp_path / "base", tmp_path / "tuned"
    generic = faces[0]
    pretrain = _request(config, base, generic, generic, pretrain=True, iterations=4)
    assert run_train(pretrain, registry, lambda s: None) == "done"
    base_state = tomllib.loads((base / "state.toml").read_text())
    assert base_state["iterations"] == 4 and base_state["sessions"][0]["pretrain"] is True
    messages: list[str] = []
    fine_tune = _request(
        config, tuned, faces[0], faces[1], from_pretrained=str(base), freeze=True, iterations=2
    )
    assert run_train(fine_tune, registry, messages.append) == "done"
    state = tomllib.loads((tuned / "state.toml").read_text())
    assert state["iterations"] == 2  # the count starts again
    assert state["pretrained"]["from"] == str(base.resolve())
    assert state["pretrained"]["iterations"] == 4
    assert state["pretrained"]["copied"] == ["decoder_a", "decoder_b", "encoder"]
    assert any("Started from the pretrained model" in m for m in messages)
    before, _ = read_weights(base / "weights.h5")
    after, _ = read_weights(tuned / "weights.h5")
    encoder = [k for k in before if k.startswith("encoder/")]
    assert encoder and all(np.array_equal(before[k], after[k]) for k in encoder)  # copied, frozen
    decoder = [k for k in before if k.startswith("decoder_a/")]
    assert any(not np.array_equal(before[k], after[k]) for k in decoder)  # copied, then trained


def test_a_schedule_fine_tunes_from_a_pretrained_model_across_its_stages(registry, faces, tmp_path):
    from fs_core.training.schedule import load_schedule

    config = tmp_path / "fs.toml"
    config.write_text(FAST)
    base = tmp_path / "base"
    generic = faces[0]
    assert run_train(_request(config, base, generic, generic, pretrain=True), registry, print)
    recipe = tmp_path / "recipe.toml"
    recipe.write_text("[[stage]]\nat = 0\n[[stage]]\nat = 2\n[stage.set]\nbatch_size = 3\n")
    request = _request(
        config,
        tmp_path / "tuned",
        *faces,
        from_pretrained=str(base),
        warmup=2,
        iterations=4,
        schedule=load_schedule(recipe),
    )
    assert run_train(request, registry, lambda s: None) == "done"
    state = tomllib.loads((tmp_path / "tuned" / "state.toml").read_text())
    assert [s["batch_size"] for s in state["sessions"]] == [2, 3]
    assert state["iterations"] == 4 and state["pretrained"]["iterations"] == 3


def test_from_pretrained_refuses_an_existing_model_and_a_folder_without_one(
    registry, faces, tmp_path
):
    config = tmp_path / "fs.toml"
    config.write_text(FAST)
    model = tmp_path / "m"
    assert run_train(_request(config, model, *faces), registry, lambda s: None) == "done"
    again = _request(config, model, *faces, from_pretrained=str(model))
    with pytest.raises(FsUserError, match="only starts a new model"):
        run_train(again, registry, lambda s: None)
    empty = tmp_path / "empty"
    empty.mkdir()
    new = _request(config, tmp_path / "n", *faces, from_pretrained=str(empty))
    with pytest.raises(FsUserError, match="not a model folder"):
        run_train(new, registry, lambda s: None)
    assert not (tmp_path / "n").exists()


def test_pretrain_refuses_b(tmp_path, capsys):
    code = main(["train", "--pretrain", "-A", "x", "-B", "y", "-m", str(tmp_path / "m")])
    assert code == 1
    assert "leave out -B" in capsys.readouterr().err
