"""fs on Keras' JAX backend (``fs_core.backend.jax``), each check in a subprocess with
``KERAS_BACKEND=jax`` (this process runs TensorFlow); skipped where JAX is not installed.

The optimizers, clippers and loss scaling are compared with TensorFlow's step on the same
gradients (``tests/backend_steps.py``); a tiny model trains, saves and resumes on JAX; a model
trained on TensorFlow goes on on JAX with every weight and the optimizer's state; the loss pack's
backend-neutral reference values hold on JAX.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from fs_core.record import face_losses

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="JAX is not installed"
)

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ["-t", "lightweight", "-b", "2", "--seed", "1", "-n"]


def _env(name: str) -> dict[str, str]:
    env = dict(os.environ, KERAS_BACKEND=name, TF_CPP_MIN_LOG_LEVEL="3")
    paths = [str(ROOT), str(ROOT / "fs_plugins_models"), str(ROOT / "fs_plugins_losses")]
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    return env


def _run(backend: str, *args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [sys.executable, *args],
        check=False,
        env=_env(backend),
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _fs(backend: str, *args: str) -> str:
    return _run(backend, "-m", "fs_core.cli.main", *args)


def _weights(model: Path) -> dict[str, np.ndarray]:
    from fs_core.model.weights import read_weights

    return read_weights(model / "weights.h5")[0]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    _fs("jax", "demo-data", str(folder), "--count", "6", "--size", "64")
    return folder


def _train(backend: str, demo: Path, model: Path, iterations: int) -> str:
    return _fs(
        backend,
        "train",
        "-A",
        str(demo / "A"),
        "-B",
        str(demo / "B"),
        "-m",
        str(model),
        "-i",
        str(iterations),
        "-s",
        "100",
        "-C",
        str(_float32_config(model.parent)),
        *TRAIN,
    )


def _float32_config(folder: Path) -> Path:
    path = folder / "float32.toml"
    path.write_text('[global]\nmixed_precision = "none"\n')
    return path


#: on JAX: Adam built over variables shaped as the saved slots, its state loaded from the file,
#: every optimizer variable equal to the saved array
CARRY = """
import sys
import keras
import numpy as np
from fs_core.builtins.optimizers import FsAdam
from fs_core.model.weights import load_optimizer_state, read_weights, _saved_index

arrays = {k.split("/", 1)[1]: v for k, v in read_weights(sys.argv[1])[0].items()
          if k.startswith("optimizer/")}
names = sorted(arrays, key=_saved_index)  # iteration, learning rate, then m and v per weight
optimizer = FsAdam()
optimizer.build([keras.Variable(arrays[name]) for name in names[2::2]])
assert load_optimizer_state(sys.argv[1], optimizer)
assert len(optimizer.variables) == len(names)
for variable, name in zip(optimizer.variables, names):
    assert np.array_equal(np.asarray(variable), arrays[name]), name
"""


def test_the_jax_step_applies_every_optimizer_clipper_and_loss_scaling_as_tensorflow(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    import backend_steps

    out = tmp_path / "jax.npz"
    _run("jax", str(Path(__file__).parent / "backend_steps.py"), str(out))
    on_jax = dict(np.load(out))
    on_tensorflow = backend_steps.run_all()
    assert set(on_jax) == set(on_tensorflow)
    different = [
        key
        for key in sorted(on_tensorflow)
        if key not in ("helpers|keep_fraction", "dropout|masks_differ", "dropout|order_kept")
        and not np.allclose(on_jax[key], on_tensorflow[key], rtol=1e-5, atol=1e-5)
    ]
    assert not different
    assert bool(on_jax["dropout|masks_differ"]) and bool(on_jax["dropout|order_kept"])
    # LR dropout's masks: other numbers than TensorFlow's (another generator), the same rate
    assert abs(float(on_jax["helpers|keep_fraction"]) - 0.75) < 0.05


@pytest.mark.slow
def test_a_model_trains_saves_and_resumes_on_jax(demo, tmp_path):
    model = tmp_path / "m"
    out = _train("jax", demo, model, 2)
    assert "Stopped at iteration 2" in out
    out = _train("jax", demo, model, 1)
    assert "Optimizer state restored" in out and "Stopped at iteration 3" in out
    assert tomllib.loads((model / "state.toml").read_text())["iterations"] == 3
    # each face's loss came out of the jitted step and was carried over into the second run
    table = face_losses.read(model)
    assert table is not None and table.iteration == 3
    assert [int(side.seen.sum()) for side in table.sides.values()] == [3 * 2, 3 * 2]


@pytest.mark.slow
def test_a_model_switches_from_tensorflow_to_jax_with_its_weights_and_optimizer_state(
    demo, tmp_path
):
    straight, switched = tmp_path / "tf4", tmp_path / "tf2jax2"
    _train("tensorflow", demo, straight, 4)
    _train("tensorflow", demo, switched, 2)
    at_switch = _weights(switched)
    # the TensorFlow save's optimizer state loads on JAX value for value
    _run("jax", "-c", CARRY, str(switched / "weights.h5"))
    _train("jax", demo, switched, 2)
    expected, got = _weights(straight), _weights(switched)
    assert set(expected) == set(got)
    assert any(not np.array_equal(at_switch[key], got[key]) for key in got)  # JAX trained
    # float32: JAX convolves in another order, and Adam's m / √v turns the rounding of a
    # near-zero gradient into up to a whole step (lr = 5e-5) of difference in a few weights
    for key in expected:
        if "iteration" in key:
            assert int(got[key]) == int(expected[key]) == 4
            continue
        close = np.isclose(got[key], expected[key], rtol=1e-4, atol=1e-5)
        assert close.mean() > 0.99, key
        assert np.max(np.abs(got[key] - expected[key])) < 2 * 2 * 5e-5, key


@pytest.mark.slow
def test_every_training_extension_trains_on_jax_and_reports_in_tensorflows_order(demo, tmp_path):
    config = tmp_path / "extensions.toml"
    config.write_text(
        "[global]\nmixed_precision = 'none'\n[global.mask]\nmask_type = 'components'\n"
        "[training_step]\ngan_power = 0.1\ngan_sides = 'ab'\ntrue_face_power = 0.01\n"
        "lr_dropout = 0.3\nface_style_power = 10.0\nbg_style_power = 10.0\n"
    )
    faces = ["-A", str(demo / "A"), "-B", str(demo / "B")]
    out = _fs(
        "jax", "train", *faces, "-m", str(tmp_path / "m"), "-i", "1", "-C", str(config), *TRAIN
    )
    status = [line for line in out.splitlines() if "[#000001]" in line][-1]
    names = [part.split(":")[0].strip() for part in status.split("|")[1:-1]]
    assert names == [
        "Loss A",
        "Loss B",
        "gan_a",
        "gan_b",
        "discriminator_a",
        "discriminator_b",
        "true_face",
        "code_discriminator",
        "face_style",
        "bg_style",
    ]


@pytest.mark.slow
def test_the_loss_pack_matches_its_reference_values_on_jax():
    out = _run(
        "jax",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        str(ROOT / "fs_plugins_losses" / "tests" / "test_backend_neutral.py"),
        cwd=ROOT / "fs_plugins_losses" / "tests",
    )
    assert " passed" in out and " failed" not in out
