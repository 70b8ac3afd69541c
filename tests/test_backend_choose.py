"""Choosing the Keras backend (fs_core.backend.choose): the option and the flag, ``auto`` as a pure
function of what was detected, the one-line errors, the session record and ``fs plugins``."""

from __future__ import annotations

import argparse
import json
import sys
import tomllib

import pytest
import tomli_w
from train_request import FAST, tiny_request

from fs_core.backend import choose, detect
from fs_core.backend.choose import (
    BackendAsked,
    BackendChoice,
    activate,
    asked_backend,
    auto_choice,
    resolve,
)
from fs_core.cli.main import main
from fs_core.config import load_config
from fs_core.errors import FsUserError
from fs_core.training.arguments import add_train_arguments

EVERYTHING = {"tensorflow": True, "torch": True, "jax": True}


def machine(installed: dict[str, bool], seen: dict[str, tuple[str, ...]]):
    """(accelerators, installed) for a made-up machine; asking about a framework that is not
    installed, or one ``auto`` should not need to ask about, fails the test."""
    asked: list[str] = []

    def accelerators(name: str) -> tuple[str, ...]:
        assert installed.get(name), f"asked {name} about devices but it is not installed"
        asked.append(name)
        return seen.get(name, ())

    return accelerators, lambda name: installed.get(name, False), asked


# ------------------------------------------------------------------ the option and the flag


def test_the_option_defaults_to_auto_and_takes_each_backend(tmp_path):
    assert load_config(None).global_.backend == "auto"
    path = tmp_path / "fs.toml"
    for value in ("auto", "tensorflow", "torch", "jax"):
        path.write_text(f"[global]\nbackend = '{value}'\n")
        assert load_config(path).global_.backend == value
    path.write_text("[global]\nbackend = 'numpy'\n")
    with pytest.raises(FsUserError, match="backend"):
        load_config(path)


def test_the_option_is_changeable_per_session():
    import attrs

    from fs_core.config.options import is_locked
    from fs_core.config.sections import GlobalOptions

    field = attrs.fields_dict(GlobalOptions)["backend"]
    assert not is_locked(field)


def _parse(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    return parser.parse_args(list(flags))


def test_the_flag_wins_over_the_file_and_the_file_over_auto(tmp_path):
    path = tmp_path / "fs.toml"
    path.write_text("[global]\nbackend = 'jax'\n")
    yes = EVERYTHING.get
    assert _parse().backend is None
    assert asked_backend(None, None, yes) == BackendAsked("auto", "default")
    assert asked_backend(None, path, yes) == BackendAsked("jax", "[global] backend = jax")
    flag = _parse("--backend", "torch").backend
    assert asked_backend(flag, path, yes) == BackendAsked("torch", "--backend torch")
    path.write_text("[global]\nlearning_rate = 1e-5\n")
    assert asked_backend(None, path, yes).asked == "auto"


def test_a_bad_flag_value_is_refused_by_the_parser():
    with pytest.raises(SystemExit):
        _parse("--backend", "numpy")


def test_a_bad_file_value_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "fs.toml"
    path.write_text("[global]\nbackend = 'openvino'\n")
    with pytest.raises(FsUserError) as caught:
        asked_backend(None, path, EVERYTHING.get)
    line = caught.value.one_line()
    assert line.startswith(str(path)) and "auto, tensorflow, torch, jax" in line
    assert "\n" not in line


def test_an_unreadable_file_is_left_to_the_configuration_load(tmp_path):
    path = tmp_path / "fs.toml"
    path.write_text("[global\n")
    assert asked_backend(None, path, EVERYTHING.get).asked == "auto"
    assert asked_backend(None, tmp_path / "missing.toml", EVERYTHING.get).asked == "auto"


@pytest.mark.parametrize(
    ("name", "extra"),
    [("torch", 'pip install "fs-core[torch]"'), ("jax", 'pip install "fs-core[jax]"')],
)
def test_a_backend_not_installed_is_one_line_naming_its_extra(name, extra):
    with pytest.raises(FsUserError) as caught:
        asked_backend(name, None, lambda n: n != name)
    assert caught.value.one_line() == f"backend '{name}' is not installed: {extra}"


def test_fs_train_stops_at_once_when_the_backend_is_not_installed(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(detect, "installed", lambda name: name != "jax")
    code = main(["train", "-A", "a", "-B", "b", "-m", str(tmp_path / "m"), "--backend", "jax"])
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert err == "fs train: error: backend 'jax' is not installed: pip install \"fs-core[jax]\""
    assert not (tmp_path / "m").exists()


# ------------------------------------------------------------------ auto


def test_auto_takes_tensorflow_on_its_gpu_without_asking_pytorch():
    accelerators, installed, asked = machine(EVERYTHING, {"tensorflow": ("NVIDIA H100",)})
    choice = auto_choice(accelerators, installed)
    assert choice == BackendChoice("auto", "tensorflow", "TensorFlow sees NVIDIA H100")
    assert asked == ["tensorflow"]


@pytest.mark.parametrize(
    "device",
    ["NVIDIA GeForce RTX 4090 (CUDA)", "AMD Radeon RX 7900 XTX (ROCm)", "Apple GPU (MPS)"],
)
def test_auto_takes_pytorch_where_only_it_sees_a_gpu(device):
    accelerators, installed, asked = machine(EVERYTHING, {"torch": (device,)})
    choice = auto_choice(accelerators, installed)
    assert choice.name == "torch"
    assert choice.why == f"PyTorch sees {device}; TensorFlow sees no GPU"
    assert asked == ["tensorflow", "torch"]


def test_auto_on_cpus_takes_the_fastest_there_and_never_asks_jax():
    accelerators, installed, asked = machine(EVERYTHING, {"jax": ("NVIDIA H100 (GPU)",)})
    choice = auto_choice(accelerators, installed)
    assert choice.name == "tensorflow"
    assert choice.why == "no GPU for TensorFlow or PyTorch; tensorflow is the fastest on CPUs"
    assert asked == ["tensorflow", "torch"]


def test_auto_without_tensorflow_takes_the_fastest_installed():
    accelerators, installed, _ = machine({"torch": True, "jax": True}, {})
    assert auto_choice(accelerators, installed).name == "jax"
    accelerators, installed, _ = machine({"torch": True}, {})
    choice = auto_choice(accelerators, installed)
    assert choice.name == "torch" and "the fastest installed on CPUs" in choice.why
    accelerators, installed, _ = machine({"torch": True}, {"torch": ("Apple GPU (MPS)",)})
    assert auto_choice(accelerators, installed).why == "PyTorch sees Apple GPU (MPS)"


def test_auto_with_nothing_installed_is_one_line():
    accelerators, installed, _ = machine({}, {})
    with pytest.raises(FsUserError, match="no Keras backend is installed"):
        auto_choice(accelerators, installed)


def _resolve(asked: str, environ: dict, running: str | None = None) -> BackendChoice:
    accelerators, installed, _ = machine(EVERYTHING, {"torch": ("NVIDIA L4 (CUDA)",)})
    return resolve(
        BackendAsked(asked, f"--backend {asked}"),
        environ,
        keras_backend=lambda: running,
        accelerators=accelerators,
        installed=installed,
    )


def test_auto_honours_keras_backend_and_a_keras_already_imported():
    assert _resolve("auto", {}).name == "torch"
    assert _resolve("auto", {"KERAS_BACKEND": "jax"}) == BackendChoice(
        "auto", "jax", "KERAS_BACKEND=jax"
    )
    kept = _resolve("auto", {"KERAS_BACKEND": "jax"}, running="tensorflow")
    assert kept.name == "tensorflow" and "already imported" in kept.why
    assert _resolve("jax", {"KERAS_BACKEND": "torch"}, running="tensorflow") == BackendChoice(
        "jax", "jax", "--backend jax"
    )
    with pytest.raises(FsUserError, match="KERAS_BACKEND=numpy is not a backend fs supports"):
        _resolve("auto", {"KERAS_BACKEND": "numpy"})


def test_activate_sets_keras_backend_or_says_keras_already_runs_another():
    environ: dict[str, str] = {}
    activate(
        BackendChoice("torch", "torch", "--backend torch"), environ, keras_backend=lambda: None
    )
    assert environ == {"KERAS_BACKEND": "torch"}
    same = BackendChoice("auto", "tensorflow", "x")
    activate(same, environ, keras_backend=lambda: "tensorflow")
    assert environ == {"KERAS_BACKEND": "tensorflow"}
    with pytest.raises(FsUserError) as caught:
        activate(
            BackendChoice("jax", "jax", "--backend jax"), {}, keras_backend=lambda: "tensorflow"
        )
    line = caught.value.one_line()
    assert "already imported with backend 'tensorflow'" in line and "\n" not in line


def test_fs_train_in_a_process_already_running_keras_refuses_another_backend(tmp_path, capsys):
    import keras  # noqa: F401 (this process runs TensorFlow)

    code = main(["train", "-A", "a", "-B", "b", "-m", str(tmp_path / "m"), "--backend", "jax"])
    assert code == 1
    assert "already imported with backend 'tensorflow'" in capsys.readouterr().err


def test_the_choice_line_and_record_entry():
    auto = BackendChoice("auto", "torch", "PyTorch sees NVIDIA L4 (CUDA)")
    assert auto.describe() == "Backend: torch (auto: PyTorch sees NVIDIA L4 (CUDA))"
    named = BackendChoice("jax", "jax", "[global] backend = jax")
    assert named.describe() == "Backend: jax ([global] backend = jax)"
    assert named.to_record() == {"name": "jax", "why": "[global] backend = jax"}


def test_the_detection_imports_nothing_for_a_framework_not_installed(monkeypatch):
    monkeypatch.setitem(detect.MODULES, "jax", "no_such_framework_here")
    found = detect.detect("jax")
    assert not found.installed and found.devices == ()
    assert "no_such_framework_here" not in sys.modules


# ------------------------------------------------------------------ the session record


def test_fs_train_prints_the_choice_and_records_it_per_session(faces, tmp_path, capsys):
    config = tmp_path / "fs.toml"
    config.write_text("[global]\nbackend = 'tensorflow'\n" + FAST)
    model = tmp_path / "m"
    args = [
        "train",
        "-A",
        str(faces[0]),
        "-B",
        str(faces[1]),
        "-m",
        str(model),
        "-t",
        "lightweight",
    ]
    args += ["-C", str(config), "-b", "2", "-i", "1", "--seed", "0"]
    assert main(args) == 0
    assert "Backend: tensorflow ([global] backend = tensorflow)" in capsys.readouterr().out
    assert main([*args, "--backend", "auto"]) == 0
    sessions = tomllib.loads((model / "state.toml").read_text())["sessions"]
    assert sessions[0]["backend"] == {"name": "tensorflow", "why": "[global] backend = tensorflow"}
    assert sessions[1]["backend"]["name"] == "tensorflow"
    assert sessions[0]["config"]["global"]["backend"] == "tensorflow"  # changeable, recorded


def test_a_run_in_process_records_the_callers_backend(registry, faces, tmp_path):
    from fs_core.training.run import run_train

    config = tmp_path / "fs.toml"
    config.write_text(FAST)
    model = tmp_path / "m"
    request = tiny_request(faces, model, config, iterations=1)
    assert run_train(request, registry, lambda line: None) == "done"
    session = tomllib.loads((model / "state.toml").read_text())["sessions"][0]
    assert session["backend"] == {
        "name": "tensorflow",
        "why": "the Keras backend of the calling process",
    }


def test_a_model_folder_without_backend_entries_still_loads(registry, faces, tmp_path):
    from fs_core.folder.state import load_state
    from fs_core.training.run import run_train

    config = tmp_path / "fs.toml"
    config.write_text(FAST)
    model = tmp_path / "m"
    assert run_train(tiny_request(faces, model, config, iterations=1), registry, print) == "done"
    state = model / "state.toml"
    data = tomllib.loads(state.read_text())  # as an older fs wrote it: no backend anywhere
    del data["sessions"][0]["backend"]
    del data["sessions"][0]["config"]["global"]["backend"]
    del data["config"]["global"]["backend"]
    state.write_text(tomli_w.dumps(data))
    assert load_state(model) is not None
    assert run_train(tiny_request(faces, model, config, iterations=1), registry, print) == "done"
    assert len(tomllib.loads(state.read_text())["sessions"]) == 2


# ------------------------------------------------------------------ fs plugins


def test_fs_plugins_shows_the_backends_and_auto(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    section = out[out.index("Backends (this process: tensorflow):") :]
    for name in ("tensorflow", "torch", "jax"):
        assert f"\n  {name} " in section
    assert "auto picks: " in section
    assert main(["plugins", "--json"]) == 0
    backends = json.loads(capsys.readouterr().out)["backends"]
    assert backends["active"] == "tensorflow"
    assert [f["name"] for f in backends["frameworks"]] == ["tensorflow", "torch", "jax"]
    tensorflow = backends["frameworks"][0]
    assert tensorflow["installed"] and tensorflow["version"]
    assert set(backends["auto"]) == {"name", "why"}


def test_fs_plugins_names_the_extra_of_a_backend_not_installed(monkeypatch, capsys):
    real = detect.installed
    monkeypatch.setattr(detect, "installed", lambda name: name != "jax" and real(name))
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert 'jax         not installed (pip install "fs-core[jax]")' in out
    assert choose.INSTALL["jax"] in out


# ------------------------------------------------------------------ in a process of its own


@pytest.mark.slow
@pytest.mark.skipif(not detect.installed("jax"), reason="JAX is not installed")
def test_fs_train_sets_the_backend_before_keras_is_imported():
    """``--backend jax`` in a fresh process: Keras runs JAX, and TensorFlow is never imported."""
    import os
    import subprocess

    code = (
        "import sys\n"
        "from fs_core.cli.main import main\n"
        "assert main(['train', '-u', '-t', 'lightweight', '--backend', 'jax']) == 0\n"
        "import keras\n"
        "print(keras.backend.backend(), 'tensorflow' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "jax False"
