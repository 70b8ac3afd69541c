"""Every architecture of the model pack, built small: outputs, parts, learned mask, one training
step with a frozen part, and weight paths that repeat from build to build."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from fs_core.model.context import BuildContext
from fs_plugins_models.plugin import fs_models

TEN = (
    "original",
    "lightweight",
    "iae",
    "dfaker",
    "unbalanced",
    "dfl_h128",
    "dfl_sae",
    "villain",
    "realface",
    "dlight",
)
DESCRIPTORS = {d.name: d for d in fs_models() if d.name in TEN}

# name, options (small where the model allows), input size, face output sizes, parts, slowness:
# "build" marks every check slow, "train" only the training step (big fixed-size models)
CASES = [
    ("original", {"lowmem": True}, 64, [64], ["encoder", "decoder_a", "decoder_b"], False),
    ("lightweight", {}, 64, [64], ["encoder", "decoder_a", "decoder_b"], "train"),
    ("iae", {}, 64, [64], ["encoder", "inter_a", "inter_both", "inter_b", "decoder"], "build"),
    ("dfaker", {}, 64, [128], ["encoder", "decoder_a", "decoder_b"], "build"),
    (
        "unbalanced",
        {"input_size": 64, "lowmem": True},
        64,
        [64],
        ["encoder", "decoder_a", "decoder_b"],
        "build",
    ),
    (
        "unbalanced",
        {
            "input_size": 64,
            "nodes": 512,
            "complexity_encoder": 64,
            "complexity_decoder_a": 64,
            "complexity_decoder_b": 64,
        },
        64,
        [64],
        ["encoder", "decoder_a", "decoder_b"],
        False,
    ),
    (
        "dfl_sae",
        {"input_size": 64, "encoder_dims": 21, "decoder_dims": 10, "autoencoder_dims": 64},
        64,
        [64],
        ["encoder_df", "decoder_a", "decoder_b"],
        False,
    ),
    (
        "dfl_sae",
        {
            "input_size": 64,
            "architecture": "liae",
            "encoder_dims": 21,
            "decoder_dims": 10,
            "autoencoder_dims": 64,
            "multiscale_decoder": True,
        },
        64,
        [16, 32, 64],
        ["encoder_liae", "intermediate_both", "intermediate_b", "decoder_both"],
        False,
    ),
    (
        "realface",
        {"input_size": 64, "output_size": 64, "dense_nodes": 768, "complexity_encoder": 96},
        64,
        [64],
        ["encoder", "decoder_a", "decoder_b"],
        "train",
    ),
    ("dfl_h128", {"lowmem": True}, 128, [128], ["encoder", "decoder_a", "decoder_b"], "build"),
    ("villain", {"lowmem": True}, 128, [128], ["encoder", "decoder_a", "decoder_b"], "build"),
    (
        "dlight",
        {"features": "lowmem", "details": "fast", "output_size": 128},
        128,
        [128],
        ["encoder", "decoder_a", "decoder_b_fast"],
        "build",
    ),
    (
        "dlight",
        {"features": "lowmem", "details": "good", "output_size": 128},
        128,
        [128],
        ["encoder", "decoder_a", "decoder_b"],
        "build",
    ),
]


def _params(slow_when: tuple[str, ...]) -> list:
    params = []
    for *case, slowness in CASES:
        marks = [pytest.mark.slow] if slowness in slow_when else []
        label = case[0] + "-" + "-".join(f"{k}={v}" for k, v in case[1].items())
        params.append(pytest.param(*case, marks=marks, id=label))
    return params


PARAMS = _params(("build",))
TRAIN_PARAMS = _params(("build", "train"))


def build(name: str, options: dict, learn_mask: bool = False) -> keras.Model:
    desc = DESCRIPTORS[name]
    return desc.build(desc.config_class(**options), BuildContext(learn_mask=learn_mask))


def paths(model: keras.Model) -> dict[str, list[str]]:
    return {name: [v.path for v in part.weights] for name, part in parts(model).items()}


def parts(model: keras.Model) -> dict[str, keras.Model]:
    return {layer.name: layer for layer in model.layers if isinstance(layer, keras.Model)}


def test_the_pack_registers_the_ten_architectures():
    assert set(DESCRIPTORS) == set(TEN)
    for desc in DESCRIPTORS.values():
        assert desc.help
        config = desc.config_class()
        assert desc.parts_to_freeze(config) and desc.parts_to_load(config)
    sae = DESCRIPTORS["dfl_sae"]
    assert sae.parts_to_freeze(sae.config_class(architecture="liae")) == ("encoder_liae",)
    assert sae.parts_to_load(sae.config_class()) == ("encoder_df",)


def test_the_entry_point_lists_the_descriptor_of_every_model_module():
    """Each architecture module exports its ``DESCRIPTOR``, named after the module, and
    ``plugin.py`` lists each of them once: a new model module cannot be left unregistered."""
    import importlib
    import pkgutil
    from pathlib import Path

    from fs_plugins_models import plugin

    exported = {}
    # the package's folder from a module in it: run from the repository root, the name
    # fs_plugins_models can also resolve to the distribution's folder (a namespace package)
    for info in pkgutil.iter_modules([str(Path(plugin.__file__).parent)]):
        module = importlib.import_module(f"fs_plugins_models.{info.name}")
        if hasattr(module, "DESCRIPTOR"):
            exported[info.name] = module.DESCRIPTOR
    assert sorted(exported) == sorted(TEN + ("phaze_a",))
    assert all(desc.name == module for module, desc in exported.items())
    listed = [id(desc) for desc in plugin.DESCRIPTORS]
    assert sorted(listed) == sorted(id(desc) for desc in exported.values())
    assert [d.name for d in fs_models()] == [d.name for d in plugin.DESCRIPTORS]


def test_every_model_option_is_locked_and_validated():
    import attrs

    from fs_core.config.options import is_locked

    for desc in DESCRIPTORS.values():
        for field in attrs.fields(desc.config_class):
            assert is_locked(field), f"{desc.name}.{field.name} should be locked"
    unbalanced = DESCRIPTORS["unbalanced"].config_class
    with pytest.raises(ValueError):
        unbalanced(input_size=96)  # not on the 64-px grid
    with pytest.raises(ValueError):
        DESCRIPTORS["dfaker"].config_class(output_size=192)
    with pytest.raises(ValueError):
        DESCRIPTORS["realface"].config_class(output_size=100)


@pytest.mark.parametrize("name,options,size,face_sizes,part_names", PARAMS)
def test_outputs_parts_mask_and_weight_paths(name, options, size, face_sizes, part_names):
    """Three builds: without and with the mask, then the mask build again, whose weight paths
    (what weights.h5 is keyed by) must repeat exactly, part by part."""
    for learn_mask in (False, True):
        model = build(name, options, learn_mask)
        assert model.name.startswith(name)  # dfl_sae adds its layout: dfl_sae_df, dfl_sae_liae
        assert [tuple(t.shape) for t in model.inputs] == [(None, size, size, 3)] * 2
        side = [(None, s, s, 3) for s in face_sizes]
        if learn_mask:
            side.append((None, face_sizes[-1], face_sizes[-1], 1))
        assert [tuple(t.shape) for t in model.outputs] == side + side
        assert all(t.dtype == "float32" for t in model.outputs)
        assert sorted(parts(model)) == sorted(part_names)
        freeze = DESCRIPTORS[name].parts_to_freeze(DESCRIPTORS[name].config_class(**options))
        assert set(freeze) <= set(part_names)
    first = paths(model)
    assert first == paths(build(name, options, True))
    for part_paths in first.values():
        assert len(part_paths) == len(set(part_paths))


@pytest.mark.parametrize("name,options,size,face_sizes,part_names", TRAIN_PARAMS)
def test_one_step_trains_every_part_but_the_frozen_one(name, options, size, face_sizes, part_names):
    model = build(name, options)
    desc = DESCRIPTORS[name]
    frozen = desc.parts_to_freeze(desc.config_class(**options))[0]
    named = parts(model)
    named[frozen].trainable = False
    before = {p: [v.numpy().copy() for v in part.trainable_weights] for p, part in named.items()}
    frozen_before = [v.numpy().copy() for v in named[frozen].weights]

    rng = np.random.default_rng(0)
    inputs = [rng.random((2, size, size, 3), dtype=np.float32) for _ in range(2)]
    targets = [rng.random((2, *t.shape[1:]), dtype=np.float32) for t in model.outputs]
    optimizer = keras.optimizers.Adam(1e-3)
    with tf.GradientTape() as tape:
        outputs = model(inputs, training=True)
        loss = tf.add_n([tf.reduce_mean(tf.square(t - o)) for t, o in zip(targets, outputs)])
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None for g in grads)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))

    for old, var in zip(frozen_before, named[frozen].weights):
        np.testing.assert_array_equal(old, var.numpy())
    for part_name, part in named.items():
        if part_name == frozen:
            continue
        changed = [
            not np.array_equal(old, v.numpy())
            for old, v in zip(before[part_name], part.trainable_weights)
        ]
        assert changed and all(changed), f"{part_name}: not every weight moved"
