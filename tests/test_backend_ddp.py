"""PyTorch's ``-d ddp`` (``fs_core.backend.torch.distribute``), on the CPU: two workers over
loopback (Gloo), started as ``torchrun`` starts them (``python -m torch.distributed.run``), each
running the tiny model through ``ddp_session.py`` with ``KERAS_BACKEND=torch``.

The two workers train on different halves of each global batch (fixed functions of the iteration,
see ``ddp_session.py``), and one process trains on the whole batch: only the gradients' sum over
the replicas makes the workers agree with each other and with that process. Adam's epsilon is
1e-3, the size of the tiny model's gradients, and global-norm clipping at 0.01 is active, so a
gradient of the wrong scale, or clipped per worker, shows in the weights (measured: without the
all-reduce the workers' weights differ by 2.5e-4 and the one-process run's by 3x relative; with
it the workers are bit-identical and within 4e-7 of the one process). Worker 1 shifts its weights
before the step is made, so only the start-up broadcast from rank 0 makes the replicas equal.
Skipped where torch is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from train_request import tiny_request

from fs_core.backend.choose import BackendAsked, for_strategy
from fs_core.errors import FsUserError
from fs_core.training.session import validate_request
from fs_core.training.strategy import locks_model_folder, make_distribution

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None or importlib.util.find_spec("tensorboard") is None,
    reason="torch (and the tensorboard package) not installed: pip install fs-core[torch]",
)

ROOT = Path(__file__).resolve().parent.parent
SESSION = ROOT / "tests" / "ddp_session.py"
LOSS = (
    "[global.loss]\nloss_function = 'mae'\nloss_function_2 = 'none'\n"
    "penalized_mask_loss = false\n[global.mask]\nmask_type = 'none'\n"
)
PLAIN = (
    "[global]\nmixed_precision = 'none'\nepsilon_exponent = -3\nlearning_rate = 1e-4\n"
    "gradient_clipping = 'global_norm'\nclipping_value = 0.01\n" + LOSS
)
EXTENDED = (
    "[global]\nmixed_precision = 'none'\nepsilon_exponent = -3\nlearning_rate = 1e-4\n"
    + LOSS
    + "[training_step]\ngan_power = 0.1\ngan_sides = 'ab'\ntrue_face_power = 0.01\n"
    "lr_dropout = 0.3\n"
)
#: three legs: the batch of -b, then 2 with a snapshot, then decoder B re-initialised and the
#: encoder frozen
RECIPE = """
[[stage]]
at = 0
[stage.set]
"global.learning_rate" = 4e-05

[[stage]]
at = 2
snapshot = true
[stage.set]
batch_size = 2

[[stage]]
at = 4
reset = ["decoder_b"]
freeze = ["encoder"]
[stage.set]
"global.learning_rate" = 1e-05
"""
#: the two workers' sums against one process's whole-batch mean: float32 rounding, which Adam's
#: update carries into the weights over a few steps (up to ~5e-6 on weights of ~0.1 seen after
#: the schedule's legs); a missing or doubled all-reduce is off by tens of percent
TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}


def _environment(keras_backend: str | None) -> dict[str, str]:
    """This environment without torchrun's variables, with this tree on the path."""
    left_out = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "KERAS_BACKEND")
    env = {k: v for k, v in os.environ.items() if k not in left_out}
    paths = [str(ROOT), str(ROOT / "fs_plugins_models"), str(ROOT / "fs_plugins_losses")]
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    env.update(OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2")
    if keras_backend is not None:
        env["KERAS_BACKEND"] = keras_backend
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(
    args: list[str], tmp_path: Path, keras_backend: str | None = "torch"
) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=tmp_path,
        env=_environment(keras_backend),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen, timeout: float = 600) -> str:
    try:
        output, _ = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output[-6000:]
    return output


def _spec(tmp_path: Path, name: str, faces, runs: list[dict]) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"faces": [str(f) for f in faces], "global_batch": 4, "runs": runs}))
    return str(path)


def _run(tmp_path: Path, folder: str, config: Path, iterations: int, **extra) -> dict:
    return {
        "model_dir": str(tmp_path / folder),
        "config": str(config),
        "iterations": iterations,
        "seed": 0,
        "dump": str(tmp_path / extra.pop("dump")),
        **extra,
    }


def _load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


@pytest.mark.slow
def test_two_workers_train_as_one_process_with_the_global_batch_and_resume(faces, tmp_path):
    """Two workers (global batch 4, 2 each) against one process (batch 4) on the same faces:
    3 iterations with a save at 2, then a resumed session of 2; the extended step (patch GAN,
    true face, LR dropout) for 2; a schedule's three legs (the batch, the frozen and the
    re-initialised parts change between them) for 6, the chief's saves slowed so that a worker
    planning a leg without waiting for them reads the last leg's state. Without --seed the
    replicas still agree
    (LR dropout's seed is the chief's). A model with BatchNorm keeps the chief's moving
    statistics on both workers (each normalises its own half, as DDP without SyncBatchNorm, so
    that run is not compared with one process); under mixed_float16's loss scaling the replicas
    stay identical too. Worker 1 saves only into its scratch folder."""
    plain, extended = tmp_path / "plain.toml", tmp_path / "extended.toml"
    plain.write_text(PLAIN)
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(RECIPE)
    fp16 = tmp_path / "fp16.toml"
    fp16.write_text(PLAIN.replace("'none'", "'mixed_float16'", 1))
    batchnorm = tmp_path / "batchnorm.toml"
    batchnorm.write_text(PLAIN + "[model.tiny]\nbatchnorm = true\n")
    extended.write_text(EXTENDED)

    def runs(kind: str, distributed: str) -> list[dict]:
        common = {"distributed": distributed, "perturb": True}
        found = [
            _run(tmp_path, kind, plain, 3, dump=f"{kind}_first", save_interval=2, **common),
            _run(tmp_path, kind, plain, 2, dump=f"{kind}_resumed", **common),
            _run(tmp_path, f"{kind}_ext", extended, 2, dump=f"{kind}_ext", **common),
            _run(
                tmp_path,
                f"{kind}_legs",
                plain,
                6,
                dump=f"{kind}_legs",
                schedule=str(recipe),
                slow_saves=0.5,
                **common,
            ),
        ]
        if distributed == "ddp":
            found.append(_run(tmp_path, "ddp_bn", batchnorm, 2, dump="ddp_bn", **common))
            found.append(_run(tmp_path, "ddp_fp16", fp16, 2, dump="ddp_fp16", **common))
            found.append(
                _run(
                    tmp_path,
                    "ddp_unseeded",
                    extended,
                    2,
                    dump="ddp_unseeded",
                    seed=None,
                    distributed="ddp",
                )
            )
        return found

    workers = _start(
        [
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            f"--master_port={_free_port()}",
            str(SESSION),
            _spec(tmp_path, "ddp", faces, runs("ddp", "ddp")),
        ],
        tmp_path,
    )
    single = _start([str(SESSION), _spec(tmp_path, "one", faces, runs("one", "default"))], tmp_path)
    output = _finish(workers)
    _finish(single)

    assert "Distributed training (ddp: 2 replicas (cpu), worker 1 of 2)" in output
    for dump in ("first", "resumed", "ext", "legs", "unseeded", "bn", "fp16"):
        chief, other = (
            _load(tmp_path / f"ddp_{dump}_rank0.npz"),
            _load(tmp_path / f"ddp_{dump}_rank1.npz"),
        )
        assert set(chief) == set(other)
        for key in chief:  # one model: the replicas are bit-identical
            np.testing.assert_array_equal(chief[key], other[key], err_msg=f"{dump}: {key}")
    assert any("moving_mean" in key for key in _load(tmp_path / "ddp_bn_rank1.npz"))
    for dump in ("first", "resumed", "ext", "legs"):
        ddp, one = (
            _load(tmp_path / f"ddp_{dump}_rank0.npz"),
            _load(tmp_path / f"one_{dump}_rank0.npz"),
        )
        assert set(ddp) == set(one)
        if dump == "ext":
            assert any(key.startswith("ext/discriminator_a/") for key in ddp)
        for key in ddp:  # weights, optimizer slots, the reported (mean) losses
            np.testing.assert_allclose(ddp[key], one[key], err_msg=f"{dump}: {key}", **TOLERANCE)

    state = tomllib.loads((tmp_path / "ddp" / "state.toml").read_text())
    assert state["iterations"] == 5 and len(state["sessions"]) == 2
    assert state["sessions"][-1] | {"distributed": "ddp", "replicas": 2} == state["sessions"][-1]
    scratch = [line for line in output.splitlines() if "Training 'tiny' in" in line]
    assert any(str(tmp_path / "ddp") in line for line in scratch)
    others = [
        line.split(" in ", 1)[1].split(" from ")[0] for line in scratch if "fs_worker1_" in line
    ]
    assert others and not any(Path(folder).exists() for folder in others)


# ------------------------------------------------------------------------------ one-line errors


def test_ddp_is_refused_on_tensorflow_naming_torch():
    with pytest.raises(FsUserError, match=r"-d ddp is PyTorch's .*--backend torch"):
        make_distribution("ddp")


def test_auto_takes_torch_for_ddp_unless_keras_backend_names_one():
    auto = BackendAsked("auto", "default")
    chosen = for_strategy(auto, "ddp", environ={}, installed=lambda name: True)
    assert chosen == BackendAsked("torch", "-d ddp")
    assert for_strategy(auto, "ddp", environ={"KERAS_BACKEND": "jax"}) == auto
    assert for_strategy(auto, "mirrored", environ={}) == auto
    named = BackendAsked("tensorflow", "--backend tensorflow")
    assert for_strategy(named, "ddp", environ={}) == named
    with pytest.raises(FsUserError, match=r"fs-core\[torch\]"):
        for_strategy(auto, "ddp", environ={}, installed=lambda name: False)


def test_only_the_chief_locks_the_model_folder_and_auto_batch_is_refused(tmp_path):
    assert locks_model_folder("ddp", {"RANK": "0"}) and not locks_model_folder("ddp", {"RANK": "1"})
    assert locks_model_folder("default", {}) and not locks_model_folder("multi-worker", {})
    request = tiny_request(
        ("a", "b"), tmp_path / "m", tmp_path / "c.toml", distributed="ddp", auto_batch=True
    )
    with pytest.raises(FsUserError, match="--auto-batch cannot retry under -d ddp"):
        validate_request(request)


@pytest.mark.slow
def test_the_cli_says_how_to_launch_ddp_and_what_torch_offers_instead(faces, tmp_path):
    """``fs train -d ddp`` outside torchrun (auto takes torch for it), and ``-d mirrored`` on
    torch: exit 1 with one line each, and the model folder is left as it was."""
    common = ["train", "-A", str(faces[0]), "-B", str(faces[1]), "-b", "4"]
    script = (
        "import sys\nfrom fs_core.cli.main import main\n"
        f"codes = [main({common + ['-m', str(tmp_path / 'a'), '-d', 'ddp']!r}), "
        f"main({common + ['-m', str(tmp_path / 'b'), '-d', 'mirrored', '--backend', 'torch']!r})]\n"
        "print('CODES', codes)\n"
    )
    output = _finish(_start(["-c", script], tmp_path, keras_backend=None), timeout=300)
    errors = [line for line in output.splitlines() if line.startswith("fs train: error:")]
    assert "CODES [1, 1]" in output and len(errors) == 2, output[-3000:]
    assert "torchrun --nproc_per_node=N -m fs_core train ... -d ddp" in errors[0]
    assert "MASTER_ADDR" in errors[0]
    assert "-d mirrored is TensorFlow's" in errors[1] and "-d ddp" in errors[1]
    assert "Backend: torch (-d ddp)" in output
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
