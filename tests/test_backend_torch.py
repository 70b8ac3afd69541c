"""fs on Keras' torch backend (``fs_core.backend.torch``), each check in a subprocess with
``KERAS_BACKEND=torch`` (this process runs TensorFlow): training saves and resumes, a model moves
between TensorFlow and torch from one session to the next with every weight and the optimizer
state, the built-in optimizers and gradient clipping give TensorFlow's weights, the losses give
their stored values, the extension helpers TensorFlow's numbers, and the TensorBoard files written
on torch are read back. Skipped where torch is not installed."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import attrs
import numpy as np
import pytest
from train_request import FAST, tiny_request

from fs_core.model.weights import read_group, read_weights
from fs_core.record import face_losses
from fs_core.record.events import event_files, read_scalars, text_values
from fs_core.training.run import run_train

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None or importlib.util.find_spec("tensorboard") is None,
    reason="torch (and the tensorboard package) not installed: pip install fs-core[torch]",
)

ROOT = Path(__file__).resolve().parent.parent
FLOAT32 = "[global]\nmixed_precision = 'none'\n"
#: weights after a few steps on two frameworks: each rounds its convolutions its own way
TOLERANCE = {"rtol": 2e-4, "atol": 2e-6}


def _on_torch(args: list[str], tmp_path: Path) -> str:
    """``python ARGS`` with KERAS_BACKEND=torch; its output, or the test fails with it."""
    env = dict(os.environ, KERAS_BACKEND="torch")
    paths = [str(ROOT), str(ROOT / "fs_plugins_models"), str(ROOT / "fs_plugins_losses")]
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, *args],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return done.stdout


def _sessions(tmp_path: Path, faces, runs: list[dict], **extra) -> str:
    spec = tmp_path / f"spec{len(list(tmp_path.glob('spec*.json')))}.json"
    spec.write_text(json.dumps({"faces": [str(f) for f in faces], "runs": runs, **extra}))
    return _on_torch([str(ROOT / "tests" / "backend_session.py"), str(spec)], tmp_path)


def _config(tmp_path: Path, name: str, text: str = "") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(FLOAT32 + text + FAST)
    return path


def _model_weights(path: Path) -> dict[str, np.ndarray]:
    values, _ = read_weights(path / "weights.h5")
    return {k: v for k, v in values.items() if not k.startswith("optimizer/")}


def _assert_same_weights(a: Path, b: Path) -> None:
    first, second = _model_weights(a), _model_weights(b)
    assert first and set(first) == set(second)
    for key in first:
        np.testing.assert_allclose(first[key], second[key], err_msg=key, **TOLERANCE)


def test_trains_saves_and_resumes_and_its_tensorboard_files_are_read(faces, tmp_path):
    config = _config(tmp_path, "fs")
    model = tmp_path / "m"
    run = {"model_dir": str(model), "config": str(config), "iterations": 2, "save_interval": 1}
    out = _sessions(tmp_path, faces, [run, run])
    assert out.count(f"run {model}: ") == 2
    values, _ = read_weights(model / "weights.h5")
    assert any(k.startswith("optimizer/") for k in values)
    assert "iterations = 4" in (model / "state.toml").read_text()
    # written without TensorFlow, read here with TensorFlow's Event
    files = event_files(model / "logs")
    assert len(files) == 2
    scalars = read_scalars(files)
    assert [step for step, _ in scalars["loss_a"]] == [1, 2, 3, 4]
    assert all(np.isfinite(value) for _, value in scalars["loss_b"])
    assert '"class_name"' in text_values(files, "model_config")[0]
    # each face's loss came out of the torch step and was carried over into the second run
    table = face_losses.read(model)
    assert table is not None and table.iteration == 4
    assert [int(side.seen.sum()) for side in table.sides.values()] == [4 * 2, 4 * 2]


def test_switching_backend_between_sessions_keeps_every_weight_and_the_optimizer(
    registry, faces, tmp_path
):
    """2 iterations on TensorFlow then 2 on torch equal 4 on TensorFlow; the optimizer's slots
    that torch restores are exactly the ones TensorFlow saved."""
    config = _config(tmp_path, "fs")
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    run_train(tiny_request(faces, whole, config, iterations=4, seed=3), registry, lambda s: None)
    run_train(tiny_request(faces, parts, config, iterations=2, seed=3), registry, lambda s: None)
    saved = read_group(parts / "weights.h5", "optimizer")
    dump = tmp_path / "restored.npz"
    run = {"model_dir": str(parts), "config": str(config), "iterations": 2, "seed": 3}
    _sessions(tmp_path, faces, [{**run, "dump_optimizer": str(dump)}])
    with np.load(dump) as restored:
        ordered = [saved[key] for key in sorted(saved, key=lambda k: int(k.split("/")[-1][:4]))]
        assert len(ordered) == len(restored.files)
        for index, value in enumerate(ordered):
            np.testing.assert_array_equal(restored[f"{index:04d}"], value)
    _assert_same_weights(whole, parts)
    # and back: the torch-saved model resumes on TensorFlow
    shutil.copytree(parts, tmp_path / "back")
    run_train(
        tiny_request(faces, tmp_path / "back", config, iterations=1, seed=3),
        registry,
        lambda s: None,
    )
    assert "iterations = 5" in (tmp_path / "back" / "state.toml").read_text()


CASES = {
    "adam": "optimizer = 'adam'\nweight_decay = 0.01\n",
    "amsgrad": "optimizer = 'adamw'\nada_amsgrad = true\n",
    "nadam": "optimizer = 'nadam'\n",
    "adamax": "optimizer = 'adamax'\n",
    "adamw": "optimizer = 'adamw'\nweight_decay = 0.01\n",
    "rms-prop": "optimizer = 'rms-prop'\n",
    "adabelief": "optimizer = 'adabelief'\n",
    "lion": "optimizer = 'lion'\nlearning_rate = 1e-4\nweight_decay = 0.1\n",
    "accumulation": "gradient_accumulation = 2\n",
    "norm": "gradient_clipping = 'norm'\nclipping_value = 0.01\n",
    "value": "gradient_clipping = 'value'\nclipping_value = 0.0005\n",
    "global_norm": "gradient_clipping = 'global_norm'\nclipping_value = 0.01\n",
    "autoclip": "gradient_clipping = 'autoclip'\nclipping_value = 5.0\n",
}


@pytest.mark.slow
def test_optimizers_weight_decay_accumulation_and_clipping_give_tensorflows_weights(
    registry, faces, tmp_path
):
    """From the same start (one step on TensorFlow: the two frameworks draw different initial
    weights from one seed), 3 more steps on each give the same weights."""
    runs = []
    for name, options in CASES.items():
        config = tmp_path / f"{name}.toml"
        config.write_text(f"[global]\nmixed_precision = 'none'\n{options}" + FAST)
        tf_model, torch_model = tmp_path / "tf" / name, tmp_path / "torch" / name
        request = tiny_request(faces, tf_model, config, iterations=1, seed=1)
        run_train(request, registry, lambda s: None)
        shutil.copytree(tf_model, torch_model)
        run_train(attrs.evolve(request, iterations=3), registry, lambda s: None)
        runs.append(
            {"model_dir": str(torch_model), "config": str(config), "iterations": 3, "seed": 1}
        )
    _sessions(tmp_path, faces, runs)
    for name in CASES:
        _assert_same_weights(tmp_path / "tf" / name, tmp_path / "torch" / name)


def test_extension_helpers_give_tensorflows_numbers(tmp_path):
    from fs_core.backend import tensorflow as tf_backend

    rng = np.random.default_rng(0)
    pred = rng.random((2, 24, 24, 3), np.float32)
    target = rng.random((2, 24, 24, 3), np.float32)
    mask = rng.random((2, 24, 24, 1), np.float32)
    inputs = tmp_path / "helpers.npz"
    np.savez(inputs, pred=pred, target=target, mask=mask)
    _sessions(tmp_path, [], [], helpers=str(inputs))
    with np.load(tmp_path / "helpers_out.npz") as got:
        np.testing.assert_allclose(got["blur"], tf_backend.gaussian_blur(mask, 2), atol=1e-6)
        np.testing.assert_allclose(
            got["colour"], tf_backend.colour_statistics_loss(pred, target), rtol=1e-5
        )
        np.testing.assert_allclose(got["dssim"], tf_backend.dssim(pred, target, 5), rtol=1e-5)


EXTENSIONS = (
    "[global]\nmixed_precision = 'none'\n[global.loss]\nloss_function = 'mae'\n"
    "loss_function_2 = 'none'\n[training_step]\ngan_power = 0.1\ngan_sides = 'ab'\n"
    "true_face_power = 0.01\nface_style_power = 10.0\nbg_style_power = 10.0\n"
)


@pytest.mark.slow
def test_training_extensions_give_tensorflows_weights_and_lr_dropout_resumes(
    registry, faces, tmp_path
):
    """Patch GAN, true face and the style losses: from one step on TensorFlow, 2 more on each
    framework give the same model and discriminators. LR dropout (torch's own random masks)
    trains and resumes on torch."""
    config = tmp_path / "ext.toml"
    config.write_text(EXTENSIONS)
    tf_model, torch_model = tmp_path / "tf", tmp_path / "torch"
    request = tiny_request(faces, tf_model, config, iterations=1, seed=5)
    run_train(request, registry, lambda s: None)
    shutil.copytree(tf_model, torch_model)
    run_train(attrs.evolve(request, iterations=2), registry, lambda s: None)
    dropout = tmp_path / "dropout.toml"
    dropout.write_text(EXTENSIONS + "lr_dropout = 0.3\n")
    run = {"model_dir": str(tmp_path / "dropout"), "config": str(dropout), "iterations": 2}
    _sessions(
        tmp_path,
        faces,
        [
            {"model_dir": str(torch_model), "config": str(config), "iterations": 2, "seed": 5},
            run,
            run,
        ],
    )
    first, _ = read_weights(tf_model / "weights.h5")
    second, _ = read_weights(torch_model / "weights.h5")
    keys = [k for k in first if not k.startswith(("optimizer/", "extensions/optimizers/"))]
    assert any(k.startswith("extensions/parts/discriminator_a/") for k in keys)
    for key in keys:
        np.testing.assert_allclose(first[key], second[key], err_msg=key, **TOLERANCE)
    values, _ = read_weights(tmp_path / "dropout" / "weights.h5")
    assert all(np.isfinite(v).all() for v in values.values() if v.dtype.kind == "f")
    assert "iterations = 4" in (tmp_path / "dropout" / "state.toml").read_text()


def test_the_losses_give_their_stored_values_on_torch(tmp_path):
    out = _on_torch(
        [
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(ROOT / "fs_plugins_losses" / "tests" / "test_backend_neutral.py"),
        ],
        tmp_path,
    )
    assert " passed" in out and "failed" not in out


def test_other_strategies_are_refused_in_one_line(faces, tmp_path):
    script = (
        "from fs_core.errors import FsUserError\n"
        "from fs_core.training.strategy import make_distribution\n"
        "assert make_distribution('default').replicas == 1\n"
        "try:\n    make_distribution('mirrored')\n"
        "except FsUserError as e:\n    print(e.one_line())\n"
    )
    out = _on_torch(["-c", script], tmp_path)
    assert "-d mirrored is TensorFlow's" in out and out.count("\n") == 1


def test_the_models_packs_convolution_knows_there_is_no_gpu(tmp_path):
    """Keras has no distribution library on torch; the pack's matrix-product convolution asks
    where tensors go instead (CPU here) and gives Keras' convolution's outputs."""
    script = (
        "import numpy as np, keras\n"
        "from fs_plugins_models.layers import Conv2D, _has_gpu\n"
        "x = np.random.default_rng(0).random((2, 8, 8, 4), np.float32)\n"
        "ours = Conv2D(3, 3, strides=2, padding='same')\n"
        "theirs = keras.layers.Conv2D(3, 3, strides=2, padding='same')\n"
        "ours.build(x.shape); theirs.build(x.shape); theirs.set_weights(ours.get_weights())\n"
        "a, b = (keras.ops.convert_to_numpy(layer(x)) for layer in (ours, theirs))\n"
        "print(_has_gpu(), ours._patches is not None, np.allclose(a, b, atol=1e-5))\n"
    )
    assert _on_torch(["-c", script], tmp_path).split() == ["False", "True", "True"]


def test_live_changes_apply_in_place_and_in_a_new_session_on_torch(faces, tmp_path):
    from fs_core.folder.state import load_state

    config = _config(tmp_path, "live")
    model = tmp_path / "m"
    live = {"2": {"global.learning_rate": 2e-5}, "3": {"global.loss.loss_weight_2": 50}}
    run = {"model_dir": str(model), "config": str(config), "iterations": 5, "live": live}
    out = _sessions(tmp_path, faces, [run])
    rates = json.loads(
        next(line for line in out.splitlines() if line.startswith("live rates "))[11:]
    )
    assert rates["2"] == pytest.approx(5e-5) and rates["3"] == pytest.approx(2e-5)
    state = load_state(model)
    first, second = state.sessions
    assert state.iterations == 5 and (first["iterations"], second["iterations"]) == (3, 2)
    assert [c["key"] for c in first["live_changes"]] == [
        "global.learning_rate",
        "global.loss.loss_weight_2",
    ]
    assert second["config"]["global.loss"]["loss_weight_2"] == 50.0
    assert rates["5"] == pytest.approx(2e-5)  # the new session keeps the changed rate
