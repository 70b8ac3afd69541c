"""Distribution strategies (-d) and device options (-X, allow_growth).

Runs that need several devices happen in fresh processes (``distribute_helper.py``): CPU:0 is split
into two logical devices, or two worker processes talk over loopback, before TensorFlow starts.
The numerical checks use Adam with epsilon = 1e-3, the size of the tiny model's gradients, so the
update depends on the gradient's scale: a wrongly scaled or wrongly clipped gradient shows up in
the weights (measured: relative update error 7e-7 when right; 0.56 without the 1/replicas loss
scale, 0.44 when clipping each replica's share) instead of being normalised away.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from fs_core.errors import FsUserError
from fs_core.model.weights import read_weights
from fs_core.training import strategy as st
from fs_core.training.run import run_train
from fs_core.training.session import TrainRequest, prepare_session

HELPER = Path(__file__).with_name("distribute_helper.py")
FAST = (
    "[global]\nepsilon_exponent = -3\nlearning_rate = 1e-4\n{extra}"
    "[global.loss]\nloss_function = 'mae'\nloss_function_2 = 'none'\n"
    "penalized_mask_loss = false\n[global.mask]\nmask_type = 'none'\n"
)


def _config(folder: Path, name: str, extra: str = "") -> Path:
    # float32 unless a case asks otherwise: "auto" picks bfloat16 on CPUs with AMX, whose
    # rounding differs between one device and two replicas far beyond the test's tolerance
    if "mixed_precision" not in extra:
        extra = "mixed_precision = 'none'\n" + extra
    path = folder / f"{name}.toml"
    path.write_text(FAST.format(extra=extra))
    return path


def _fields(faces, model_dir, config, **changes) -> dict:
    values = dict(
        input_a=str(faces[0]),
        input_b=str(faces[1]),
        model_dir=str(model_dir),
        model_name="tiny",
        batch_size=4,
        iterations=1,
        save_interval=100,
        config_path=str(config),
        seed=3,
    )
    values.update(changes)
    return values


def _helper(args: list[str], env: dict | None = None) -> subprocess.Popen:
    environment = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    environment.update(TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
    return subprocess.Popen(
        [sys.executable, str(HELPER), *args],
        env=environment,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _finish(process: subprocess.Popen, timeout: float = 240) -> tuple[int, list[dict], str]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"distribute helper timed out\n{out}\n{err[-3000:]}")
    results = [
        json.loads(line[len("RESULT ") :])
        for line in out.splitlines()
        if line.startswith("RESULT ")
    ]
    return process.returncode, results, out + err


def _weights(model_dir: Path) -> dict[str, np.ndarray]:
    values, _ = read_weights(model_dir / "weights.h5")
    return {k: v for k, v in values.items() if not k.startswith("optimizer/")}


def _assert_same_update(initial: dict, expected: dict, actual: dict) -> None:
    """The weight change of ``actual`` equals that of ``expected`` to float tolerance."""
    delta_e = np.concatenate([(expected[k] - initial[k]).ravel() for k in sorted(initial)])
    delta_a = np.concatenate([(actual[k] - initial[k]).ravel() for k in sorted(initial)])
    assert np.abs(delta_e).max() > 1e-7  # the step did change the weights
    error = np.linalg.norm(delta_a - delta_e) / np.linalg.norm(delta_e)
    assert error < 1e-3, f"relative difference of the updates: {error:.2e}"


def _initial_weights(registry, fields: dict) -> dict[str, np.ndarray]:
    """The weights a seeded run starts from (prepare_session builds without writing anything)."""
    from fs_core.model.weights import model_groups

    session = prepare_session(TrainRequest(**fields), registry, lambda s: None)
    return {
        f"{part}/{path}": np.asarray(variable.numpy())
        for part, items in model_groups(session.model).items()
        for path, variable in items
    }


# ------------------------------------------------------------------------ options, in process


def test_gpu_ids_parse_as_faceswap_and_comma_lists():
    assert st.parse_gpu_ids(None) == ()
    assert st.parse_gpu_ids(["0", "2"]) == (0, 2)
    assert st.parse_gpu_ids(["1,3", "1"]) == (1, 3)
    with pytest.raises(FsUserError, match="exclude-gpus"):
        st.parse_gpu_ids(["gpu0"])


def test_unknown_strategy_is_refused_by_name():
    with pytest.raises(FsUserError, match="mirrored, central-storage, multi-worker"):
        st.make_distribution("horovod")


def test_mirrored_on_one_cpu_device_is_refused_clearly():
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU") or len(tf.config.list_logical_devices("CPU")) > 1:
        pytest.skip("this process has several devices")
    for name in ("mirrored", "central-storage"):
        with pytest.raises(FsUserError, match=r"no GPU is visible.*-d default"):
            st.make_distribution(name)


def test_excluding_a_gpu_this_machine_lacks_is_refused():
    import tensorflow as tf

    count = len(tf.config.list_physical_devices("GPU"))
    with pytest.raises(FsUserError, match=f"no GPU {count}"):
        st.configure_devices((count,))
    st.configure_devices((), allow_growth=False)  # nothing asked, nothing done


@pytest.mark.parametrize(
    "value, message",
    [
        (None, "needs TF_CONFIG"),
        ("{not json", "not valid JSON"),
        ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "worker", "index": 1}}', "index"),
        (
            '{"cluster": {"worker": ["h:1"], "ps": ["h:2"]}, '
            '"task": {"type": "worker", "index": 0}}',
            "remove ps",
        ),
        ('{"cluster": {}, "task": {"type": "worker", "index": 0}}', "worker list"),
    ],
)
def test_multi_worker_checks_tf_config(monkeypatch, value, message):
    if value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", value)
    with pytest.raises(FsUserError, match=message):
        st.make_distribution("multi-worker")


class _Replicas:
    """Just enough of a tf.distribute.Strategy for the batch arithmetic."""

    def __init__(self, replicas: int) -> None:
        self.num_replicas_in_sync = replicas


def test_batch_is_raised_to_a_multiple_of_the_replicas_and_split_between_workers():
    said = []
    three = st.Distribution("mirrored", _Replicas(3))
    assert three.global_batch(7, said.append) == 9 and "raised to 9" in said[0]
    assert three.global_batch(6, said.append) == 6 and len(said) == 1
    workers = st.Distribution("multi-worker", _Replicas(4), worker_index=1, worker_count=2)
    assert workers.local_batch(8) == 4 and workers.local_replicas == 2
    assert workers.loader_seed(10) == 11 and not workers.is_chief


class _Waits:
    """A strategy with a barrier that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def barrier(self) -> None:
        self.calls += 1


def test_barrier_waits_only_with_several_workers_and_a_strategy_that_has_one():
    several, alone = _Waits(), _Waits()
    st.Distribution("ddp", several, worker_index=1, worker_count=2).barrier()
    st.Distribution("ddp", alone, worker_index=0, worker_count=1).barrier()
    st.Distribution("multi-worker", _Replicas(2), worker_count=2).barrier()  # tf.distribute
    assert (several.calls, alone.calls) == (1, 0)


def test_replica_sum_clipper_is_the_clipper_outside_a_replica_context():
    import tensorflow as tf

    from fs_core.backend.tensorflow.clipping import GradientClipper
    from fs_core.backend.tensorflow.distribute import ReplicaSumClipper

    grads = [tf.constant([3.0, 4.0]), None]
    wrapped = ReplicaSumClipper(GradientClipper("global_norm", 1.0), replicas=2)
    clipped = wrapped(grads)
    assert clipped[1] is None
    np.testing.assert_allclose(clipped[0].numpy(), [0.6, 0.8], rtol=1e-6)


def test_default_run_records_the_strategy(registry, faces, tmp_path):
    model = tmp_path / "m"
    config = _config(tmp_path, "fast")
    assert (
        run_train(
            TrainRequest(**_fields(faces, model, config, iterations=1)), registry, lambda s: None
        )
        == "done"
    )
    session = tomllib.loads((model / "state.toml").read_text())["sessions"][-1]
    assert session["distributed"] == "default" and session["replicas"] == 1


def test_cli_refuses_an_unknown_strategy_in_one_line(faces, tmp_path, capsys):
    from fs_core.cli.main import main

    code = main(
        [
            "train",
            "-A",
            str(faces[0]),
            "-B",
            str(faces[1]),
            "-m",
            str(tmp_path / "m"),
            "-d",
            "horovod",
            "-i",
            "1",
            "-b",
            "2",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "-d/--distributed" in err[0]
    assert not (tmp_path / "m").exists()


# ----------------------------------------------------------------- several devices, subprocesses


@pytest.mark.slow
def test_mirrored_and_central_storage_steps_equal_one_device_step(registry, faces, tmp_path):
    """One step on 2 logical CPUs (global batch 4, 2 per replica) equals one default step on the
    same 4 faces: plain, with global-norm clipping (clips the global gradient, not a share), under
    central storage, and over three steps with AutoClip (its norm history is shared by the replicas)
    and with mixed_float16 loss scaling and clipping. A batch of 3 is raised to 4; the step is
    traced once."""
    plain = _config(tmp_path, "plain")
    clipped = _config(
        tmp_path, "clipped", "gradient_clipping = 'global_norm'\nclipping_value = 0.01\n"
    )
    fp16 = _config(
        tmp_path,
        "fp16",
        "mixed_precision = 'mixed_float16'\n"
        "gradient_clipping = 'global_norm'\nclipping_value = 0.01\n",
    )
    autoclip = _config(
        tmp_path, "autoclip", "gradient_clipping = 'autoclip'\nclipping_value = 1.0\n"
    )
    runs = {
        "mirrored": _fields(faces, tmp_path / "mirrored", plain, distributed="mirrored"),
        "clipped": _fields(faces, tmp_path / "clipped", clipped, distributed="mirrored"),
        "central": _fields(faces, tmp_path / "central", plain, distributed="central-storage"),
        "raised": _fields(
            faces, tmp_path / "raised", plain, distributed="mirrored", batch_size=3, iterations=3
        ),
        "fp16_default": _fields(faces, tmp_path / "fp16_default", fp16, iterations=3),
        "fp16_mirrored": _fields(
            faces, tmp_path / "fp16_mirrored", fp16, iterations=3, distributed="mirrored"
        ),
        "autoclip_default": _fields(faces, tmp_path / "autoclip_default", autoclip, iterations=3),
        "autoclip_mirrored": _fields(
            faces, tmp_path / "autoclip_mirrored", autoclip, iterations=3, distributed="mirrored"
        ),
    }
    process = _helper(["--cpus", "2", *(json.dumps(r) for r in runs.values())])
    # meanwhile, the same requests on one device in this process
    initial = _initial_weights(registry, _fields(faces, tmp_path / "unused", plain))
    for name, config in (("default", plain), ("default_clipped", clipped)):
        run_train(TrainRequest(**_fields(faces, tmp_path / name, config)), registry, lambda s: None)
    code, results, output = _finish(process)
    assert code == 0, output[-3000:]
    assert [r["reason"] for r in results] == ["done"] * len(runs)
    assert all(r["traces"] == 1 for r in results), results
    assert "Distributed training (mirrored: 2 replicas (CPU:0, CPU:1))" in output
    default, default_clipped = (
        _weights(tmp_path / "default"),
        _weights(tmp_path / "default_clipped"),
    )
    _assert_same_update(initial, default, _weights(tmp_path / "mirrored"))
    _assert_same_update(initial, default, _weights(tmp_path / "central"))
    _assert_same_update(initial, default_clipped, _weights(tmp_path / "clipped"))
    for name in ("fp16", "autoclip"):
        expected = _weights(tmp_path / f"{name}_default")
        for key, value in _weights(tmp_path / f"{name}_mirrored").items():
            np.testing.assert_allclose(
                value, expected[key], rtol=1e-5, atol=1e-7, err_msg=f"{name}: {key}"
            )
    assert "Batch size 3 raised to 4" in output
    state = tomllib.loads((tmp_path / "raised" / "state.toml").read_text())
    assert state["iterations"] == 3
    assert (
        state["sessions"][-1] | {"batch_size": 4, "distributed": "mirrored", "replicas": 2}
        == state["sessions"][-1]
    )


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.mark.slow
def test_multi_worker_trains_on_two_processes_and_only_the_chief_writes_the_model(faces, tmp_path):
    """Two workers on loopback, same seed, 2 iterations, global batch 4 (2 faces per worker).
    Both run the same steps and saves (collectives need that); worker 1 saves into a scratch
    folder it removes at the end, so the chief's model folder holds the one model."""
    workers = [f"localhost:{port}" for port in _free_ports(2)]
    model = tmp_path / "model"
    request = json.dumps(
        _fields(
            faces,
            model,
            _config(tmp_path, "plain"),
            iterations=2,
            save_interval=1,
            distributed="multi-worker",
        )
    )
    processes = [
        _helper(
            [request],
            env={
                "TF_CONFIG": json.dumps(
                    {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
                )
            },
        )
        for index in range(2)
    ]
    try:
        finished = [_finish(p, timeout=300) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    for code, _results, output in finished:
        assert code == 0, output[-3000:]
    chief, other = finished[0][1][0], finished[1][1][0]
    assert chief["reason"] == other["reason"] == "done"
    assert chief["checksum"] == pytest.approx(other["checksum"], rel=1e-6)  # one model, mirrored
    assert chief["batch_size"] == 4 and chief["local_batch_size"] == 2
    assert Path(chief["save_dir"]) == model
    assert Path(other["save_dir"]) != model and not Path(other["save_dir"]).exists()
    state = tomllib.loads((model / "state.toml").read_text())
    assert state["iterations"] == 2 and len(state["sessions"]) == 1
    assert state["sessions"][0]["distributed"] == "multi-worker"
    assert state["sessions"][0]["replicas"] == 2


@pytest.mark.slow
def test_multi_worker_without_tf_config_exits_1_with_one_line(faces, tmp_path):
    request = json.dumps(
        _fields(faces, tmp_path / "m", _config(tmp_path, "plain"), distributed="multi-worker")
    )
    code, _, output = _finish(_helper([request]), timeout=120)
    errors = [line for line in output.splitlines() if line.startswith("fs train: error:")]
    assert code == 1 and len(errors) == 1 and "TF_CONFIG" in errors[0]
