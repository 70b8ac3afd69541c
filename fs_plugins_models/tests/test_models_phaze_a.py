"""Phaze-A: options, presets, geometry, the built model's parts and outputs, and one training step.

Builds use small options (64 px, few filters) so the file runs in well under a minute on 2 cores;
building every preset at full size is in the ``slow`` test at the end.
"""

from __future__ import annotations

import tomllib

import attrs
import keras
import numpy as np
import pytest

from fs_core.config import Config, load_config, render_config
from fs_core.errors import FsUserError
from fs_core.model.context import BuildContext
from fs_plugins_models.phaze_a import PRESET_DIR
from fs_plugins_models.phaze_a import geometry as geo
from fs_plugins_models.phaze_a import weights as pretrained
from fs_plugins_models.phaze_a.build import build, freeze_parts, load_parts, part_names
from fs_plugins_models.phaze_a.config import PhazeAConfig

SMALL = dict(
    output_size=64,
    fc_min_filters=128,
    fc_max_filters=128,
    fc_upsample_filters=128,
    dec_max_filters=256,
    dec_min_filters=32,
    fs_original_min_filters=16,
    fs_original_max_filters=256,
    bottleneck_size=128,
    fc_gblock_min_nodes=128,
    fc_gblock_max_nodes=128,
)
PRESETS = sorted(PRESET_DIR.glob("phaze_a_*.toml"))
REFERENCE_PRESETS = {
    "original",
    "lightweight",
    "iae",
    "dfaker",
    "dfl-h128",
    "dfl-sae-df",
    "dfl-sae-liae",
    "dfl-saehd-df",
    "dfl-saehd-liae",
    "dny256",
    "dny512",
    "dny1024",
    "stojo",
    "sym384",
    "clipfaker128",
    "clipfaker256",
    "clipfaker448",
}


def sub_models(model: keras.Model) -> dict[str, keras.Model]:
    return {layer.name: layer for layer in model.layers if isinstance(layer, keras.Model)}


def preset_values(path) -> dict:
    return tomllib.loads(path.read_text())["model"]["phaze_a"]


# ------------------------------------------------------------------ options


def test_defaults_follow_the_reference():
    config = PhazeAConfig()
    assert (config.output_size, config.enc_architecture, config.enc_scaling) == (
        128,
        "fs_original",
        7,
    )
    assert config.freeze_layers == ["keras_encoder"] and config.load_layers == ["encoder"]
    assert (config.dec_filter_slope, config.fc_filter_slope, config.dec_res_blocks) == (
        -0.45,
        -0.5,
        1,
    )
    changeable = {f.name for f in attrs.fields(PhazeAConfig) if not f.metadata["fs_locked"]}
    assert changeable == {"fc_dropout", "fc_gblock_dropout", "freeze_layers"}


@pytest.mark.parametrize(
    "values, option",
    [
        (dict(output_size=136), "output_size"),  # not a multiple of 16
        (dict(dec_upscales_in_fc=5), "dec_upscales_in_fc"),  # the default decoder has 4 upscales
        (dict(enc_architecture="clipv_vit-b-16", bottleneck_type="max_pooling"), "bottleneck_type"),
        (dict(fc_depth=0), "fc_depth"),  # 1024 bottleneck vs 16384 nodes
        (dict(dec_norm="group", dec_min_filters=40), "dec_norm"),
    ],
)
def test_cross_option_checks_name_the_option(values, option):
    with pytest.raises(FsUserError, match=option):
        PhazeAConfig(**values)


def test_range_and_choice_errors():
    with pytest.raises(ValueError):
        PhazeAConfig(fc_dimensions=0)
    with pytest.raises(ValueError):
        PhazeAConfig(enc_architecture="alexnet")
    with pytest.raises(ValueError):
        PhazeAConfig(load_layers=["keras_encoder"])  # only freeze may name keras_encoder
    assert PhazeAConfig(freeze_layers="encoder").freeze_layers == ["encoder"]
    first, second = PhazeAConfig(), PhazeAConfig()
    first.freeze_layers.append("encoder")
    assert second.freeze_layers == ["keras_encoder"]  # no shared mutable default


def test_geometry_of_the_default_walkthrough():
    config = PhazeAConfig()
    assert geo.input_size(config) == 64
    assert geo.fc_node_curve(config) == [16384]
    assert geo.fc_node_curve(config, gblock=True) == [512, 512, 512]
    assert geo.decoder_filters(config) == [512, 256, 128, 64]


def test_curves():
    assert geo.get_curve(512, 16, 6, 0.5, "cap_max") == [512, 256, 128, 64, 32, 16]
    assert geo.get_curve(512, 64, 6, 0.5, "cap_max") == [512, 512, 512, 256, 128, 64]
    assert geo.get_curve(512, 64, 6, 0.5, "cap_min") == [512, 256, 128, 64, 64, 64]
    straight = geo.get_curve(100, 500, 5, 0.0)
    assert straight == [96, 200, 296, 400, 496]
    assert geo.scale_dim(128, 4) == 4 and geo.scale_dim(80, 3) == 5


def test_input_sizes_of_encoders():
    assert geo.input_size(PhazeAConfig(enc_architecture="efficientnet_b4", enc_scaling=60)) == 224
    assert geo.input_size(PhazeAConfig(enc_architecture="xception", enc_scaling=1)) == 71
    nasnet = PhazeAConfig(enc_architecture="nasnet_large", enc_scaling=50)
    assert geo.input_size(nasnet) == 331  # forced to its size for ImageNet weights
    assert geo.input_size(attrs.evolve(nasnet, enc_load_weights=False)) == 160


# ------------------------------------------------------------------ presets


def test_every_reference_preset_has_a_file():
    assert {p.stem.removeprefix("phaze_a_") for p in PRESETS} == REFERENCE_PRESETS


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_preset_parses_and_validates(path):
    values = preset_values(path)
    config = PhazeAConfig(**values)
    assert set(values) == {f.name for f in attrs.fields(PhazeAConfig)}
    assert part_names(config)[0] == "encoder"
    loaded = load_config(path, {"phaze_a": PhazeAConfig}).model("phaze_a", PhazeAConfig)
    assert loaded == config


def test_rendered_config_reads_back():
    text = render_config(Config(), {"phaze_a": PhazeAConfig})
    section = tomllib.loads(text)["model"]["phaze_a"]
    assert PhazeAConfig(**section) == PhazeAConfig()


def test_preset_values_spot_check():
    dny = PhazeAConfig(**preset_values(PRESET_DIR / "phaze_a_dny256.toml"))
    assert geo.input_size(dny) == 256 and dny.fs_original_use_alt
    assert geo.decoder_filters(dny) == [512, 256, 128, 64, 32, 16]
    clip = PhazeAConfig(**preset_values(PRESET_DIR / "phaze_a_clipfaker448.toml"))
    assert geo.input_size(clip) == 224 and freeze_parts(clip) == ("visual",)


# ------------------------------------------------------------------ building


@pytest.fixture(scope="module")
def small_model():
    return build(PhazeAConfig(**SMALL), BuildContext())


def test_default_layout_outputs_and_parts(small_model):
    assert [i.name for i in small_model.inputs] == ["face_in_a", "face_in_b"]
    assert [tuple(o.shape[1:]) for o in small_model.outputs] == [(64, 64, 3), (64, 64, 3)]
    assert list(sub_models(small_model)) == [
        "encoder",
        "fc_a",
        "fc_gblock",
        "fc_b",
        "g_block_both",
        "decoder_both",
    ]
    out = small_model.predict([np.random.rand(2, 64, 64, 3)] * 2, verbose=0)
    assert all(0.0 <= o.min() and o.max() <= 1.0 and o.dtype == np.float32 for o in out)


def test_learn_mask_split_parts_and_upscales_in_fc():
    config = PhazeAConfig(
        **dict(
            SMALL, shared_fc="half", split_gblock=True, split_decoders=True, dec_upscales_in_fc=1
        )
    )
    model = build(config, BuildContext(learn_mask=True))
    shapes = [tuple(o.shape[1:]) for o in model.outputs]
    assert shapes == [(64, 64, 3), (64, 64, 1), (64, 64, 3), (64, 64, 1)]
    parts = sub_models(model)
    assert set(parts) == {
        "encoder",
        "fc_a",
        "fc_b",
        "fc_gblock",
        "g_block_a",
        "g_block_b",
        "decoder_a",
        "decoder_b",
    }
    assert len(parts["fc_a"].outputs) == 2  # face and mask features leave the fc
    assert parts["decoder_a"].output[1].shape[-1] == 1


def test_single_fc_no_gblock_and_shared_full():
    config = PhazeAConfig(
        **dict(
            SMALL,
            split_fc=False,
            enable_gblock=False,
            shared_fc="full",
            bottleneck_in_encoder=False,
            fc_upsamples=0,
        )
    )
    model = build(config, BuildContext())
    assert set(sub_models(model)) == {"encoder", "fc_both", "fc_shared", "decoder_both"}
    assert [tuple(o.shape[1:]) for o in model.outputs] == [(64, 64, 3)] * 2


def test_alt_encoder_with_dny_decoder():
    config = PhazeAConfig(
        **dict(
            SMALL,
            enable_gblock=False,
            split_fc=False,
            split_decoders=True,
            enc_scaling=7,
            fc_depth=0,
            fc_dimensions=1,
            fc_upsamples=2,
            dec_upscale_method="upscale_dny",
            dec_upscales_in_fc=1,
            dec_slope_mode="cap_max",
            dec_filter_slope=0.5,
            dec_res_blocks=0,
            fs_original_depth=5,
            fs_original_use_alt=True,
        )
    )
    model = build(config, BuildContext())
    encoder = sub_models(model)["encoder"]
    assert tuple(encoder.get_layer("fs_dny_enc_convblk_4_1_conv2d").output.shape[1:3]) == (1, 1)
    assert [tuple(o.shape[1:]) for o in model.outputs] == [(64, 64, 3)] * 2


def test_keras_application_encoder_is_nested_and_freezable():
    config = PhazeAConfig(
        **dict(SMALL, enc_architecture="mobilenet_v3_small", enc_load_weights=False, enc_scaling=29)
    )
    model = build(config, BuildContext())
    encoder = sub_models(model)["encoder"]
    assert geo.keras_model_name("mobilenet_v3_small") in [layer.name for layer in encoder.layers]
    assert freeze_parts(config) == ("mobilenetv3small",)
    assert load_parts(config) == ("encoder",)
    assert freeze_parts(PhazeAConfig()) == ()  # keras_encoder means nothing for fs_original


def test_missing_imagenet_weights_is_one_line_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    config = PhazeAConfig(**dict(SMALL, enc_architecture="efficientnet_b0", enc_scaling=29))
    with pytest.raises(FsUserError) as err:
        build(config, BuildContext())
    text = err.value.one_line()
    assert "\n" not in text and "enc_load_weights = false" in text
    assert str(tmp_path / "models" / "efficientnetb0_notop.h5") in text


def test_cached_weights_file_is_loaded_without_download(tmp_path, monkeypatch):
    """A weights file placed in the cache is what the encoder starts from."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    config = PhazeAConfig(**dict(SMALL, enc_architecture="vgg16", enc_scaling=15))
    size = geo.input_size(config)
    source = keras.applications.VGG16(include_top=False, weights=None, input_shape=(size, size, 3))
    (tmp_path / "models").mkdir()
    source.save_weights(str(tmp_path / "models" / "source.weights.h5"))
    import h5py  # write the legacy layout Keras applications ship (one group per layer)

    with h5py.File(tmp_path / "models" / pretrained.keras_weights_file(config, size), "w") as f:
        f.attrs["layer_names"] = [layer.name.encode() for layer in source.layers]
        for layer in source.layers:
            group = f.create_group(layer.name)
            names = [f"{layer.name}/{w.name}:0".encode() for w in layer.weights]
            group.attrs["weight_names"] = names
            for name, weight in zip(names, layer.weights):
                group.create_dataset(name.decode(), data=weight.numpy())
    model = build(config, BuildContext())
    nested = sub_models(model)["encoder"].get_layer("vgg16")
    np.testing.assert_allclose(nested.weights[0].numpy(), source.weights[0].numpy())


def test_one_training_step_changes_weights(small_model):
    model = small_model
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mae")
    rng = np.random.default_rng(0)
    faces = [rng.random((2, 64, 64, 3), dtype=np.float32) for _ in range(2)]
    decoder = sub_models(model)["decoder_both"]
    before = [w.numpy().copy() for w in decoder.trainable_weights]
    model.train_on_batch(faces, faces)
    after = [w.numpy() for w in decoder.trainable_weights]
    assert any(not np.allclose(b, a) for b, a in zip(before, after))


@pytest.mark.slow
@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_every_preset_builds_at_full_size(path):
    values = dict(preset_values(path), enc_load_weights=False)
    config = PhazeAConfig(**values)
    model = build(config, BuildContext())
    size = config.output_size
    assert [tuple(o.shape[1:]) for o in model.outputs] == [(size, size, 3)] * 2
    assert set(sub_models(model)) == set(part_names(config))
    keras.backend.clear_session()


# ------------------------------------------------------------------ CLIP encoder


def test_clip_missing_weights_message(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    config = PhazeAConfig(
        **dict(
            SMALL, enc_architecture="clipv_farl-b-16-64", enc_scaling=29, bottleneck_type="flatten"
        )
    )
    with pytest.raises(
        FsUserError, match=r"clipv_farl-b-16-64_visual.weights.h5.*enc_load_weights"
    ):
        build(config, BuildContext())


def test_clip_weights_load_at_another_resolution(tmp_path, monkeypatch):
    """Weights saved at the native size load into a smaller tower, positions resized."""
    from fs_plugins_models.phaze_a import clip

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    spec = clip.ViTSpec(width=64, layers=1, patch=16, embed_dim=32, resolution=64)
    native = clip.vision_transformer(spec, 64)
    (tmp_path / "models").mkdir()
    native.save_weights(str(tmp_path / "models" / pretrained.clip_weights_file("clipv_tiny")))
    small = clip.vision_transformer(spec, 32)
    clip.load_clip_weights(small, spec, "clipv_tiny")
    np.testing.assert_allclose(
        small.get_layer("proj").kernel.numpy(), native.get_layer("proj").kernel.numpy()
    )
    positions = small.get_layer("embeddings").positional_embedding.numpy()
    assert positions.shape == (1 + 2 * 2, 64)
    source = native.get_layer("embeddings").positional_embedding.numpy()
    np.testing.assert_allclose(positions[0], source[0])  # the class position is kept
    grid = source[1:].reshape(4, 4, 64)
    np.testing.assert_allclose(positions[1], grid[:2, :2].mean(axis=(0, 1)), rtol=1e-4, atol=1e-5)
    assert small.predict(np.random.rand(1, 32, 32, 3), verbose=0).shape == (1, 32)
