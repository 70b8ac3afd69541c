"""Training-step extensions (issue 20's training half): patch GAN, true face, style losses and LR
dropout; their parts in weights.h5, exact resume, and the plain step when they are off."""

from __future__ import annotations

import types

import keras
import numpy as np
import pytest
import tensorflow as tf
from train_request import tiny_request

from fs_core import hookimpl
from fs_core.backend.tensorflow.extensions import colour_statistics_loss
from fs_core.config import Config, load_config
from fs_core.config.sections import GlobalOptions
from fs_core.config.training_step import TrainingStepOptions
from fs_core.descriptors import TrainingExtensionDescriptor
from fs_core.errors import FsUserError
from fs_core.extensions.activate import enabled_descriptors
from fs_core.extensions.api import (
    ExtensionContext,
    ExtensionLosses,
    StepView,
    TrainingExtension,
)
from fs_core.extensions.forward import make_forward, shared_code_parts
from fs_core.extensions.lr_dropout import LrDropout
from fs_core.extensions.networks import bce, part_optimizer, patch_layers
from fs_core.extensions.patch_gan import PatchGan
from fs_core.folder.state import load_state
from fs_core.model.build import build_from_config, check_model
from fs_core.model.weights import read_weights
from fs_core.training.run import run_train
from fs_core.training.session import TrainRequest

FAST = "[global.loss]\nloss_function = 'mae'\nloss_function_2 = 'none'\n"
EVERYTHING = (
    "[training_step]\ngan_power = 0.1\ngan_sides = 'ab'\ntrue_face_power = 0.01\n"
    "lr_dropout = 0.3\nface_style_power = 10.0\nbg_style_power = 10.0\n"
)


def _request(faces, model_dir, config, **changes) -> TrainRequest:
    return tiny_request(faces, model_dir, config, **{"iterations": 2, "seed": 5, **changes})


def _context(options: TrainingStepOptions, size: int = 16, **changes) -> ExtensionContext:
    values = dict(
        config=Config(training_step=options),
        built=types.SimpleNamespace(output_sizes=(size,)),
        mask_names=(),
        masked=False,
        learning_rate=1e-3,
        precision_policy="float32",
        seed=1,
        iterations=0,
    )
    values.update(changes)
    return ExtensionContext(**values)  # type: ignore[arg-type]


def _smooth_faces(rng: np.random.Generator, count: int, size: int) -> np.ndarray:
    """The real faces of the toy pair: a few flat colour blocks (no pixel noise)."""
    colours = rng.random((count, 2, 2, 3)).astype(np.float32)
    return np.repeat(np.repeat(colours, size // 2, axis=1), size // 2, axis=2)


def test_the_patch_discriminator_learns_to_tell_real_from_fake():
    """On a toy pair (flat colour blocks vs pixel noise) the discriminator trained by the
    extension's own loss and optimizer ends up calling the real ones real and the fakes fake."""
    keras.utils.set_random_seed(1)
    gan = PatchGan(_context(TrainingStepOptions(gan_power=0.1, gan_dims=8), learning_rate=5e-3))
    part = gan.parts()["discriminator_b"]
    optimizer = gan.optimizers()["discriminator_b"]
    rng = np.random.default_rng(0)

    def view(real: np.ndarray, fake: np.ndarray) -> StepView:
        batch = {"b": {"targets": [tf.convert_to_tensor(real)]}}
        outputs = {"b": [tf.convert_to_tensor(fake)]}
        return StepView(batch=batch, outputs=outputs, face_count=1, masked=False)

    @tf.function
    def train(real, fake):
        with tf.GradientTape() as tape:
            loss = gan.losses(view(real, fake)).own["discriminator_b"]
        grads = tape.gradient(loss, part.trainable_variables)
        optimizer.apply_gradients(zip(grads, part.trainable_variables))
        return loss

    first = None
    for _ in range(200):
        loss = float(train(_smooth_faces(rng, 8, 16), rng.random((8, 16, 16, 3), np.float32)))
        first = loss if first is None else first
    assert loss < 0.3 * first
    real_center, real_full = part(_smooth_faces(rng, 8, 16))
    fake_center, fake_full = part(rng.random((8, 16, 16, 3), np.float32))
    for real, fake in ((real_center, fake_center), (real_full, fake_full)):
        assert float(tf.reduce_mean(tf.sigmoid(real))) > 0.75
        assert float(tf.reduce_mean(tf.sigmoid(fake))) < 0.25


def test_patch_layers_choose_the_receptive_field_nearest_the_patch_size():
    kernel, count = patch_layers(128, 16)  # 1 + (k - 1)(2^n - 1) nearest 16
    assert 1 + (kernel - 1) * (2**count - 1) in (15, 16, 17)
    assert patch_layers(64, 8) == (3, 2)  # field 7, the nearest to 8 with 64 divisible by 4
    with pytest.raises(ValueError):
        patch_layers(1, 8)


def test_lr_dropout_drops_each_weights_update_at_its_rate():
    rate = 0.3
    dropout = LrDropout(_context(TrainingStepOptions(lr_dropout=rate)))
    variable = keras.Variable(np.zeros(200_000, np.float32))
    variable.assign(np.ones(200_000, np.float32))  # the optimizer's update
    dropout.filter_update([variable], [tf.zeros(200_000)])
    dropped = float(np.mean(variable.numpy() == 0.0))
    assert dropped == pytest.approx(rate, abs=0.01)
    variable.assign(np.ones(200_000, np.float32))
    dropout.filter_update([variable], [tf.zeros(200_000)])  # the next step draws a new mask
    assert float(np.mean(variable.numpy() == 0.0)) == pytest.approx(rate, abs=0.01)


def _dropped_step(optimizer, variable, dropout):
    """One compiled step of ``optimizer`` on ``variable`` (gradient 1), then LR dropout, as the
    extended training step runs them."""

    @tf.function
    def step():
        before = [tf.identity(variable)]
        optimizer.apply_gradients([(tf.ones_like(before[0]), variable)])
        dropout.filter_update([variable], before)

    return step


def test_lr_dropout_works_with_every_optimizer(registry):
    """For each installed optimizer: about lr_dropout of the weights keep their value after a
    step, the rest move."""
    for name, descriptor in sorted(registry.optimizers.items()):
        keras.utils.set_random_seed(2)
        optimizer = descriptor.make(GlobalOptions(optimizer=name, learning_rate=1e-4))
        variable = keras.Variable(np.ones(50_000, np.float32))
        optimizer.build([variable])
        dropout = LrDropout(_context(TrainingStepOptions(lr_dropout=0.5)))
        _dropped_step(optimizer, variable, dropout)()
        kept = float(np.mean(variable.numpy() == 1.0))
        assert kept == pytest.approx(0.5, abs=0.02), name


def test_colour_statistics_loss_matches_numpy():
    rng = np.random.default_rng(3)
    pred, target = rng.random((2, 2, 8, 8, 3), np.float32)
    expected = (
        np.mean(
            np.sum(
                (pred.mean(axis=(1, 2)) - target.mean(axis=(1, 2))) ** 2
                + (np.sqrt(pred.var(axis=(1, 2)) + 1e-5) - np.sqrt(target.var(axis=(1, 2)) + 1e-5))
                ** 2,
                axis=-1,
            )
        )
        / 3
    )
    assert float(colour_statistics_loss(pred, target)) == pytest.approx(expected, rel=1e-4)


def test_the_forward_passes_give_the_models_outputs_and_the_swap(registry):
    built = build_from_config(registry, "tiny", Config())
    assert shared_code_parts(built) is not None
    rng = np.random.default_rng(4)
    a, b = (rng.random((2, 32, 32, 3), np.float32) for _ in range(2))
    batch = {"a": {"input": a}, "b": {"input": b}}
    expected = [np.asarray(o) for o in built.model([a, b])]
    swap = np.asarray(built.model([a, a])[1])
    for needs in ({"swap"}, {"code", "swap"}):
        view = make_forward(built, needs, masked=False)(batch)
        np.testing.assert_allclose(view.outputs["a"][0], expected[0], atol=1e-5)
        np.testing.assert_allclose(view.outputs["b"][0], expected[1], atol=1e-5)
        np.testing.assert_allclose(view.swapped_face(), swap, atol=1e-5)
    assert make_forward(built, {"code"}, masked=False)(batch).code is not None


def test_true_face_is_refused_for_a_model_without_a_shared_code(registry):
    """A model whose decoders read per-side intermediate layers (as IAE's) has no one code."""
    face_a, face_b = keras.Input((16, 16, 3)), keras.Input((16, 16, 3))
    image = keras.Input((16, 16, 3))
    encoder = keras.Model(image, keras.layers.Conv2D(4, 3, padding="same")(image), name="encoder")
    code = keras.Input((16, 16, 4))
    parts = {
        name: keras.Model(code, keras.layers.Conv2D(channels, 1)(code), name=name)
        for name, channels in (("inter_a", 4), ("inter_b", 4))
    }
    decoder = keras.Model(
        code, keras.layers.Conv2D(3, 1, activation="sigmoid")(code), name="decoder"
    )
    model = keras.Model(
        [face_a, face_b],
        [decoder(parts["inter_a"](encoder(face_a))), decoder(parts["inter_b"](encoder(face_b)))],
    )
    descriptor = types.SimpleNamespace(parts_to_freeze=lambda o: (), parts_to_load=lambda o: ())
    built = check_model(model, "split", descriptor, None, False)
    assert shared_code_parts(built) is None
    with pytest.raises(FsUserError, match="true_face_power"):
        make_forward(built, {"code"}, masked=False)
    rng = np.random.default_rng(5)
    a, b = (rng.random((2, 16, 16, 3), np.float32) for _ in range(2))
    view = make_forward(built, {"swap"}, masked=False)({"a": {"input": a}, "b": {"input": b}})
    expected = [np.asarray(o) for o in model([a, b])]  # style losses work with every model
    np.testing.assert_allclose(view.outputs["a"][0], expected[0], atol=1e-5)
    np.testing.assert_allclose(view.outputs["b"][0], expected[1], atol=1e-5)
    np.testing.assert_allclose(view.swapped_face(), np.asarray(model([a, a])[1]), atol=1e-5)


def test_options_have_ranges_and_unknown_extensions_are_refused(tmp_path, registry):
    path = tmp_path / "fs.toml"
    path.write_text("[training_step]\ngan_power = 9.0\n")
    with pytest.raises(FsUserError, match=r"\[training_step\] gan_power.*0.0 to 5.0"):
        load_config(path)
    path.write_text("[training_step]\nextensions = ['no_such_gan']\n")
    with pytest.raises(FsUserError, match="no_such_gan"):
        enabled_descriptors(registry, load_config(path))
    assert enabled_descriptors(registry, Config()) == []


def test_every_option_together_trains_and_resumes_exactly(registry, faces, tmp_path, capsys):
    """4 iterations in one run equal 2 then 2 under the same seed, discriminators included; the
    extensions' terms reach the status line and fs analysis' series and graph."""
    config = tmp_path / "fs.toml"
    config.write_text(FAST + EVERYTHING)
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    messages: list[str] = []
    run_train(_request(faces, whole, config, iterations=4), registry, messages.append)
    run_train(_request(faces, parts, config), registry, lambda s: None)
    run_train(_request(faces, parts, config), registry, lambda s: None)
    a, _ = read_weights(whole / "weights.h5")
    b, _ = read_weights(parts / "weights.h5")
    for name in ("discriminator_a", "discriminator_b", "code_discriminator"):
        assert any(key.startswith(f"extensions/parts/{name}/") for key in a), name
    keys = [k for k in a if not k.startswith(("optimizer/", "extensions/optimizers/"))]
    assert set(keys) <= set(b)
    for key in keys:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6, err_msg=key)
    session = load_state(whole).sessions[-1]
    assert session["extensions"] == ["patch_gan", "true_face", "style", "lr_dropout"]
    assert session["config"]["training_step"]["gan_power"] == pytest.approx(0.1)
    assert any("patch GAN" in m for m in messages)
    assert "| gan_b: " in capsys.readouterr().out
    from fs_core.cli.analysis import loss_series, write_graph

    series = loss_series(whole)
    assert {"ext/gan_a", "ext/discriminator_b", "ext/true_face", "ext/face_style"} <= set(series)
    write_graph(tmp_path / "graph.png", series, "all options")
    assert (tmp_path / "graph.png").stat().st_size > 0


def test_turning_the_gan_on_late_creates_the_discriminator_and_off_keeps_it(
    registry, faces, tmp_path
):
    config = tmp_path / "fs.toml"
    config.write_text(FAST)
    model = tmp_path / "m"
    run_train(_request(faces, model, config), registry, lambda s: None)
    plain, _ = read_weights(model / "weights.h5")
    assert not any(key.startswith("extensions/") for key in plain)  # off: nothing extra
    assert "extensions" not in load_state(model).sessions[-1]

    config.write_text(FAST + "[training_step]\ngan_power = 0.1\n")
    messages: list[str] = []
    run_train(_request(faces, model, config), registry, messages.append)
    assert any("'discriminator_b' created" in m for m in messages)
    with_gan, _ = read_weights(model / "weights.h5")
    gan_keys = [k for k in with_gan if k.startswith("extensions/parts/discriminator_b/")]
    assert gan_keys and load_state(model).iterations == 4

    config.write_text(FAST)  # off again: the discriminator is carried over unchanged
    run_train(_request(faces, model, config), registry, lambda s: None)
    after, _ = read_weights(model / "weights.h5")
    for key in gan_keys:
        np.testing.assert_array_equal(after[key], with_gan[key])
    config.write_text(FAST + "[training_step]\ngan_power = 0.1\n")
    messages.clear()
    run_train(_request(faces, model, config), registry, messages.append)
    assert not any("created" in m for m in messages)  # resumed, not new


class PixelGan(TrainingExtension):
    """docs/plugins.md's example pack extension, verbatim in substance."""

    def __init__(self, context):
        size = context.output_size
        face = keras.Input((size, size, 3))
        hidden = keras.layers.Conv2D(16, 1, activation="relu")(face)
        logits = keras.layers.Conv2D(1, 1, dtype="float32")(hidden)
        self.net = keras.Model(face, logits, name="pixel_discriminator")
        self.optimizer = part_optimizer(context)

    def parts(self):
        return {"pixel_discriminator": self.net}

    def optimizers(self):
        return {"pixel_discriminator": self.optimizer}

    def losses(self, view):
        real, fake = view.target("b"), view.face("b")
        judged = self.net(tf.concat([real, fake], axis=0), training=True)
        on_real, on_fake = tf.split(judged, 2, axis=0)
        return ExtensionLosses(
            generator={"pixel_gan": 0.05 * bce(1.0, on_fake)},
            own={"pixel_discriminator": 0.5 * (bce(1.0, on_real) + bce(0.0, on_fake))},
        )


def test_a_packs_extension_is_turned_on_by_name_and_trains(faces, tmp_path):
    import tiny_plugin

    from fs_core.plugin_manager import load_registry

    pack = types.ModuleType("pixel_gan_pack")

    @hookimpl
    def fs_training_extensions():
        return [TrainingExtensionDescriptor(name="pixel_gan", help="Pixel GAN.", make=PixelGan)]

    pack.fs_training_extensions = fs_training_extensions  # type: ignore[attr-defined]
    registry = load_registry(extra_plugins={"tiny_plugin": tiny_plugin, "pixel_gan_pack": pack})
    config = tmp_path / "fs.toml"
    config.write_text(FAST)
    model = tmp_path / "m"
    run_train(_request(faces, model, config), registry, lambda s: None)  # installed, not named
    assert not any(k.startswith("extensions/") for k in read_weights(model / "weights.h5")[0])
    config.write_text(FAST + "[training_step]\nextensions = ['pixel_gan']\n")
    run_train(_request(faces, model, config), registry, lambda s: None)
    saved, _ = read_weights(model / "weights.h5")
    assert any(k.startswith("extensions/parts/pixel_discriminator/") for k in saved)
    assert load_state(model).sessions[-1]["extensions"] == ["pixel_gan"]


def test_extensions_refuse_a_multi_device_strategy(registry, tmp_path):
    from fs_core.extensions.activate import activate

    session = types.SimpleNamespace(
        registry=registry,
        config=Config(training_step=TrainingStepOptions(gan_power=0.1), path=str(tmp_path)),
        distribution=types.SimpleNamespace(name="mirrored"),
    )
    with pytest.raises(FsUserError, match="one device or under -d ddp only"):
        activate(session, ("face",), masked=True)  # type: ignore[arg-type]


#: one seeded iteration of Original (the tiny model's graph is too small to show the drift) in a
#: fresh process: argv faces A, B, model, config
_SEEDED_RUN = """
import sys
from pathlib import Path

import tiny_plugin
from train_request import tiny_request

from fs_core.plugin_manager import load_registry
from fs_core.training.run import run_train

face_a, face_b, model, config = map(Path, sys.argv[1:5])
registry = load_registry(extra_plugins={"tiny_plugin": tiny_plugin})
request = tiny_request(
    [face_a, face_b], model, config, model_name="original", batch_size=4, iterations=1, seed=5
)
run_train(request, registry, lambda text: None)
"""


def test_two_seeded_runs_in_separate_processes_are_bit_identical(faces, tmp_path):
    """Each process compiles its own step, so graph rewrites that differ between processes
    (TensorFlow's arithmetic optimizer regroups sums in an order that is not fixed) would make
    the two runs drift apart by rounding; an in-process comparison cannot see that."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    config = tmp_path / "fs.toml"
    config.write_text("[training_step]\ngan_power = 0.1\n")  # the default losses
    tests = Path(__file__).parent
    path = os.pathsep.join(filter(None, [str(tests), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    models = [tmp_path / "first", tmp_path / "second"]
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", _SEEDED_RUN, *map(str, faces), str(model), str(config)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for model in models
    ]
    for run in runs:
        output, _ = run.communicate(timeout=600)
        assert run.returncode == 0, output[-2000:]
    first, _ = read_weights(models[0] / "weights.h5")
    second, _ = read_weights(models[1] / "weights.h5")
    assert set(first) == set(second)
    assert any(key.startswith("extensions/parts/discriminator_b/") for key in first)
    assert any(key.startswith("encoder/") for key in first)
    differing = [key for key in first if not np.array_equal(first[key], second[key])]
    assert not differing, differing
