"""Every model of the pack trains on demo data through `fs train` at a small setting (issue 3)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib

import pytest
import tomli_w

from fs_core.backend.detect import installed
from fs_core.cli.main import main

SMALL = {
    "original": {"lowmem": True},
    "lightweight": {},
    "iae": {},
    "dfaker": {},
    "unbalanced": {
        "input_size": 64,
        "nodes": 512,
        "complexity_encoder": 64,
        "complexity_decoder_a": 64,
        "complexity_decoder_b": 64,
    },
    "dfl_h128": {"lowmem": True},
    "dfl_sae": {
        "input_size": 64,
        "architecture": "liae",
        "encoder_dims": 21,
        "decoder_dims": 10,
        "autoencoder_dims": 64,
        "multiscale_decoder": True,
    },
    "villain": {"lowmem": True},
    "realface": {"input_size": 64, "output_size": 64, "dense_nodes": 768, "complexity_encoder": 96},
    "dlight": {"features": "lowmem", "details": "fast", "output_size": 128},
    "phaze_a": {
        "output_size": 64,
        "fc_min_filters": 128,
        "fc_max_filters": 128,
        "fc_upsample_filters": 128,
        "dec_max_filters": 256,
        "dec_min_filters": 32,
        "fs_original_min_filters": 16,
        "fs_original_max_filters": 256,
        "bottleneck_size": 128,
        "fc_gblock_min_nodes": 128,
        "fc_gblock_max_nodes": 128,
    },
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo-data", str(out), "--count", "4", "--size", "256"]) == 0
    return out


def _fs(*args: str, backend: str | None = None) -> subprocess.CompletedProcess:
    """Each model trains in its own process, as a user runs it (and its memory is returned); on
    ``backend`` when given (a process's Keras backend is fixed when Keras is first imported)."""
    environment = dict(os.environ, KERAS_BACKEND=backend) if backend else None
    return subprocess.run(
        [sys.executable, "-m", "fs_core", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
        env=environment,
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMALL))
def test_model_trains_through_the_cli(name, demo, tmp_path):
    config = tmp_path / "fs.toml"
    config.write_text(
        tomli_w.dumps(
            {
                "global": {"save_optimizer": "never"},  # smaller files
                "model": {name: SMALL[name]},
            }
        )
    )
    model = tmp_path / "m"
    args = [
        "train",
        "-A",
        str(demo / "A"),
        "-B",
        str(demo / "B"),
        "-m",
        str(model),
        "-t",
        name,
        "-b",
        "2",
        "-i",
        "2",
        "-C",
        str(config),
        "-n",
        "--seed",
        "0",
    ]
    result = _fs(*args)
    assert result.returncode == 0, result.stderr[-2000:]
    state = tomllib.loads((model / "state.toml").read_text())
    assert state["iterations"] == 2 and state["model"]["name"] == name


#: a model of another family of layers on each backend (DeepFaceLab's on torch, Phaze-A's on JAX;
#: the classic blocks, as Lightweight, pass the model check on both in test_models_backends.py):
#: every model on every backend is bench/check_backends_models.py's table, too slow for each CI run
FAMILY_ON_BACKEND = (("dfl_sae", "torch"), ("phaze_a", "jax"))


@pytest.mark.slow
@pytest.mark.parametrize(("name", "backend"), FAMILY_ON_BACKEND)
def test_a_model_of_another_family_trains_and_saves_on_torch_and_jax(name, backend, demo, tmp_path):
    if not installed(backend):
        pytest.skip(f"{backend} is not installed")
    config = tmp_path / "fs.toml"
    config.write_text(
        tomli_w.dumps(
            {
                "global": {"save_optimizer": "never", "mixed_precision": "none"},
                "model": {name: SMALL[name]},
            }
        )
    )
    model = tmp_path / "m"
    result = _fs(
        "train", "--backend", backend, "-A", str(demo / "A"), "-B", str(demo / "B"),
        "-m", str(model), "-t", name, "-b", "1", "-i", "1", "-C", str(config), "-n",
        backend=backend,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    state = tomllib.loads((model / "state.toml").read_text())
    assert state["iterations"] == 1 and (model / "weights.h5").exists()
