"""The command line as a user meets it: demo data, train, resume, summary, config (bad input of
every command: tests/test_reliability_bad_input.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import h5py
import pytest

from fs_core.cli.main import main

MODEL = ["-t", "lightweight"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo-data", str(out), "--count", "12", "--size", "128"]) == 0
    return out


@pytest.fixture(scope="module")
def trained(demo, tmp_path_factory) -> Path:
    """A model trained for 3 iterations (saved at 2 and at exit)."""
    model = tmp_path_factory.mktemp("models") / "m"
    assert (
        main(
            [
                "train",
                "-A",
                str(demo / "A"),
                "-B",
                str(demo / "B"),
                "-m",
                str(model),
                *MODEL,
                "-b",
                "2",
                "-i",
                "3",
                "-s",
                "2",
                "--seed",
                "1",
            ]
        )
        == 0
    )
    return model


def _state(model: Path) -> dict:
    return tomllib.loads((model / "state.toml").read_text())


def test_demo_data_has_two_face_sets_with_landmarks(demo):
    from fs_core import read_face

    faces = sorted((demo / "A").glob("*.png"))
    assert len(faces) == 12 and len(list((demo / "B").glob("*.png"))) == 12
    image, landmarks, masks, _metadata = read_face(faces[0])
    assert image.shape == (128, 128, 3) and landmarks.shape == (68, 2) and masks


def test_train_writes_state_and_weights(trained):
    state = _state(trained)
    assert state["iterations"] == 3 and len(state["sessions"]) == 1
    assert state["model"]["name"] == "lightweight"
    assert state["model"]["distribution"] == "fs-plugins-models"
    assert state["config"]["global"]["centering"] == "face"
    with h5py.File(trained / "weights.h5") as handle:
        assert {"encoder", "decoder_a", "decoder_b"} <= set(handle)
        assert handle.attrs["iterations"] == 3


def test_resume_continues_the_count_and_adds_a_session(demo, trained, tmp_path):
    model = tmp_path / "m"
    shutil.copytree(trained, model)
    assert (
        main(
            [
                "train",
                "-A",
                str(demo / "A"),
                "-B",
                str(demo / "B"),
                "-m",
                str(model),
                *MODEL,
                "-b",
                "2",
                "-i",
                "2",
            ]
        )
        == 0
    )
    state = _state(model)
    assert state["iterations"] == 5 and [s["iterations"] for s in state["sessions"]] == [3, 2]


def test_summary_prints_parts_and_parameter_counts(capsys):
    assert main(["summary", *MODEL]) == 0
    out = capsys.readouterr().out
    assert "== encoder ==" in out and "== decoder_b ==" in out
    assert "Total parameters:" in out


def test_config_write_then_train_with_it(tmp_path, demo, capsys):
    path = tmp_path / "fs.toml"
    assert main(["config", "--write", str(path)]) == 0
    text = path.read_text()
    assert "[model.lightweight]" in text or "[model.original]" in text
    text = text.replace('loss_function_2 = "mse"', 'loss_function_2 = "mae"')
    path.write_text(text)
    model = tmp_path / "m"
    assert (
        main(
            [
                "train",
                "-A",
                str(demo / "A"),
                "-B",
                str(demo / "B"),
                "-m",
                str(model),
                *MODEL,
                "-b",
                "2",
                "-i",
                "1",
                "-C",
                str(path),
            ]
        )
        == 0
    )
    assert _state(model)["config"]["global.loss"]["loss_function_2"] == "mae"


def test_plugins_lists_kinds_names_and_distributions(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for word in (
        "original",
        "lightweight",
        "mae",
        "mse",
        "ssim",
        "fs-plugins-models",
        "fs-plugins-losses",
        "he_uniform",
    ):
        assert word in out


def test_the_console_script_runs_as_a_module():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fs_core",
            "train",
            "-A",
            "/nonexistent/x",
            "-B",
            "/nonexistent/y",
            "-m",
            "/tmp/unused_model",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "/nonexistent/x" in result.stderr and "Traceback" not in result.stderr


def test_config_preset_writes_the_presets_values(tmp_path, capsys):
    assert main(["config", "--list-presets"]) == 0
    presets = capsys.readouterr().out.split()
    assert "phaze_a_dny256" in presets and len(presets) >= 17
    path = tmp_path / "dny.toml"
    assert main(["config", "--preset", "phaze_a_dny256", "--write", str(path)]) == 0
    assert tomllib.loads(path.read_text())["model"]["phaze_a"]["output_size"] == 256
    assert main(["config", "--preset", "no_such_preset"]) == 1


def test_loglevel_and_logfile(demo, tmp_path, capsys):
    """-F keeps the messages with times (plus the status at each save); -L WARNING hides the
    informational messages but not the live status line."""
    model, log = tmp_path / "m", tmp_path / "train.log"
    faces = ["-A", str(demo / "A"), "-B", str(demo / "B"), "-m", str(model), *MODEL, "-b", "2"]
    assert main(["train", *faces, "-i", "3", "-s", "2", "-L", "debug", "-F", str(log)]) == 0
    assert "Training 'lightweight'" in capsys.readouterr().out
    text = log.read_text()
    assert " DEBUG    fs-core " in text and " INFO     Training 'lightweight'" in text
    assert " INFO     saved: [" in text and "[#000002]" in text and "Stopped at iteration 3" in text
    assert main(["train", *faces, "-i", "1", "-L", "WARNING", "-F", str(log)]) == 0
    out = capsys.readouterr().out
    assert "Training 'lightweight'" not in out and "[#000004]" in out
    assert log.read_text() == text  # appended nothing: no warnings


@pytest.mark.parametrize(
    "flags,message",
    [
        (["-L", "LOUD"], "invalid choice: 'LOUD'"),
        (["-F", "{tmp}/no/such/folder/train.log"], "No such file or directory"),
        (["-F", "{tmp}"], "is a folder"),
    ],
)
def test_bad_log_options_are_one_line_errors(demo, tmp_path, capsys, flags, message):
    model = tmp_path / "m"
    flags = [flag.format(tmp=tmp_path) for flag in flags]
    try:
        code = main(
            [
                "train",
                "-A",
                str(demo / "A"),
                "-B",
                str(demo / "B"),
                "-m",
                str(model),
                *MODEL,
                "-b",
                "2",
                "-i",
                "1",
                *flags,
            ]
        )
    except SystemExit as stop:  # argparse refuses a bad flag value before main's handlers
        code = stop.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and message in err[0]
    assert not model.exists()
