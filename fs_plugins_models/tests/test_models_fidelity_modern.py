"""Fidelity round two for dlight, Phaze-A, RMS normalisation and DFL-SAE (issue 14).

Each expectation mirrors faceswap's source: plugins/train/model/dlight.py (decoder B's mask branch
and residual biases, the ``decoder_b_fast`` part), lib/model/nn_blocks.py (Conv2DBlock reflect-pads
every convolution), plugins/train/model/phaze_a_defaults.py (``mobilenet_dropout`` range),
lib/model/normalization.py (RMSNormalization) and plugins/train/model/dfl_sae.py (model and part
names). Parameter counts are written out layer by layer as in ``test_models_params``.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable

import h5py
import keras
import numpy as np
import pytest
from test_models_params import DESCRIPTORS, conv, dense

from fs_core.errors import FsUserError
from fs_core.model.build import build_model
from fs_core.model.context import BuildContext
from fs_core.model.weights import _hash_entry, load_weights, parts_of, save_weights
from fs_plugins_models.blocks import RMSNormalization
from fs_plugins_models.phaze_a import PRESET_DIR
from fs_plugins_models.phaze_a import build as build_phaze_a
from fs_plugins_models.phaze_a.config import PhazeAConfig


def counts(model: keras.Model) -> dict[str, int]:
    found = {name: part.count_params() for name, part in parts_of(model).items()}
    found["total"] = model.count_params()
    return found


def build(name: str, options: dict, learn_mask: bool = False, **context: bool) -> keras.Model:
    desc = DESCRIPTORS[name]
    return desc.build(desc.config_class(**options), BuildContext(learn_mask=learn_mask, **context))


# ------------------------------------------------------------------ dlight, by hand


def hybrid(cin: int, filters: int, scale: int = 2) -> int:
    """Hybrid Upscale2x: a sub-pixel conv to f'·scale² and a plain conv to f',
    f' = filters / 2; gives 2f' channels."""
    half = filters - filters // 2
    return conv(3, cin, half * scale * scale) + conv(3, cin, half)


def fast2x(cin: int, filters: int) -> int:
    """Fast Upscale2x: a sub-pixel conv to 4f plus a plain conv to f, added."""
    return conv(3, cin, 4 * filters) + conv(3, cin, filters)


def residual(filters: int, use_bias: bool) -> int:
    return 2 * (9 * filters * filters + (filters if use_bias else 0))


def batchnorm(channels: int) -> int:
    return 4 * channels


def dlight_encoder(features: str) -> int:
    f = {"lowmem": 48, "fair": 64, "best": 64}[features]
    dims = {"lowmem": 640, "fair": 1152, "best": 1664}[features]
    total, channels = 0, 3
    for filters in (f // 2, f, 2 * f, 4 * f, 8 * f):
        total += conv(5, channels, filters)
        channels += filters  # concatenated with the pooled input
    return total + dense(4 * 4 * channels, dims) + dense(dims, 4 * 4 * 1024)


def dlight_mask(cin: int) -> int:
    return hybrid(cin, 128) + hybrid(128, 64) + hybrid(64, 32) + hybrid(32, 16) + conv(5, 16, 1)


def dlight_decoder_a(ratio: int, learn_mask: bool) -> int:
    face = hybrid(1024, 256) + hybrid(256, 128) + hybrid(128, 64) + hybrid(64, 32) + conv(5, 32, 3)
    return face + (dlight_mask(1024) if learn_mask else 0)  # both start from bilinear upsampling


def dlight_decoder_b_good(ratio: int, learn_mask: bool) -> int:
    face = (
        hybrid(1024, 512, ratio)
        + residual(512, True)
        + 2 * residual(512, False)
        + hybrid(512, 512)
        + residual(512, True)
        + residual(512, False)
        + batchnorm(512)
        + hybrid(512, 256)
        + residual(256, True)
        + hybrid(256, 128)
        + residual(128, False)
        + batchnorm(128)
        + hybrid(128, 64)
        + conv(5, 64, 3)
    )
    return face + (dlight_mask(512) if learn_mask else 0)  # from the first upscale's 512


def dlight_decoder_b_fast(ratio: int, learn_mask: bool) -> int:
    face = (
        conv(3, 1024, 512 * ratio * ratio)
        + fast2x(512, 512)
        + fast2x(512, 256)
        + fast2x(256, 128)
        + fast2x(128, 64)
        + conv(5, 64, 3)
    )
    return face + (dlight_mask(512) if learn_mask else 0)


def dlight_by_hand(features: str, details: str, output_size: int, learn_mask: bool) -> dict:
    ratio = {128: 2, 256: 4, 384: 6}[output_size]
    decoder_b = dlight_decoder_b_good if details == "good" else dlight_decoder_b_fast
    expected = {
        "encoder": dlight_encoder(features),
        "decoder_a": dlight_decoder_a(ratio, learn_mask),
        "decoder_b" if details == "good" else "decoder_b_fast": decoder_b(ratio, learn_mask),
    }
    expected["total"] = sum(expected.values())
    return expected


SMALL_DLIGHT = {"features": "lowmem", "output_size": 128}


@pytest.fixture(scope="module", params=["good", "fast"])
def small_dlight(request) -> tuple[str, dict[bool, keras.Model]]:
    """One small dlight per ``details``, without and with the learned mask."""
    options = dict(SMALL_DLIGHT, details=request.param)
    return request.param, {mask: build("dlight", options, mask) for mask in (False, True)}


def test_dlight_small_counts_by_hand(small_dlight):
    details, models = small_dlight
    for learn_mask, model in models.items():
        assert counts(model) == dlight_by_hand("lowmem", details, 128, learn_mask)


def test_dlight_decoder_b_mask_starts_at_its_first_upscale(small_dlight):
    details, models = small_dlight
    model = models[True]
    name = "decoder_b" if details == "good" else "decoder_b_fast"
    decoder_b = parts_of(model)[name]
    first = decoder_b.get_layer("mask_upscale0_sr_conv2d")
    assert first.kernel.shape[2] == 512  # the upscale's 512 filters, not the 1024 code
    assert "mask_upscale_upsampling" not in {layer.name for layer in decoder_b.layers}
    if details == "good":  # LeakyReLU(0.1) of the first hybrid upscale
        start = decoder_b.get_layer("mask_leakyrelu")
        assert start.negative_slope == pytest.approx(0.1)
        assert start.input is decoder_b.get_layer("stage0_upscale_concat").output
    else:  # the sub-pixel upscale, activated, shared
        assert (
            decoder_b.get_layer("mask_upscale0_sr_conv2d").input
            is decoder_b.get_layer("upscale_in_pixelshuffler").output
        )
    # decoder A's mask branch keeps starting from its bilinear upsampling of the code
    decoder_a = parts_of(model)["decoder_a"]
    assert decoder_a.get_layer("mask_upscale0_sr_conv2d").kernel.shape[2] == 1024
    assert isinstance(decoder_a.get_layer("mask_upscale_upsampling"), keras.layers.UpSampling2D)


def test_dlight_fast_decoder_b_part_name(small_dlight):
    details, models = small_dlight
    decoder_b = "decoder_b" if details == "good" else "decoder_b_fast"
    for model in models.values():
        assert set(parts_of(model)) == {"encoder", "decoder_a", decoder_b}
    desc = DESCRIPTORS["dlight"]
    assert desc.legacy_part_names == {"decoder_b": "decoder_b_fast"}
    assert desc.parts_to_freeze(desc.config_class(details=details)) == ("encoder",)


def test_dlight_good_residual_biases():
    """use_bias per residual block: [T, F, F], [T, F], [T], [F] after the four upscales."""
    model = build("dlight", dict(SMALL_DLIGHT, details="good"))
    decoder_b = parts_of(model)["decoder_b"]
    pattern = {
        stage: [
            decoder_b.get_layer(f"stage{stage}_residual{index}_conv2d0").use_bias
            for index in range(count)
        ]
        for stage, count in enumerate((3, 2, 1, 1))
    }
    assert pattern == {0: [True, False, False], 1: [True, False], 2: [True], 3: [False]}
    for stage, biases in pattern.items():  # both convolutions of a block agree
        for index, use_bias in enumerate(biases):
            assert decoder_b.get_layer(f"stage{stage}_residual{index}_conv2d1").use_bias == use_bias


@pytest.mark.slow
@pytest.mark.parametrize("details", ["good", "fast"])
def test_dlight_default_counts_by_hand(details):
    for learn_mask in (False, True):
        model = build("dlight", {"details": details}, learn_mask)
        assert counts(model) == dlight_by_hand("best", details, 256, learn_mask)
        del model
    assert dlight_by_hand("best", "good", 256, False)["total"] == 143_614_006
    assert dlight_by_hand("best", "good", 256, True)["total"] == 148_523_528
    assert dlight_by_hand("best", "fast", 256, False)["total"] == 163_706_006
    assert dlight_by_hand("best", "fast", 256, True)["total"] == 168_615_528


# ------------------------------------------------------------------ Phaze-A


def dny_values(preset: str) -> dict:
    return tomllib.loads((PRESET_DIR / f"phaze_a_{preset}.toml").read_text())["model"]["phaze_a"]


@pytest.fixture(scope="module")
def dny256() -> dict[bool, keras.Model]:
    config = PhazeAConfig(**dny_values("dny256"))
    return {
        reflect: build_phaze_a(config, BuildContext(reflect_padding=reflect))
        for reflect in (False, True)
    }


def test_dny_last_encoder_conv_is_reflect_padded_like_every_other(dny256):
    """faceswap's Conv2DBlock reflect-pads even a ``valid`` convolution, so the DNY encoder's last
    4x4 convolution keeps its 4x4 input size and the bottleneck Dense sees 4·4·512 = 8192 inputs."""
    encoder = parts_of(dny256[True])["encoder"]
    last = encoder.get_layer("fs_dny_enc_convblk_6_1_conv2d")
    assert last.padding == "valid" and tuple(last.kernel.shape) == (4, 4, 512, 512)
    assert tuple(last.output.shape[1:]) == (4, 4, 512)
    pad = encoder.get_layer("fs_dny_enc_convblk_6_1_reflectionpad")
    assert (pad.stride, pad.kernel_size) == (1, 4)
    assert tuple(encoder.get_layer("bottleneck_dense").kernel.shape) == (8192, 512)
    assert tuple(encoder.output.shape[1:]) == (512,)
    # without reflect padding the convolution is ``valid`` as asked: 4x4 -> 1x1, 512 inputs
    plain = parts_of(dny256[False])["encoder"]
    assert tuple(plain.get_layer("fs_dny_enc_convblk_6_1_conv2d").output.shape[1:]) == (1, 1, 512)
    assert tuple(plain.get_layer("bottleneck_dense").kernel.shape) == (512, 512)
    extra = (8192 - 512) * 512
    assert dny256[True].count_params() - dny256[False].count_params() == extra
    assert (dny256[False].count_params(), dny256[True].count_params()) == (29_885_750, 33_817_910)


@pytest.mark.slow
@pytest.mark.parametrize(
    "preset, totals", [("dny512", (39_324_982, 43_257_142)), ("dny1024", (53_483_830, 57_415_990))]
)
def test_larger_dny_presets_with_reflect_padding(preset, totals):
    config = PhazeAConfig(**dny_values(preset))
    found = []
    for reflect in (False, True):
        model = build_phaze_a(config, BuildContext(reflect_padding=reflect))
        encoder = parts_of(model)["encoder"]
        assert encoder.get_layer("bottleneck_dense").kernel.shape[0] == (8192 if reflect else 512)
        found.append(model.count_params())
    assert tuple(found) == totals


def test_mobilenet_dropout_range():
    for value in (0.001, 1.0, 2.0):
        assert PhazeAConfig(mobilenet_dropout=value).mobilenet_dropout == value
    for value in (0.0, 0.0009, 2.001):
        with pytest.raises(ValueError):
            PhazeAConfig(mobilenet_dropout=value)


# ------------------------------------------------------------------ RMS normalisation


def rms_reference(x: np.ndarray, partial: float = 0.0, epsilon: float = 1e-8) -> np.ndarray:
    used = x if partial in (0.0, 1.0) else x[..., : int(x.shape[-1] * partial)]
    return x / np.sqrt((used**2).mean(axis=-1, keepdims=True) + epsilon)


@pytest.mark.parametrize("partial", [0.0, 0.5, 1.0])
def test_rms_norm_puts_epsilon_inside_the_root(partial):
    """With activations near 1e-4 the mean square is near epsilon, where ``x / (rms + eps)`` and
    ``x / sqrt(ms + eps)`` differ by tens of percent."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, 3, 3, 8)) * 1e-4).astype("float32")
    out = np.asarray(RMSNormalization(partial=partial)(x))
    expected = rms_reference(x.astype("float64"), partial)
    np.testing.assert_allclose(out, expected, rtol=1e-4)
    used = x if partial in (0.0, 1.0) else x[..., :4]
    outside = x / (np.sqrt((used.astype("float64") ** 2).mean(axis=-1, keepdims=True)) + 1e-8)
    assert not np.allclose(out, outside, rtol=1e-2)
    zeros = np.asarray(RMSNormalization(partial=partial)(np.zeros((1, 2, 2, 8), "float32")))
    assert np.isfinite(zeros).all() and not zeros.any()


def test_rms_norm_scale_and_offset():
    layer = RMSNormalization(bias=True)
    x = np.linspace(-1e-4, 2e-4, 16, dtype="float32").reshape(2, 8)
    layer(x)
    layer.scale.assign(np.full(8, 2.0, "float32"))
    layer.offset.assign(np.full(8, 0.5, "float32"))
    np.testing.assert_allclose(
        np.asarray(layer(x)), 2.0 * rms_reference(x.astype("float64")) + 0.5, rtol=1e-4
    )


# ------------------------------------------------------------------ DFL-SAE

SAE_SMALL = {"input_size": 64, "encoder_dims": 21, "decoder_dims": 10, "autoencoder_dims": 64}


@pytest.mark.parametrize(
    "architecture, part_names",
    [
        ("df", {"encoder_df", "decoder_a", "decoder_b"}),
        ("liae", {"encoder_liae", "intermediate_both", "intermediate_b", "decoder_both"}),
    ],
)
def test_dfl_sae_model_and_part_names(architecture, part_names):
    model = build("dfl_sae", dict(SAE_SMALL, architecture=architecture))
    assert model.name == f"dfl_sae_{architecture}"
    assert set(parts_of(model)) == part_names
    assert DESCRIPTORS["dfl_sae"].legacy_part_names == {"decoder": "decoder_both"}


def rewrite_weights(path, change: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]) -> None:
    """Rewrite a weights.h5 with ``change(datasets by key)``, the checksum recomputed with the
    project's own hashing, as if fs had written the changed file."""
    with h5py.File(path, "r") as handle:
        keys: list[str] = []
        handle.visititems(
            lambda name, obj: keys.append(name) if isinstance(obj, h5py.Dataset) else None
        )
        arrays = change({key: handle[key][()] for key in keys})
        attributes = dict(handle.attrs)
    hasher = hashlib.sha256()
    with h5py.File(path, "w") as handle:
        for key in sorted(arrays):
            _hash_entry(hasher, key, arrays[key])
            handle.create_dataset(key, data=arrays[key])
        handle.attrs.update({**attributes, "checksum": hasher.hexdigest()})


def old_names(renames: dict[str, str]) -> Callable[[dict], dict]:
    """Move each renamed part's group back to its old name (the layout earlier fs versions
    wrote)."""
    back = {new: old for old, new in renames.items()}

    def change(arrays: dict) -> dict:
        return {
            (
                f"{back[key.split('/', 1)[0]]}/{key.split('/', 1)[1]}"
                if key.split("/", 1)[0] in back
                else key
            ): value
            for key, value in arrays.items()
        }

    return change


def write_old_layout(path, model: keras.Model, renames: dict[str, str]) -> None:
    """``model``'s weights.h5 as an earlier fs wrote it: the project's writer, then the renamed
    parts' groups moved back to their old names."""
    save_weights(path, model, model_name="dfl_sae", iterations=5)
    rewrite_weights(path, old_names(renames))


def test_old_dfl_sae_liae_resumes_with_the_same_weights(tmp_path):
    """A LIAE model saved when the shared decoder was the part ``decoder`` loads into today's
    ``decoder_both``: every variable equal, through the registry's build as ``fs train`` resumes."""
    options = dict(SAE_SMALL, architecture="liae")
    keras.utils.set_random_seed(1)
    first = build_model("dfl_sae", options, learn_mask=True)
    path = tmp_path / "weights.h5"
    write_old_layout(path, first, {"decoder": "decoder_both"})
    with h5py.File(path, "r") as handle:
        assert "decoder" in handle and "decoder_both" not in handle
    keras.utils.set_random_seed(2)
    resumed = build_model("dfl_sae", options, learn_mask=True)
    assert not np.allclose(
        parts_of(first)["decoder_both"].weights[0].numpy(),
        parts_of(resumed)["decoder_both"].weights[0].numpy(),
    )
    renames = DESCRIPTORS["dfl_sae"].legacy_part_names
    with pytest.raises(FsUserError, match="do not match"):  # without the mapping: refused
        load_weights(path, resumed, model_name="dfl_sae")
    assert load_weights(path, resumed, model_name="dfl_sae", renamed_parts=renames) == []
    for a, b in zip(first.weights, resumed.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # saved again, the file has today's names
    save_weights(path, resumed, model_name="dfl_sae", iterations=6)
    with h5py.File(path, "r") as handle:
        assert "decoder_both" in handle and "decoder" not in handle


def test_a_saved_part_that_changed_besides_its_name_is_refused(tmp_path):
    """The rename applies only where the variables still match: an old file whose ``decoder`` has
    an extra variable (a bias the model no longer has) is refused with one line, not half-loaded."""
    options = dict(SAE_SMALL, architecture="liae")
    model = build_model("dfl_sae", options)
    path = tmp_path / "weights.h5"
    write_old_layout(path, model, {"decoder": "decoder_both"})
    rewrite_weights(
        path, lambda arrays: {**arrays, "decoder/999_conv2d/01_bias": np.zeros(3, "float32")}
    )
    with pytest.raises(FsUserError) as caught:
        load_weights(
            path,
            build_model("dfl_sae", options),
            model_name="dfl_sae",
            renamed_parts=DESCRIPTORS["dfl_sae"].legacy_part_names,
        )
    message = str(caught.value)
    assert "\n" not in message and "weights.h5" in message
    assert "decoder_both/999_conv2d/01_bias is not in the model" in message


def test_legacy_names_stay_out_of_the_way_when_the_file_is_current(tmp_path):
    """A DF model has ``decoder_a``/``decoder_b`` and no ``decoder``: the LIAE mapping never
    applies, and a current file round-trips as before."""
    options = dict(SAE_SMALL, architecture="df")
    first = build_model("dfl_sae", options)
    path = tmp_path / "weights.h5"
    save_weights(path, first, model_name="dfl_sae", iterations=1)
    second = build_model("dfl_sae", options)
    assert (
        load_weights(
            path,
            second,
            model_name="dfl_sae",
            renamed_parts=DESCRIPTORS["dfl_sae"].legacy_part_names,
        )
        == []
    )
    for a, b in zip(first.weights, second.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.slow
def test_old_dfl_sae_model_folder_resumes_through_fs_train(tmp_path):
    """End to end: a LIAE model folder whose weights.h5 (optimizer state included) has the old
    ``decoder`` group trains on with ``fs train``, and its next save uses ``decoder_both``."""
    import tomli_w

    from fs_core.cli.main import main

    demo, model = tmp_path / "demo", tmp_path / "m"
    assert main(["demo-data", str(demo), "--count", "4", "--size", "128"]) == 0
    config = tmp_path / "fs.toml"
    config.write_text(tomli_w.dumps({"model": {"dfl_sae": dict(SAE_SMALL, architecture="liae")}}))
    train = [
        "train",
        "-A",
        str(demo / "A"),
        "-B",
        str(demo / "B"),
        "-m",
        str(model),
        "-t",
        "dfl_sae",
        "-b",
        "2",
        "-C",
        str(config),
        "-n",
        "--seed",
        "0",
    ]
    assert main([*train, "-i", "1"]) == 0
    rewrite_weights(model / "weights.h5", old_names({"decoder": "decoder_both"}))
    with h5py.File(model / "weights.h5", "r") as handle:
        assert "decoder" in handle and "decoder_both" not in handle
    assert main([*train, "-i", "1"]) == 0
    with h5py.File(model / "weights.h5", "r") as handle:
        assert "decoder_both" in handle and "decoder" not in handle
        assert int(handle.attrs["iterations"]) == 2
