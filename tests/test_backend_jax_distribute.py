"""Data-parallel training on Keras' JAX backend (``fs_core.backend.jax.distribute``):
``-d mirrored`` over two CPU devices of one process, ``-d multi-worker`` over two processes on
loopback, the one-line refusals. Every run is a fresh process (``jax_distribute_helper.py``) with
``KERAS_BACKEND=jax``: the device count and Keras' ``KERAS_DISTRIBUTION_*`` variables must be set
before JAX starts.

The numerical checks use Adam with epsilon = 1e-3, the size of the tiny model's gradients, so a
gradient of the wrong scale (a sum instead of the mean, or one process's share) changes the
update instead of being normalised away.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from fs_core.folder.layout import preview_file

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="JAX is not installed"
)

ROOT = Path(__file__).resolve().parent.parent
HELPER = Path(__file__).with_name("jax_distribute_helper.py")
FAST = (
    "[global]\nmixed_precision = '{precision}'\nepsilon_exponent = -3\nlearning_rate = 1e-4\n"
    "{extra}"
    "[global.loss]\nloss_function = 'mae'\nloss_function_2 = 'none'\n"
    "penalized_mask_loss = false\n[global.mask]\nmask_type = 'none'\n"
)
#: no random augmentation: a batch of one repeated face is the same whatever the loader's seed
STILL = (
    "[augmentation]\nzoom_amount = 0\nrotation_range = 0\nshift_range = 0\nflip_chance = 0\n"
    "no_warp = true\nno_augment_color = true\ncolor_clahe_chance = 0\n"
)
DISTRIBUTION_VARIABLES = (
    "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "KERAS_DISTRIBUTION_PROCESS_ID",
)


def _config(
    folder: Path, name: str, extra: str = "", tail: str = "", precision: str = "none"
) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(FAST.format(extra=extra, precision=precision) + tail)
    return path


def _fields(faces, model_dir: Path, config: Path, **changes) -> str:
    values = dict(
        input_a=str(faces[0]),
        input_b=str(faces[1]),
        model_dir=str(model_dir),
        model_name="tiny",
        batch_size=4,
        iterations=2,
        save_interval=100,
        config_path=str(config),
        seed=3,
    )
    values.update(changes)
    return json.dumps(values)


def _helper(
    arguments: list[str], devices: int = 1, script: bool = True, **env: str
) -> subprocess.Popen:
    """The helper (or, ``script`` False, Python with ``arguments``) on ``devices`` CPU devices with
    ``env`` added (Keras' variables of a multi-worker run)."""
    environment = {k: v for k, v in os.environ.items() if k not in DISTRIBUTION_VARIABLES}
    paths = [str(ROOT), str(ROOT / "fs_plugins_models"), str(ROOT / "fs_plugins_losses")]
    environment.update(
        KERAS_BACKEND="jax",
        TF_CPP_MIN_LOG_LEVEL="3",
        PYTHONPATH=os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")]),
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
        **env,
    )
    return subprocess.Popen(
        [sys.executable, *([str(HELPER)] if script else []), *arguments],
        env=environment,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _finish(process: subprocess.Popen, timeout: float = 300) -> tuple[int, list[dict], str]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"JAX distribute helper timed out\n{out}\n{err[-3000:]}")
    results = [json.loads(line[7:]) for line in out.splitlines() if line.startswith("RESULT ")]
    return process.returncode, results, out + err


def _load(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def _assert_same_update(initial: dict, expected: dict, actual: dict, bound: float = 1e-4) -> None:
    """The weight change of ``actual`` equals that of ``expected`` to float32 tolerance (or
    ``bound``, relative)."""
    keys = sorted(initial)
    delta_e = np.concatenate([(expected[k] - initial[k]).ravel() for k in keys])
    delta_a = np.concatenate([(actual[k] - initial[k]).ravel() for k in keys])
    assert np.abs(delta_e).max() > 1e-6  # the steps did change the weights
    error = np.linalg.norm(delta_a - delta_e) / np.linalg.norm(delta_e)
    assert error < bound, f"relative difference of the updates: {error:.2e}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _one_face_folders(faces, folder: Path, picks: dict[str, tuple[int, ...]]) -> dict:
    """Face folders ``NAME_A``/``NAME_B`` holding face ``i`` of the demo sides once per pick."""
    made = {}
    for name, indices in picks.items():
        for side, source in zip("AB", faces):
            target = folder / f"{name}_{side}"
            target.mkdir()
            files = sorted(Path(source).glob("*.png"))
            for n, index in enumerate(indices):
                shutil.copy(files[index], target / f"face{n}_{files[index].name}")
            made[f"{name}_{side}"] = target
    return made


# ---------------------------------------------------------------------------- refused in one line


ADDRESSES, PROCESSES, PROCESS_ID = DISTRIBUTION_VARIABLES
#: ``-d NAME`` with Keras' variables (empty: none set; else valid ones with these changed) -> the
#: refusal's words
REFUSALS = [
    ("mirrored", {}, "-d mirrored: JAX sees one device"),
    ("central-storage", {}, "-d central-storage is TensorFlow's"),
    ("multi-worker", {}, f"needs {ADDRESSES}, {PROCESSES}, {PROCESS_ID}: set on every process"),
    ("multi-worker", {PROCESS_ID: "2"}, f"{PROCESS_ID} must be 0 to"),
    ("multi-worker", {PROCESS_ID: "one"}, "must be whole numbers"),
    ("multi-worker", {ADDRESSES: "h:1,h:2,h:3"}, "lists 3 addresses but"),
    ("multi-worker", {ADDRESSES: "h"}, "must be HOST:PORT"),
]
CHECK_REFUSALS = """
import json, os, sys
from fs_core.errors import FsUserError
from fs_core.training.strategy import make_distribution
for name, env in json.loads(sys.argv[1]):
    for key in ("JOB_ADDRESSES", "NUM_PROCESSES", "PROCESS_ID"):
        os.environ.pop("KERAS_DISTRIBUTION_" + key, None)
    os.environ.update(env)
    try:
        make_distribution(name)
    except FsUserError as error:
        print("REFUSED " + error.one_line())
    else:
        print("ACCEPTED")
import jax
print("JAX distributed", jax.distributed.is_initialized())
"""


def test_refusals_are_one_line_before_training(faces, tmp_path):
    """On one CPU device: ``mirrored`` has nothing to distribute over; ``central-storage`` is
    TensorFlow's; ``multi-worker`` without Keras' variables says which to set, and bad values are
    refused before JAX tries to connect. Through ``run_train`` (as ``fs train``): exit 1 and one
    line, before a model folder exists, for ``multi-worker`` without the variables and for a
    training-step extension under ``mirrored`` on two devices (refused as on TensorFlow)."""
    valid = dict(zip(DISTRIBUTION_VARIABLES, ("127.0.0.1:1", "2", "0")))
    cases = [[name, {**valid, **env} if env else {}] for name, env, _ in REFUSALS]
    plain = _config(tmp_path, "plain")
    extension = _config(tmp_path, "extension", tail="[training_step]\nlr_dropout = 0.3\n")
    runs = [
        (_fields(faces, tmp_path / "m0", plain, distributed="multi-worker"), 1, "needs KERAS_"),
        (
            _fields(faces, tmp_path / "m1", extension, distributed="mirrored"),
            2,
            "training-step extensions (lr_dropout) train on one device or under -d ddp only",
        ),
    ]
    processes = [_helper([request], devices=devices) for request, devices, _ in runs]
    direct = _helper(["-c", CHECK_REFUSALS, json.dumps(cases)], script=False)
    code, _, output = _finish(direct, timeout=180)
    said = [line for line in output.splitlines() if line.startswith("REFUSED ")]
    assert code == 0 and len(said) == len(REFUSALS), output[-3000:]
    for line, (name, _, message) in zip(said, REFUSALS):
        assert message in line, (name, line)
    assert "JAX distributed False" in output  # nothing tried to connect
    for n, (process, (_, _, message)) in enumerate(zip(processes, runs)):
        code, results, output = _finish(process, timeout=180)
        errors = [line for line in output.splitlines() if line.startswith("fs train: error:")]
        assert code == 1 and not results, output[-3000:]
        assert len(errors) == 1 and message in errors[0], errors
        assert "Traceback" not in output
        assert not (tmp_path / f"m{n}").exists()


# ------------------------------------------------------------------------ one process, 2 devices


def test_mirrored_over_two_devices_equals_one_device(faces, tmp_path):
    """One process with two CPU devices, global batch 4 (2 per device) against one device with
    the same 4 faces: plain Adam over 4 steps, trained as 2 steps, saved, then resumed for 2 more;
    AutoClip over 3 steps (its norm history sees the global gradient). Equal to float32 rounding;
    the session records the strategy and its 2 replicas. With mixed_float16 (loss scaling and
    global-norm clipping) the updates agree to float16 rounding of the split computation (0.6%
    measured; a gradient of the wrong scale is off by tens of percent)."""
    plain = _config(tmp_path, "plain")
    autoclip = _config(
        tmp_path, "autoclip", "gradient_clipping = 'autoclip'\nclipping_value = 1.0\n"
    )
    fp16 = _config(
        tmp_path,
        "fp16",
        "gradient_clipping = 'global_norm'\nclipping_value = 0.01\n",
        precision="mixed_float16",
    )
    runs = [
        _fields(faces, tmp_path / "default", plain, iterations=4),
        _fields(faces, tmp_path / "mirrored", plain, distributed="mirrored"),
        _fields(faces, tmp_path / "mirrored", plain, iterations=2, distributed="mirrored"),
        _fields(faces, tmp_path / "autoclip_default", autoclip, iterations=3),
        _fields(faces, tmp_path / "autoclip", autoclip, iterations=3, distributed="mirrored"),
        _fields(faces, tmp_path / "fp16_default", fp16, iterations=3),
        _fields(faces, tmp_path / "fp16", fp16, iterations=3, distributed="mirrored"),
    ]
    code, results, output = _finish(_helper(runs, devices=2))
    assert code == 0, output[-3000:]
    assert [r["reason"] for r in results] == ["done"] * len(runs)
    assert [r["replicas"] for r in results] == [1, 2, 2, 1, 2, 1, 2]
    assert "Distributed training (mirrored: 2 replicas (cpu:0, cpu:1))" in output
    initial = _load(results[0]["weights"].replace(".npz", "_initial.npz"))
    _assert_same_update(initial, _load(results[0]["weights"]), _load(results[2]["weights"]))
    _assert_same_update(initial, _load(results[3]["weights"]), _load(results[4]["weights"]))
    _assert_same_update(initial, _load(results[5]["weights"]), _load(results[6]["weights"]), 3e-2)
    assert output.count("Precision: mixed_float16") == 2
    state = tomllib.loads((tmp_path / "mirrored" / "state.toml").read_text())
    assert state["iterations"] == 4 and len(state["sessions"]) == 2
    assert all(s["distributed"] == "mirrored" and s["replicas"] == 2 for s in state["sessions"])


# ---------------------------------------------------------------------------- two processes


@pytest.mark.slow
def test_multi_worker_averages_the_gradient_over_two_processes(faces, tmp_path):
    """Two processes on loopback, two CPU devices each (4 replicas, one face per device), global
    batch 4: worker 0's faces are one face
    repeated, worker 1's another, augmentation off, so the global batch is known whatever each
    loader's seed; one process with both faces twice must give the same weights, which it does
    only if the gradient is averaged over both workers' faces. Two steps, then a resumed session
    of one more in the same processes. Worker 1 builds its model from another seed, and still both
    workers end with identical weights (the step starts from worker 0's values); only the chief
    writes the model folder, previews included (worker 1's scratch folder is gone at the end)."""
    config = _config(tmp_path, "still", tail=STILL)
    folders = _one_face_folders(
        faces, tmp_path, {"worker0": (0, 0), "worker1": (1, 1), "both": (0, 0, 1, 1)}
    )
    model = tmp_path / "model"
    address = f"127.0.0.1:{_free_port()}"
    processes = []
    for index in range(2):
        pair = (folders[f"worker{index}_A"], folders[f"worker{index}_B"])
        # worker 1 builds from another seed: the step starts from worker 0's values anyway
        seed = 3 + index
        requests = [
            _fields(
                pair,
                model,
                config,
                distributed="multi-worker",
                save_interval=1,
                seed=seed,
                write_image=True,
            ),
            _fields(pair, model, config, distributed="multi-worker", iterations=1, seed=seed),
        ]
        processes.append(
            _helper(
                requests,
                devices=2,
                KERAS_DISTRIBUTION_JOB_ADDRESSES=address,
                KERAS_DISTRIBUTION_NUM_PROCESSES="2",
                KERAS_DISTRIBUTION_PROCESS_ID=str(index),
            )
        )
    pair = (folders["both_A"], folders["both_B"])
    alone = _helper(
        [
            _fields(pair, tmp_path / "alone", config),
            _fields(pair, tmp_path / "alone", config, iterations=1),
        ]
    )
    try:
        finished = [_finish(p) for p in [*processes, alone]]
    finally:
        for p in [*processes, alone]:
            if p.poll() is None:
                p.kill()
    for code, results, output in finished:
        assert code == 0 and len(results) == 2, output[-3000:]
    (_, chief, _), (_, other, _), (_, single, _) = finished
    assert [r["batch_size"] for r in chief + other] == [4] * 4
    assert [r["local_batch_size"] for r in chief + other] == [2] * 4
    assert [r["replicas"] for r in chief + other] == [4] * 4
    assert "worker 1 of 2" in finished[1][2]
    assert all(Path(r["save_dir"]) == model for r in chief)
    assert all(Path(r["save_dir"]) != model and not Path(r["save_dir"]).exists() for r in other)
    ours, theirs = _load(chief[-1]["weights"]), _load(other[-1]["weights"])
    for key, value in ours.items():
        np.testing.assert_array_equal(value, theirs[key], err_msg=key)
    initial = _load(single[0]["weights"].replace(".npz", "_initial.npz"))
    for key, value in _load(chief[0]["weights"].replace(".npz", "_initial.npz")).items():
        np.testing.assert_array_equal(value, initial[key], err_msg=key)
    built = _load(other[0]["weights"].replace(".npz", "_initial.npz"))
    assert any(not np.array_equal(value, initial[key]) for key, value in built.items())
    _assert_same_update(initial, _load(single[-1]["weights"]), ours)
    assert preview_file(model).exists()  # every worker makes previews; the chief's are kept
    saved = tomllib.loads((model / "state.toml").read_text())
    assert saved["iterations"] == 3 and len(saved["sessions"]) == 2
    assert all(s["distributed"] == "multi-worker" and s["replicas"] == 4 for s in saved["sessions"])
