"""Inference and TensorFlow's place on every backend, each backend in a subprocess
(``tests/tiny_cli.py``) with ``KERAS_BACKEND`` set; this process runs TensorFlow.

- ``fs swap`` and ``fs convert`` of a model trained on TensorFlow give TensorFlow's images on
  torch and JAX (within 2/255), and a model trained on torch swaps on TensorFlow as on torch.
- The backend's inference function gives the model's own outputs and reads the weights anew at
  each call (training changes them between previews).
- A torch or JAX process trains (save, resume, preview, held-out losses), swaps and converts
  without importing TensorFlow, and works where TensorFlow cannot be imported at all (the GPU
  machines have PyTorch and JAX only); a TensorFlow imported anyway sees no GPU.
- ``fs export`` runs on TensorFlow whatever ``KERAS_BACKEND`` says, and says in one line what to
  install where TensorFlow is missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import cv2
import numpy as np
import pytest
from train_request import FAST, tiny_request

from fs_core.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
HELPER = Path(__file__).resolve().parent / "tiny_cli.py"
BACKENDS = [
    pytest.param(
        name,
        marks=pytest.mark.skipif(
            importlib.util.find_spec(name) is None, reason=f"{name} is not installed"
        ),
    )
    for name in ("torch", "jax")
]
#: the largest difference allowed between two backends' uint8 images
TOLERANCE = 2


def _env(backend: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", **extra)
    paths = [str(ROOT), str(ROOT / "fs_plugins_models"), str(ROOT / "fs_plugins_losses")]
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    return env


def _tiny_cli(backend: str, folder: Path, spec: dict) -> tuple[dict, str]:
    """Run ``spec`` through tiny_cli.py on ``backend``; its JSON result and its stderr."""
    path = folder / f"spec_{backend}_{len(list(folder.glob('spec_*')))}.json"
    path.write_text(json.dumps(spec))
    done = subprocess.run(
        [sys.executable, str(HELPER), str(path)],
        check=False,
        env=_env(backend),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def _images(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted(folder.glob("*.png"))}


def _assert_close(left: Path, right: Path) -> None:
    a, b = _images(left), _images(right)
    assert a and sorted(a) == sorted(b)
    for name in a:
        assert a[name].shape == b[name].shape, name
        gap = int(np.max(np.abs(a[name].astype(np.int16) - b[name].astype(np.int16))))
        assert gap <= TOLERANCE, (name, gap)


def _train_args(demo: Path, model: Path, config: Path, iterations: int) -> list[str]:
    return [
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
        "-i",
        str(iterations),
        "-s",
        "1",
        "--seed",
        "1",
        "-C",
        str(config),
        "-w",
    ]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("inference")


@pytest.fixture(scope="module")
def demo(work) -> Path:
    from fs_core.faces.demo import write_demo_data

    write_demo_data(work / "demo", count=6, size=64)
    return work / "demo"


@pytest.fixture(scope="module")
def config(work) -> Path:
    path = work / "fast.toml"
    # a learned mask: swap writes it as alpha, convert can place faces with it
    path.write_text(FAST.replace("mask_type = 'none'", "mask_type = 'extended'\nlearn_mask = true"))
    return path


@pytest.fixture(scope="module")
def tf_model(registry, demo, config, work) -> Path:
    """The tiny model trained 2 iterations on TensorFlow (this process)."""
    from fs_core.training.run import run_train

    folder = work / "tf_model"
    request = tiny_request([demo / "A", demo / "B"], folder, config, iterations=2)
    run_train(request, registry, lambda *_: None)
    return folder


def _on_tensorflow(registry, *args: str) -> None:
    import fs_core.plugin_manager

    patch = pytest.MonkeyPatch()
    patch.setattr(fs_core.plugin_manager, "get_registry", lambda disabled=None: registry)
    try:
        assert main(list(args)) == 0
    finally:
        patch.undo()


@pytest.fixture(scope="module")
def tf_outputs(registry, tf_model, demo, work) -> Path:
    """``fs swap`` and ``fs convert`` (frames) of the TensorFlow model, on TensorFlow."""
    out = work / "tf_out"
    _on_tensorflow(
        registry, "swap", "-m", str(tf_model), "-i", str(demo / "A"), "-o", str(out / "swap")
    )
    _on_tensorflow(
        registry,
        "convert",
        "-i",
        str(demo / "clip"),
        "-o",
        str(out / "convert"),
        "-m",
        str(tf_model),
    )
    return out


@pytest.fixture(scope="module", params=BACKENDS)
def other(request, tf_model, demo, config, work) -> tuple[str, Path, dict]:
    """One subprocess on torch or JAX: the inference check, ``fs swap`` and ``fs convert`` of the
    TensorFlow model, then a model trained there (2 iterations, saved at each, with a preview and
    a held-out set), resumed for 1, and swapped."""
    backend = request.param
    out = work / backend
    model = out / "model"
    result, _ = _tiny_cli(
        backend,
        work,
        {
            "check_inference": True,
            "commands": [
                ["swap", "-m", str(tf_model), "-i", str(demo / "A"), "-o", str(out / "swap")],
                [
                    "convert",
                    "-i",
                    str(demo / "clip"),
                    "-o",
                    str(out / "convert"),
                    "-m",
                    str(tf_model),
                ],
                [*_train_args(demo, model, config, 2), "--holdout", "1"],
                _train_args(demo, model, config, 1),
                ["swap", "-m", str(model), "-i", str(demo / "A"), "-o", str(out / "own_swap")],
            ],
        },
    )
    return backend, out, result


def test_the_inference_function_gives_the_models_outputs_from_its_current_weights(other):
    _, _, result = other
    check = result["inference"]
    assert check["before"] <= 1e-5 and check["after"] <= 1e-5, check
    assert check["moved"] > 1e-3, check  # halving every weight changed the outputs


def test_swap_and_convert_of_a_tensorflow_model_give_tensorflows_images(other, tf_outputs):
    _, out, result = other
    assert result["codes"][:2] == [0, 0]
    _assert_close(out / "swap", tf_outputs / "swap")
    _assert_close(out / "convert", tf_outputs / "convert")


def test_training_swapping_and_converting_never_import_tensorflow(other):
    _, out, result = other
    assert result["codes"] == [0, 0, 0, 0, 0]
    assert result["tensorflow"] is False
    model = out / "model"
    assert tomllib.loads((model / "state.toml").read_text())["iterations"] == 3
    assert (model / "preview.png").is_file()
    assert len(list((model / "logs").rglob("events.out.tfevents.*"))) == 2
    assert len(_images(out / "own_swap")) == 6


def test_a_model_trained_on_another_backend_swaps_on_tensorflow_as_there(
    registry, other, demo, work
):
    backend, out, _ = other
    here = work / f"tf_swap_of_{backend}"
    _on_tensorflow(
        registry, "swap", "-m", str(out / "model"), "-i", str(demo / "A"), "-o", str(here)
    )
    _assert_close(here, out / "own_swap")


@pytest.mark.slow
def test_everything_works_where_tensorflow_cannot_be_imported_and_a_seeded_run_repeats(
    other, demo, config, work
):
    from fs_core.model.weights import read_weights

    backend, first, _ = other
    out = work / f"{backend}_without_tensorflow"
    model = out / "model"
    result, _ = _tiny_cli(
        backend,
        work,
        {
            "block_tensorflow": True,
            "commands": [  # the same sessions as the `other` fixture's, with its seed
                [*_train_args(demo, model, config, 2), "--holdout", "1"],
                _train_args(demo, model, config, 1),
                ["swap", "-m", str(model), "-i", str(demo / "A"), "-o", str(out / "swap")],
                ["convert", "-i", str(demo / "clip"), "-o", str(out / "convert"), "-m", str(model)],
            ],
        },
    )
    assert result["codes"] == [0, 0, 0, 0] and result["tensorflow"] is False
    assert len(_images(out / "convert")) == 24
    repeated, earlier = (
        read_weights(model / "weights.h5")[0],
        read_weights(first / "model" / "weights.h5")[0],
    )
    # optimizer slots are named after Keras' layer counters, which differ with what the process
    # built before (the other run swapped first): match them by their index
    assert len(repeated) == len(earlier)
    for (name_r, value_r), (name_e, value_e) in zip(
        sorted(repeated.items()), sorted(earlier.items())
    ):
        assert name_r.split("_")[0] == name_e.split("_")[0]
        assert np.array_equal(value_r, value_e), name_e


def test_export_runs_on_tensorflow_whatever_keras_backend_says(tf_model, work):
    out = work / "exported"
    result, _ = _tiny_cli(
        "torch", work, {"commands": [["export", "-m", str(tf_model), "-o", str(out)]]}
    )
    assert result["codes"] == [0] and result["tensorflow"] is True
    assert (out / "saved_model.pb").is_file()


def test_export_without_tensorflow_says_what_to_install_in_one_line(tf_model, work):
    out = work / "not_exported"
    result, err = _tiny_cli(
        "jax",
        work,
        {"block_tensorflow": True, "commands": [["export", "-m", str(tf_model), "-o", str(out)]]},
    )
    assert result["codes"] == [1]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fs export: error: exporting needs TensorFlow")
    assert lines[0].endswith(": pip install tensorflow") and not out.exists()


def test_a_tensorflow_imported_in_a_torch_or_jax_process_sees_no_gpu(tmp_path):
    """The backstop, with a stand-in TensorFlow that records what it is told."""
    fake = tmp_path / "fake" / "tensorflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "class config:\n    calls = []\n\n"
        "    @staticmethod\n    def set_visible_devices(devices, kind):\n"
        "        config.calls.append([list(devices), kind])\n"
    )
    script = (
        "import json\n"
        "from fs_core.backend import tensorflow_guard\n"
        "tensorflow_guard.hide_gpus_on_import()\n"
        "tensorflow_guard.hide_gpus_on_import()\n"
        "import tensorflow\n"
        "first = list(tensorflow.config.calls)\n"
        "tensorflow_guard.hide_gpus_on_import()\n"  # imported already: hidden at once
        "print(json.dumps([first, tensorflow.config.calls]))\n"
    )
    env = _env("torch")
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "fake"), env["PYTHONPATH"]])
    done = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    first, later = json.loads(done.stdout.strip().splitlines()[-1])
    assert first == [[[], "GPU"]]
    assert later == [[[], "GPU"], [[], "GPU"]]
