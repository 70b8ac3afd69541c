"""The plugin manager: built-ins and packs registered alike, broken packs skipped, clashes named."""

from __future__ import annotations

import types

import pytest

from fs_core import hookimpl
from fs_core.descriptors import LossDescriptor
from fs_core.errors import FsUserError
from fs_core.plugin_manager import load_registry


def _module(name: str, **functions) -> types.ModuleType:
    module = types.ModuleType(name)
    for key, value in functions.items():
        setattr(module, key, value)
    return module


def _loss_plugin(name: str, loss_name: str) -> types.ModuleType:
    @hookimpl
    def fs_losses():
        return [LossDescriptor(name=loss_name, per_pixel=True, function=lambda t, p: t - p)]

    return _module(name, fs_losses=fs_losses)


def test_builtins_and_packs_are_listed_with_their_distribution(registry):
    assert {"he_uniform", "icnr", "conv_aware"} <= set(registry.initializers)
    assert "tiny" in registry.models and "tiny_l1" in registry.losses
    by_name = {info.name: info for info in registry.plugins}
    assert by_name["fs_core.builtins.initializers"].distribution == "fs-core"
    assert ("model", "tiny") in by_name["tiny_plugin"].provides


def test_installed_packs_register_through_entry_points(registry):
    distributions = {info.distribution for info in registry.plugins}
    assert "fs-plugins-losses" in distributions
    assert {"mae", "mse", "ssim"} <= set(registry.losses)


def test_a_hook_that_raises_is_reported_and_skipped():
    @hookimpl
    def fs_losses():
        raise RuntimeError("boom")

    broken = _module("broken_pack", fs_losses=fs_losses)
    reg = load_registry(
        builtins=(),
        entry_points=False,
        extra_plugins={"broken_pack": broken, "good": _loss_plugin("good", "fine")},
    )
    assert "fine" in reg.losses
    assert any(f.name == "broken_pack" and "boom" in f.reason for f in reg.failures)


def test_a_hook_returning_the_wrong_type_is_reported():
    @hookimpl
    def fs_losses():
        return ["not a descriptor"]

    reg = load_registry(
        builtins=(),
        entry_points=False,
        extra_plugins={"wrong": _module("wrong", fs_losses=fs_losses)},
    )
    assert not reg.losses
    assert any("LossDescriptor" in f.reason for f in reg.failures)


def test_losses_not_provided_are_declared_through_their_hook(registry):
    assert "pretrained" in registry.losses_not_provided["lpips_vgg16"]  # the losses pack's

    @hookimpl
    def fs_losses_not_provided():
        return {"fancy": "needs weights fs does not ship"}

    @hookimpl
    def bad_declaration():
        return {"fancy2": 3}

    reg = load_registry(
        builtins=(),
        entry_points=False,
        extra_plugins={
            "declares": _module("declares", fs_losses_not_provided=fs_losses_not_provided),
            "bad": _module("bad", fs_losses_not_provided=bad_declaration),
        },
    )
    assert reg.losses_not_provided == {"fancy": "needs weights fs does not ship"}
    assert any(f.name == "bad" and "dict of loss name" in f.reason for f in reg.failures)


def test_registry_queries(registry):
    assert registry.provider("model", "tiny").name == "tiny_plugin"
    assert registry.provider("loss", "mae").distribution == "fs-plugins-losses"
    assert registry.provider("model", "nope") is None
    assert registry.model_config_classes()["tiny"] is registry.models["tiny"].config_class
    assert registry.of_kind("convert_writer") is registry.convert_writers


def test_an_unknown_hook_name_is_reported_not_fatal():
    @hookimpl
    def fs_not_a_hook():
        return []

    reg = load_registry(
        builtins=(),
        entry_points=False,
        extra_plugins={"odd": _module("odd", fs_not_a_hook=fs_not_a_hook)},
    )
    assert any(f.name == "odd" and "fs_not_a_hook" in f.reason for f in reg.failures)
    assert "odd" not in {info.name for info in reg.plugins}


def test_two_plugins_with_the_same_name_is_an_error_naming_both():
    with pytest.raises(FsUserError, match=r"first_pack.*second_pack"):
        load_registry(
            builtins=(),
            entry_points=False,
            extra_plugins={
                "first_pack": _loss_plugin("first_pack", "dup"),
                "second_pack": _loss_plugin("second_pack", "dup"),
            },
        )


def test_disabled_names_are_blocked(monkeypatch):
    monkeypatch.setenv("FS_DISABLE_PLUGINS", "fs_plugins_losses")
    reg = load_registry()
    assert "mae" not in reg.losses
    assert "fs_plugins_losses" in reg.disabled


def test_a_builtin_that_fails_to_import_is_reported(tmp_path, monkeypatch):
    (tmp_path / "bad_builtin.py").write_text("raise ImportError('missing dependency xyz')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = load_registry(builtins=("bad_builtin",), entry_points=False)
    assert any(f.name == "bad_builtin" and "xyz" in f.reason for f in reg.failures)
