"""Plugins that run on some Keras backends only: the declaration, the refusal of ``fs train`` on
another backend, ``fs plugins``' column, and ``check_on_backends`` telling a pack author which
backends a plugin breaks on."""

from __future__ import annotations

import os
import types
from pathlib import Path

import attrs
import pytest
import tomli_w
from test_packs import TINY_MODEL, fs_plugins_json, write_pack

from fs_core import hookimpl, plugin_manager
from fs_core.backend import SUPPORTED
from fs_core.backend.detect import installed
from fs_core.cli.main import main
from fs_core.config import Config
from fs_core.descriptors import KERAS_BACKENDS, LossDescriptor
from fs_core.errors import FsUserError
from fs_core.plugin_manager import load_registry
from fs_core.testing import BackendCheckError, check_on_backends
from fs_core.training.plugin_backends import check_plugin_backends, plugins_in_use

# a pack whose model runs on JAX only (fs_backends) and whose losses say what they run on
JAX_PACK = (
    TINY_MODEL
    + """
@fs_core.hookimpl
def fs_backends():
    return ["jax"]

@fs_core.hookimpl
def fs_models():
    return [ModelDescriptor(name="jax_tiny", help="JAX only", config_class=Config, build=build)]
"""
)
LOSS_PACK = """
@fs_core.hookimpl
def fs_losses():
    return [
        LossDescriptor(name="not_tf_l1", per_pixel=True, backends=("torch", "jax"),
                       function=lambda t, p: keras.ops.abs(t - p)),
        LossDescriptor(name="tf_only_l1", per_pixel=True, backends="tensorflow",
                       function=lambda t, p: tf.abs(t - p)),
    ]
"""


@pytest.fixture
def packs_site(tmp_path, monkeypatch) -> Path:
    """A folder on sys.path for fake packs (as test_packs' ``site``); ``fs`` run in-process
    loads a fresh registry."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setattr(plugin_manager, "_CACHE", {})
    monkeypatch.delenv(plugin_manager.DISABLE_ENV, raising=False)
    return root


def _module(name: str, **functions) -> types.ModuleType:
    module = types.ModuleType(name)
    for key, value in functions.items():
        setattr(module, key, value)
    return module


def test_the_backend_names_are_the_ones_fs_trains_on():
    assert KERAS_BACKENDS == SUPPORTED


@pytest.mark.parametrize("declared", [(), ("tf",), ("torch", "torch"), ["numpy"]])
def test_a_descriptor_naming_no_or_unknown_backends_is_refused(declared):
    with pytest.raises(ValueError, match="backends must name one or more of tensorflow, torch"):
        LossDescriptor("x", abs, True, backends=declared)


def test_an_item_narrows_its_packs_backends_and_a_bad_declaration_is_reported():
    @hookimpl
    def fs_backends():
        return ["tensorflow", "torch"]

    @hookimpl
    def fs_losses():
        return [
            LossDescriptor("pack_wide", abs, True),
            LossDescriptor("narrowed", abs, True, backends=("torch", "jax")),
        ]

    @hookimpl
    def bad_backends():
        return "tensorflow"  # a string, not a list

    @hookimpl
    def bad_losses():
        return [LossDescriptor("never", abs, True)]

    @hookimpl
    def disjoint_losses():
        return [LossDescriptor("disjoint", abs, True, backends=("jax",))]

    registry = load_registry(
        builtins=(),
        entry_points=False,
        extra_plugins={
            "narrow": _module("narrow", fs_backends=fs_backends, fs_losses=fs_losses),
            "bad": _module("bad", fs_backends=bad_backends, fs_losses=bad_losses),
            "disjoint": _module("disjoint", fs_backends=fs_backends, fs_losses=disjoint_losses),
        },
    )
    assert registry.backends_of("loss", "pack_wide") == ("tensorflow", "torch")
    assert registry.backends_of("loss", "narrowed") == ("torch",)
    assert set(registry.losses) == {"pack_wide", "narrowed"}
    reasons = {f.name: f.reason for f in registry.failures}
    assert "must return a list of backend names" in reasons["bad"]
    assert (
        "none of which the plugin's fs_backends (tensorflow, torch) allows" in reasons["disjoint"]
    )


def test_the_plugins_a_run_uses_are_its_model_weighted_losses_optimizer_and_switches(registry):
    config = Config()
    config.loss = attrs.evolve(config.loss, loss_function="mae", loss_function_3="ssim")
    config.global_ = attrs.evolve(config.global_, icnr_init=True)
    used = plugins_in_use(registry, config, "tiny")
    assert used[:3] == [("model", "tiny"), ("loss", "mae"), ("loss", "mse")]  # ssim: weight 0
    assert ("optimizer", config.global_.optimizer) in used and ("initializer", "icnr") in used
    assert ("initializer", "conv_aware") not in used
    assert any(kind == "augmenter" for kind, _ in used)


def test_a_loss_for_other_backends_is_refused_in_one_line_naming_it_and_its_pack():
    @hookimpl
    def fs_losses():
        return [LossDescriptor("torch_l1", abs, True, backends=("torch", "jax"))]

    registry = load_registry(
        entry_points=False, extra_plugins={"torch_pack": _module("torch_pack", fs_losses=fs_losses)}
    )
    config = Config()
    config.loss = attrs.evolve(config.loss, loss_function="torch_l1", loss_function_2="none")
    with pytest.raises(FsUserError) as caught:
        check_plugin_backends(registry, config, "tiny", "tensorflow")
    assert caught.value.one_line() == (
        "loss 'torch_l1' (torch_pack 0) runs on torch, jax only, and this run is on "
        "tensorflow: --backend torch or --backend jax"
    )
    check_plugin_backends(registry, config, "tiny", "jax")  # its own backend: no error


def test_fs_train_stops_before_building_a_model_its_backend_cannot_run(
    packs_site, faces, tmp_path, capsys
):
    write_pack(packs_site, "fs-jax-pack", JAX_PACK)
    model = tmp_path / "model"
    code = main(
        [
            "train",
            "-A",
            str(faces[0]),
            "-B",
            str(faces[1]),
            "-m",
            str(model),
            "-t",
            "jax_tiny",
            "-b",
            "2",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1] == (
        "fs train: error: model 'jax_tiny' (fs-jax-pack 0.1.0) runs on jax only, and this run "
        "is on tensorflow: --backend jax"
    )
    assert not (model / "weights.h5").exists()


def test_fs_train_names_every_refused_plugin_in_its_one_line(packs_site, faces, tmp_path, capsys):
    write_pack(packs_site, "fs-jax-pack", JAX_PACK)
    write_pack(packs_site, "fs-loss-pack", LOSS_PACK)
    config = tmp_path / "fs.toml"
    config.write_text(tomli_w.dumps({"global": {"loss": {"loss_function": "not_tf_l1"}}}))
    args = ["train", "-A", str(faces[0]), "-B", str(faces[1]), "-m", str(tmp_path / "m"), "-b", "2"]
    assert main([*args, "-t", "jax_tiny", "-C", str(config)]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "fs train: error: model 'jax_tiny' (fs-jax-pack 0.1.0) runs on jax only; loss "
        "'not_tf_l1' (fs-loss-pack 0.1.0) runs on torch, jax only, and this run is on "
        "tensorflow: --backend jax"
    )


def test_a_schedule_stage_using_such_a_plugin_is_refused_before_the_first_stage(
    packs_site, faces, tmp_path, capsys
):
    write_pack(packs_site, "fs-loss-pack", LOSS_PACK)
    schedule = tmp_path / "recipe.toml"
    schedule.write_text(
        "[[stage]]\nat = 0\n[stage.set]\nbatch_size = 2\n\n"
        '[[stage]]\nat = 1000\n[stage.set]\n"global.loss.loss_function" = "not_tf_l1"\n'
    )
    model = tmp_path / "m"
    args = ["train", "-A", str(faces[0]), "-B", str(faces[1]), "-m", str(model), "-t", "original"]
    assert main([*args, "--schedule", str(schedule)]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "fs train: error: loss 'not_tf_l1' (fs-loss-pack 0.1.0) runs on torch, jax only, and "
        "this run is on tensorflow: --backend torch or --backend jax"
    )
    assert not (model / "state.toml").exists()


def test_building_a_model_of_other_backends_is_refused_outside_training_too(packs_site):
    from fs_core.model.build import build_from_config

    write_pack(packs_site, "fs-jax-pack", JAX_PACK)
    registry = load_registry()
    with pytest.raises(FsUserError) as caught:
        build_from_config(registry, "jax_tiny", Config())
    assert caught.value.one_line() == (
        "model 'jax_tiny' (from fs-jax-pack 0.1.0) runs on jax only, and this process runs "
        "Keras on tensorflow: start fs with KERAS_BACKEND=jax"
    )


def test_fs_plugins_shows_the_declared_backends(packs_site, capsys):
    write_pack(packs_site, "fs-loss-pack", LOSS_PACK)
    write_pack(packs_site, "fs-jax-pack", JAX_PACK)
    rows = {(r["kind"], r["name"]): r for r in fs_plugins_json(capsys)["plugins"]}
    assert rows["loss", "not_tf_l1"]["backends"] == ["torch", "jax"]
    assert rows["loss", "tf_only_l1"]["backends"] == ["tensorflow"]
    assert rows["model", "jax_tiny"]["backends"] == ["jax"]
    assert rows["loss", "mae"]["backends"] is None  # declares none: every backend
    assert main(["plugins"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "BACKENDS" in lines[0]
    assert " torch,jax " in next(line for line in lines if " not_tf_l1 " in line)
    assert " all " in next(line for line in lines if line.startswith("loss") and " mae " in line)


# ------------------------------------------------------------------------- check_on_backends

CHECKED_PACK = """
@fs_core.hookimpl
def fs_losses():
    return [
        LossDescriptor(name="ops_l1", per_pixel=True, function=lambda t, p: keras.ops.abs(t - p)),
        # undeclared, yet TensorFlow's own op: fine on TensorFlow, broken elsewhere
        LossDescriptor(name="tf_l1", per_pixel=True, function=lambda t, p: tf.abs(t - p)),
        LossDescriptor(name="declared_tf_l1", per_pixel=True, backends=("tensorflow",),
                       function=lambda t, p: tf.abs(t - p)),
    ]
"""
OTHER = next((name for name in ("torch", "jax") if installed(name)), None)


@pytest.mark.skipif(OTHER is None, reason="neither PyTorch nor JAX is installed")
def test_check_on_backends_reports_the_backend_a_loss_breaks_on(packs_site, monkeypatch):
    write_pack(packs_site, "fs-checked-pack", CHECKED_PACK)
    # the check's own process sees the pack through its entry point, as fs does
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(packs_site), os.environ.get("PYTHONPATH", "")])
    )
    names = ["ops_l1", "tf_l1", "declared_tf_l1"]
    report = check_on_backends(
        "loss", names, backends=("tensorflow", OTHER), size=16, raise_on_failure=False
    )
    assert [report.status(n, "tensorflow") for n in names] == ["passed"] * 3, report.describe()
    assert report.status("ops_l1", OTHER) == "passed", report.describe()
    assert report.status("tf_l1", OTHER) == "failed"
    assert report.status("declared_tf_l1", OTHER) == "skipped"
    assert len(report.of("failed")[0].detail) > 10  # the failure's own text, e.g. the exception


def test_check_on_backends_raises_naming_each_backend_and_its_failure_text(monkeypatch):
    monkeypatch.setattr("fs_core.testing_backends.installed", lambda name: True)
    monkeypatch.setattr(
        "fs_core.testing_backends._run_child",
        lambda backend, spec, timeout: {n: ("failed", f"boom on {backend}") for n in spec["names"]},
    )
    with pytest.raises(BackendCheckError) as caught:
        check_on_backends("loss", "mae", backends=("torch", "jax"))
    assert str(caught.value) == (
        "loss 'mae' fails on torch: boom on torch; loss 'mae' fails on jax: boom on jax"
    )


def test_check_on_backends_skips_what_is_not_installed_or_not_declared(monkeypatch):
    monkeypatch.setattr("fs_core.testing_backends.installed", lambda name: name == "tensorflow")
    report = check_on_backends("loss", "mae", raise_on_failure=False, size=16)
    assert [(o.backend, o.status, o.detail) for o in report.outcomes] == [
        ("tensorflow", "passed", ""),
        ("torch", "skipped", "not installed"),
        ("jax", "skipped", "not installed"),
    ]
