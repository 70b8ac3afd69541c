"""Third-party packs as authors and users meet them (issue 10).

The slow test installs ``examples/fs-plugin-example`` with pip, as a user would, and drives the
``fs`` command in fresh processes: it is listed, it trains, it is gone once removed. The fast tests
put small packs on ``sys.path`` as an installed distribution looks to Python (a module plus a
``*.dist-info`` folder with ``METADATA`` and ``entry_points.txt``) and check that each kind of
broken pack is reported naming it while the rest of fs keeps working, and that the
``fs_core.testing`` checks catch what they promise to.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import h5py
import pytest

import fs_core
from fs_core import plugin_manager
from fs_core.cli.main import main
from fs_core.errors import FsUserError
from fs_core.plugin_manager import load_registry
from fs_core.testing import PluginCheckError, check_loss_plugin, check_model_plugin

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "fs-plugin-example"

# a module body every fake pack starts from
HEADER = """
import attrs, keras
import tensorflow as tf
import fs_core
from fs_core.config.options import option
from fs_core.descriptors import LossDescriptor, ModelDescriptor
"""

TINY_MODEL = """
@attrs.define
class Config:
    width: int = option(4, "Filters.", min=1, max=8, locked=True)

def _part(name, inputs, outputs):
    return keras.Model(inputs, outputs, name=name)

def build(config, context):
    face = keras.Input((16, 16, 3))
    encoder = _part("encoder", face, keras.layers.Conv2D(config.width, 3, padding="same")(face))
    code = keras.Input((16, 16, config.width))
    def decoder(name):
        out = keras.layers.Conv2D(3, 3, padding="same")(code)
        outputs = [keras.layers.Activation("sigmoid", dtype="float32")(out)]
        if context.learn_mask:
            mask = keras.layers.Conv2D(1, 3, padding="same")(code)
            outputs.append(keras.layers.Activation("sigmoid", dtype="float32")(mask))
        return _part(name, code, outputs)
    a, b = keras.Input((16, 16, 3), name="face_in_a"), keras.Input((16, 16, 3), name="face_in_b")
    out_a = keras.tree.flatten(decoder("decoder_a")(encoder(a)))
    out_b = keras.tree.flatten(decoder("decoder_b")(encoder(b)))
    return keras.Model([a, b], out_a + out_b)
"""


def write_pack(
    root: Path,
    dist: str,
    *bodies: str,
    requires: tuple[str, ...] = (),
    version: str = "0.1.0",
    entry_name: str | None = None,
) -> str:
    """Install a one-module pack into ``root`` the way pip lays it out; returns the module name."""
    module = dist.replace("-", "_")
    sys.modules.pop(module, None)  # a module of the same name from an earlier test
    (root / f"{module}.py").write_text("".join(textwrap.dedent(b) for b in (HEADER, *bodies)))
    info = root / f"{module}-{version}.dist-info"
    info.mkdir()
    lines = ["Metadata-Version: 2.1", f"Name: {dist}", f"Version: {version}"]
    lines += [f"Requires-Dist: {requirement}" for requirement in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n")
    (info / "entry_points.txt").write_text(f"[fs_core]\n{entry_name or module} = {module}\n")
    return module


@pytest.fixture
def site(tmp_path, monkeypatch) -> Path:
    """A folder on sys.path for fake packs; `fs` commands run in-process see a fresh registry."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setattr(plugin_manager, "_CACHE", {})
    monkeypatch.delenv(plugin_manager.DISABLE_ENV, raising=False)
    return root


def fs_plugins_json(capsys, *args: str) -> dict:
    capsys.readouterr()
    assert main([*args, "plugins", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def assert_fs_still_works(registry) -> None:
    """The installed packs and built-ins are all there after a broken pack was skipped."""
    assert {"original", "lightweight"} <= set(registry.models)
    assert {"mae", "ssim"} <= set(registry.losses)
    assert {"he_uniform", "icnr"} <= set(registry.initializers)


# ------------------------------------------------------------------------------ broken packs


def test_a_pack_whose_hook_raises_is_reported_by_name_and_skipped_whole(site, capsys):
    module = write_pack(
        site,
        "fs-raising-pack",
        TINY_MODEL,
        """
        @fs_core.hookimpl
        def fs_models():
            raise RuntimeError("weights file missing")

        @fs_core.hookimpl
        def fs_losses():
            return [LossDescriptor("raising_loss", lambda t, p: tf.abs(t - p), per_pixel=True)]

        @fs_core.hookimpl
        def fs_train_start(session):
            raise AssertionError("a skipped pack must not see training")
        """,
    )
    registry = load_registry()
    failure = [f for f in registry.failures if f.name == module]
    assert failure and failure[0].distribution == "fs-raising-pack"
    assert "fs_models failed: weights file missing" in failure[0].reason
    assert "raising_loss" not in registry.losses  # no half-registered pack
    assert registry.manager.get_plugin(module) is None  # its lifecycle hooks are gone too
    assert_fs_still_works(registry)
    capsys.readouterr()
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert f"{module} (fs-raising-pack): fs_models failed: weights file missing" in out
    assert "original" in out


@pytest.mark.parametrize(
    "returned,reason",
    [
        ('["mae"]', "fs_losses() must return LossDescriptor objects, got str"),
        (
            'LossDescriptor("one", lambda t, p: t, per_pixel=True)',
            "fs_losses failed: 'LossDescriptor' object is not iterable",
        ),
        ('[LossDescriptor("notcallable", "mae", per_pixel=True)]', "function must be callable"),
    ],
)
def test_a_loss_hook_returning_the_wrong_type_is_reported(site, returned, reason):
    write_pack(
        site,
        "fs-wrong-loss-pack",
        f"""
        @fs_core.hookimpl
        def fs_losses():
            return {returned}
        """,
    )
    registry = load_registry()
    reasons = [f.reason for f in registry.failures if f.distribution == "fs-wrong-loss-pack"]
    assert reasons and reason in reasons[0]
    assert_fs_still_works(registry)


def test_a_model_config_class_that_is_not_an_option_class_is_refused_at_load(site, capsys):
    write_pack(
        site,
        "fs-dict-config-pack",
        TINY_MODEL,
        """
        @fs_core.hookimpl
        def fs_models():
            return [ModelDescriptor(name="dict_config", help="bad", config_class=dict, build=build)]
        """,
    )
    registry = load_registry()
    (failure,) = [f for f in registry.failures if f.distribution == "fs-dict-config-pack"]
    assert "config_class must be an attrs class" in failure.reason
    assert "dict_config" not in registry.models
    capsys.readouterr()
    assert main(["config"]) == 0  # the complete config file still renders for every other model
    assert "[model.original]" in capsys.readouterr().out


FLAT_MODEL = """
def build_flat(config, context):
    a, b = keras.Input((16, 16, 3), name="face_in_a"), keras.Input((16, 16, 3), name="face_in_b")
    layer = keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid")
    return keras.Model([a, b], [layer(a), layer(b)])

def build_renamed(config, context):
    model = build(config, context)
    model.get_layer("encoder").name = "enc"
    return model

@fs_core.hookimpl
def fs_models():
    return [ModelDescriptor(name="flat", help="no parts", config_class=Config, build=build_flat),
            ModelDescriptor(name="renamed", help="no 'encoder'", config_class=Config,
                            build=build_renamed)]
"""


@pytest.mark.parametrize(
    "model,problem",
    [
        ("flat", "has no named parts"),
        ("renamed", "lists part 'encoder' to freeze/load but has parts decoder_a, decoder_b, enc"),
    ],
)
def test_a_model_lacking_its_parts_fails_to_build_naming_the_pack(site, capsys, model, problem):
    write_pack(site, "fs-partless-pack", TINY_MODEL, FLAT_MODEL, version="2.3.0")
    registry = load_registry()
    assert model in registry.models  # registration is fine: parts exist only once it is built
    with pytest.raises(
        FsUserError, match=f"model plugin '{model}' \\(from fs-partless-pack 2.3.0\\) {problem}"
    ):
        fs_core.build_model(model, registry=registry)
    capsys.readouterr()
    assert main(["summary", "-t", model]) == 1
    assert "fs-partless-pack 2.3.0" in capsys.readouterr().err
    with pytest.raises(PluginCheckError, match=r"fs-partless-pack 2.3.0"):
        check_model_plugin(model, registry=registry)
    assert_fs_still_works(registry)


def test_a_pack_needing_a_newer_core_is_refused_without_importing_it(site, capsys):
    module = write_pack(
        site,
        "fs-future-pack",
        TINY_MODEL,
        """
        @fs_core.hookimpl
        def fs_models():
            return [ModelDescriptor(name="future", help="new", config_class=Config, build=build)]
        """,
        requires=("keras>=3", "fs-core >=99.1, <100"),
    )
    sys.modules.pop(module, None)
    registry = load_registry()
    (failure,) = [f for f in registry.failures if f.distribution == "fs-future-pack"]
    assert failure.reason == (
        f"needs fs-core >= 99.1, this is fs-core {fs_core.__version__}; upgrade fs-core"
    )
    assert module not in sys.modules and "future" not in registry.models
    assert_fs_still_works(registry)
    out = fs_plugins_json(capsys)
    assert {"plugin": module, "distribution": "fs-future-pack", "reason": failure.reason} in out[
        "failed"
    ]


def test_a_pack_within_its_core_range_loads(site):
    write_pack(
        site,
        "fs-current-pack",
        TINY_MODEL,
        """
        @fs_core.hookimpl
        def fs_models():
            return [ModelDescriptor(name="current", help="ok", config_class=Config, build=build)]
        """,
        requires=(f"fs-core>={fs_core.__version__}",),
    )
    registry = load_registry()
    assert "current" in registry.models
    assert not [f for f in registry.failures if f.distribution == "fs-current-pack"]


@pytest.mark.parametrize("blocked", ["fs_disabled_pack", "fs-disabled-pack", "disabled_model"])
def test_fs_disable_plugins_blocks_a_pack_by_entry_point_distribution_or_item(
    site, capsys, monkeypatch, blocked
):
    module = write_pack(
        site,
        "fs-disabled-pack",
        TINY_MODEL,
        """
        @fs_core.hookimpl
        def fs_models():
            return [ModelDescriptor(name="disabled_model", help="x", config_class=Config,
                                    build=build)]
        """,
    )
    sys.modules.pop(module, None)
    monkeypatch.setenv("FS_DISABLE_PLUGINS", f"{blocked},something_else")
    registry = load_registry()
    assert "disabled_model" not in registry.models
    assert blocked in registry.disabled and not registry.failures
    if blocked != "disabled_model":  # a blocked pack is not even imported
        assert module not in sys.modules
    assert_fs_still_works(registry)
    capsys.readouterr()
    assert main(["plugins"]) == 0
    assert f"Disabled: {blocked}, something_else" in capsys.readouterr().out
    monkeypatch.delenv("FS_DISABLE_PLUGINS")
    assert "disabled_model" in {r["name"] for r in fs_plugins_json(capsys)["plugins"]}
    assert "disabled_model" not in {
        r["name"] for r in fs_plugins_json(capsys, "--disable-plugins", blocked)["plugins"]
    }


def test_two_packs_with_one_entry_point_name_are_both_seen(site):
    """A second pack reusing an entry-point name must be reported, not silently hidden."""
    body = (
        TINY_MODEL,
        """
        @fs_core.hookimpl
        def fs_models():
            return [ModelDescriptor(name=__name__ + "_m", help="x", config_class=Config,
                                    build=build)]
        """,
    )
    write_pack(site, "fs-first-pack", *body, entry_name="same_name")
    write_pack(site, "fs-second-pack", *body, entry_name="same_name")
    registry = load_registry()
    registered = {"fs_first_pack_m", "fs_second_pack_m"} & set(registry.models)
    failed = [f for f in registry.failures if f.name == "same_name"]
    assert len(registered) == 1 and len(failed) == 1
    assert failed[0].distribution in {"fs-first-pack", "fs-second-pack"}


# ------------------------------------------------------------------------------ fs_core.testing

BROKEN_MODELS = """
def build_linear(config, context):  # faces not squashed into [0, 1]
    model = build(config, context)
    a, b = model.inputs
    outputs = [keras.layers.Conv2D(3, 1, dtype="float32")(o) for o in model.outputs]
    return keras.Model([a, b], outputs)

class Unused(keras.layers.Layer):
    def build(self, shape):
        self.unused = self.add_weight(shape=(1,), name="unused")
    def call(self, x):
        return x

def build_unused(config, context):  # a weight that no output depends on
    parts = build(config, context)
    encoder, decoder_a, decoder_b = (parts.get_layer(n)
                                     for n in ("encoder", "decoder_a", "decoder_b"))
    a, b = keras.Input((16, 16, 3), name="face_in_a"), keras.Input((16, 16, 3), name="face_in_b")
    out_a = keras.tree.flatten(decoder_a(encoder(a)))
    out_b = keras.tree.flatten(decoder_b(encoder(b)))
    return keras.Model([a, b], [Unused(name="unused_layer")(out_a[0])] + out_a[1:] + out_b)

def build_wrapped(config, context):  # the whole model nested again, under a name Keras makes up
    inner = build(config, context)
    a, b = keras.Input((16, 16, 3), name="face_in_a"), keras.Input((16, 16, 3), name="face_in_b")
    return keras.Model([a, b], inner([a, b]))

@fs_core.hookimpl
def fs_models():
    return [ModelDescriptor(name="good", help="fine", config_class=Config, build=build),
            ModelDescriptor(name="linear", help="bad range", config_class=Config,
                            build=build_linear),
            ModelDescriptor(name="unused", help="dead weight", config_class=Config,
                            build=build_unused),
            ModelDescriptor(name="wrapped", help="unnamed part", config_class=Config,
                            build=build_wrapped)]

@fs_core.hookimpl
def fs_losses():
    return [LossDescriptor("good_l1", lambda t, p: tf.abs(t - p), per_pixel=True, help="fine"),
            LossDescriptor("offset", lambda t, p: tf.abs(t - p) + 0.1, per_pixel=True),
            LossDescriptor("flat_shape", lambda t, p: tf.reduce_mean(tf.abs(t - p)),
                           per_pixel=True),
            LossDescriptor("sqrt_l2", lambda t, p: tf.sqrt(tf.square(t - p)), per_pixel=True),
            LossDescriptor("branching", branching_l1, per_pixel=True)]

def branching_l1(t, p):  # a Python branch on a tensor: fine eagerly, not when traced
    if tf.reduce_max(t) > 2.0:
        return tf.square(t - p)
    return tf.abs(t - p)
"""


@pytest.fixture
def checked_registry(site):
    write_pack(site, "fs-checked-pack", TINY_MODEL, BROKEN_MODELS)
    return load_registry()


def test_the_model_check_passes_a_good_model_and_reports_it(checked_registry):
    check = check_model_plugin("good", {"width": 2}, registry=checked_registry)
    assert check.origin == "fs-checked-pack 0.1.0"
    assert check.parts == ("decoder_a", "decoder_b", "encoder") and check.output_sizes == (16,)


@pytest.mark.parametrize(
    "model,options,problem",
    [
        ("linear", None, "output 0 is not finite and in \\[0, 1\\]"),
        ("unused", None, "no gradient reaches 1 weight\\(s\\), e.g. unused_layer/unused"),
        ("wrapped", None, "two builds with the same options give different weights in part"),
        ("good", {"width": 9}, "width"),
        ("missing", None, "no model named 'missing'"),
    ],
)
def test_the_model_check_fails_a_broken_model(checked_registry, model, options, problem):
    with pytest.raises((PluginCheckError, FsUserError), match=problem):
        check_model_plugin(model, options, registry=checked_registry)


def test_the_loss_check_passes_a_good_loss(checked_registry):
    assert check_loss_plugin("good_l1", registry=checked_registry).name == "good_l1"


@pytest.mark.parametrize(
    "loss,problem",
    [
        ("offset", "must be 0 on identical images"),
        ("flat_shape", "per_pixel is true, so it must return \\(N, H, W, C or 1\\)"),
        ("sqrt_l2", "gradient on identical images is not finite"),
        (
            "branching",
            "cannot be traced as the training step traces it .*no NumPy or Python branching",
        ),
    ],
)
def test_the_loss_check_fails_a_broken_loss(checked_registry, loss, problem):
    with pytest.raises(
        PluginCheckError, match=f"loss '{loss}' \\(fs-checked-pack 0.1.0\\): {problem}"
    ):
        check_loss_plugin(loss, registry=checked_registry)


# ------------------------------------------------------------------------------ the example pack


def _fs(env: dict, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fs_core", *args],
        env=env,
        cwd=cwd,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _example_rows(env: dict) -> tuple[list[dict], list]:
    done = _fs(env, "plugins", "--json")
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    return [r for r in listing["plugins"] if r["distribution"] == "fs-plugin-example"], listing[
        "failed"
    ]


@pytest.mark.slow
def test_the_example_pack_installs_lists_trains_and_uninstalls(tmp_path):
    source = (
        tmp_path / "src"
    )  # build from a copy: pip writes build/ and *.egg-info beside the source
    shutil.copytree(
        EXAMPLE,
        source,
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache"),
    )
    target = tmp_path / "site"
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-compile",
            "--target",
            str(target),
            str(source),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")])),
    }
    env.pop(plugin_manager.DISABLE_ENV, None)

    rows, failed = _example_rows(env)
    assert {(r["kind"], r["name"], r["version"]) for r in rows} == {
        ("model", "twin64", "0.1.0"),
        ("loss", "charbonnier", "0.1.0"),
    }
    assert failed == []
    own_tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(source / "tests")],
        env=env,
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert own_tests.returncode == 0, (
        own_tests.stdout + own_tests.stderr
    )  # fs_core.testing fixtures

    demo, model = tmp_path / "demo", tmp_path / "model"
    assert main(["demo-data", str(demo), "--count", "8", "--size", "128"]) == 0
    config = tmp_path / "fs.toml"
    config.write_text(
        '[global.loss]\nloss_function = "charbonnier"\n'
        "[model.twin64]\nfilters = 16\nbottleneck = 64\n"
    )
    train = [
        "train",
        "-A",
        str(demo / "A"),
        "-B",
        str(demo / "B"),
        "-m",
        str(model),
        "-t",
        "twin64",
        "-b",
        "2",
        "-i",
        "2",
        "-C",
        str(config),
        "--seed",
        "1",
    ]
    done = _fs(env, *train)
    assert done.returncode == 0, done.stdout + done.stderr
    state = tomllib.loads((model / "state.toml").read_text())
    assert state["iterations"] == 2
    assert (state["model"]["name"], state["model"]["distribution"]) == (
        "twin64",
        "fs-plugin-example",
    )
    assert state["config"]["global.loss"]["loss_function"] == "charbonnier"
    assert state["config"]["model.twin64"] == {"filters": 16, "bottleneck": 64}
    with h5py.File(model / "weights.h5") as handle:
        assert {"encoder", "decoder_a", "decoder_b"} <= set(handle)

    shutil.rmtree(target)  # uninstalling a --target install: its folder goes
    rows, failed = _example_rows(env)
    assert rows == [] and failed == []
    before = (model / "weights.h5").read_bytes()
    done = _fs(env, *train)
    assert done.returncode == 1 and "unknown model 'twin64'" in done.stderr
    assert (model / "weights.h5").read_bytes() == before
