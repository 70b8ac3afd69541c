"""Unbalanced, Villain and RealFace against faceswap's own layer lists (plugins/train/model/
unbalanced.py, villain.py, realface.py and the blocks of lib/model/nn_blocks.py).

Three kinds of check per built configuration:

* parameter counts per part, written out layer by layer, with and without the learned mask (and
  lowmem where the model has it);
* kernel shapes where the architecture is easy to get subtly wrong (Unbalanced's 5×5 decoder B
  upscales, RealFace's shared first upscale);
* the initializer of every convolution and Dense kernel, told apart by its statistics: faceswap
  hands RandomNormal(0, 0.02) to some layers and leaves others on He-uniform, and RealFace never
  uses its RandomNormal at all.

Each configuration is built once, by a module fixture parametrized over all of them, so only one
model is alive at a time (pytest finishes a parameter's tests before building the next).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import keras
import numpy as np
import pytest

from fs_core.model.context import BuildContext
from fs_plugins_models.plugin import fs_models

DESCRIPTORS = {d.name: d for d in fs_models()}


# --- counting helpers (the style of test_models_params.py) ---------------------------------------


def conv(k: int, cin: int, cout: int, bias: bool = True) -> int:
    """A k×k convolution, with bias unless told otherwise."""
    return k * k * cin * cout + (cout if bias else 0)


def dense(cin: int, cout: int) -> int:
    return cin * cout + cout


def up(cin: int, filters: int, k: int = 3) -> int:
    """UpscaleBlock: a conv to filters·4 channels, then a weightless pixel shuffle."""
    return conv(k, cin, 4 * filters)


def residual(filters: int, bias: bool = True) -> int:
    return 2 * conv(3, filters, filters, bias)


def sepconv(k: int, cin: int, cout: int) -> int:
    """SeparableConv2D: a k×k depthwise kernel, a 1×1 pointwise kernel and a bias."""
    return k * k * cin + cin * cout + cout


INSTANCE_NORM = 2  # faceswap's InstanceNormalization: one scalar gamma and one scalar beta


# --- hand-derived part counts --------------------------------------------------------------------


def unbalanced_counts(options: dict, learn_mask: bool) -> dict[str, int]:
    size = options.get("input_size", 128)
    lowmem = options.get("lowmem", False)
    ce = 128 if lowmem else options.get("complexity_encoder", 128)
    nodes = 512 if lowmem else options.get("nodes", 1024)
    grid = 384 if lowmem else 512
    ca = 320 if lowmem else options.get("complexity_decoder_a", 384)
    cb = 384 if lowmem else options.get("complexity_decoder_b", 512)
    side = size // 16
    flat = (size // 32) ** 2 * 8 * ce
    encoder = (
        conv(5, 3, ce)
        + INSTANCE_NORM
        + conv(5, ce, 2 * ce)
        + INSTANCE_NORM
        + conv(5, 2 * ce, 4 * ce)
        + conv(5, 4 * ce, 6 * ce)
        + conv(5, 6 * ce, 8 * ce)
        + dense(flat, nodes)
        + dense(nodes, side * side * grid)
    )
    # decoder A: four 5×5 upscales (c, c, c/2, c/4); its mask mirrors them with 3×3 upscales
    face_a = (
        up(grid, ca, 5)
        + up(ca, ca, 5)
        + up(ca, ca // 2, 5)
        + up(ca // 2, ca // 4, 5)
        + conv(5, ca // 4, 3)
    )
    mask_a = (
        up(grid, ca) + up(ca, ca) + up(ca, ca // 2) + up(ca // 2, ca // 4) + conv(5, ca // 4, 1)
    )
    if lowmem:  # four plain 5×5 upscales c, c/2, c/4, c/8
        face_b = (
            up(grid, cb, 5)
            + up(cb, cb // 2, 5)
            + up(cb // 2, cb // 4, 5)
            + up(cb // 4, cb // 8, 5)
            + conv(5, cb // 8, 3)
        )
        mask_b = (
            up(grid, cb)
            + up(cb, cb // 2)
            + up(cb // 2, cb // 4)
            + up(cb // 4, cb // 8)
            + conv(5, cb // 8, 1)
        )
    else:  # [5×5 upscale → residual] at c, c, c/2, then a 5×5 upscale to c/4
        face_b = (
            up(grid, cb, 5)
            + residual(cb)
            + up(cb, cb, 5)
            + residual(cb)
            + up(cb, cb // 2, 5)
            + residual(cb // 2)
            + up(cb // 2, cb // 4, 5)
            + conv(5, cb // 4, 3)
        )
        mask_b = (
            up(grid, cb) + up(cb, cb) + up(cb, cb // 2) + up(cb // 2, cb // 4) + conv(5, cb // 4, 1)
        )
    return _parts(
        encoder, face_a + (mask_a if learn_mask else 0), face_b + (mask_b if learn_mask else 0)
    )


def villain_counts(options: dict, learn_mask: bool) -> dict[str, int]:
    lowmem = options.get("lowmem", False)
    encoder = (
        conv(5, 3, 128)
        + (8 if lowmem else 16) * residual(128)
        + conv(5, 128, 128)
        + conv(5, 32, 128)  # two conv → pixel shuffle round trips
        + conv(5, 32, 128)
        + sepconv(5, 128, 256)
        + conv(5, 256, 512)
        + (dense(8 * 8 * 512, 512) if lowmem else sepconv(5, 512, 1024) + dense(4 * 4 * 1024, 1024))
        + dense(512 if lowmem else 1024, 8 * 8 * 1024)
        + up(1024, 512)
    )
    face = (
        up(512, 512)
        + residual(512)
        + up(512, 256)
        + residual(256)
        + up(256, 128)
        + residual(128)
        + conv(5, 128, 3)
    )
    mask = up(512, 512) + up(512, 256) + up(256, 128) + conv(5, 128, 1)
    decoder = face + (mask if learn_mask else 0)
    return _parts(encoder, decoder, decoder)


def realface_geometry(options: dict) -> tuple[int, int, int]:
    """(dense width, upscales, dense filters) for the sizes used here, worked out by hand."""
    table = {(64, 128): (4, 5, 1024), (64, 64): (4, 4, 1024)}
    return table[(options.get("input_size", 64), options.get("output_size", 128))]


def realface_counts(options: dict, learn_mask: bool) -> dict[str, int]:
    size = options.get("input_size", 64)
    ce = options.get("complexity_encoder", 128)
    nodes_b = options.get("dense_nodes", 1536)
    cd_b = options.get("complexity_decoder", 512)
    width, upscales, df_b = realface_geometry(options)
    encoder = (
        conv(5, 3, ce)
        + 2 * residual(ce)
        + conv(5, ce, 2 * ce)
        + 2 * residual(2 * ce)
        + conv(5, 2 * ce, 4 * ce)
        + 2 * residual(4 * ce)
        + conv(5, 4 * ce, 8 * ce)
    )
    flat = (size // 16) ** 2 * 8 * ce
    mask_filters = [384 // 2**i for i in range(upscales - 1)]  # n − 1 upscales 384, 192, …

    def head(nodes: int, df: int) -> int:
        """The Dense pair, then the first stage: upscale (shared with the mask) → residual."""
        return (
            dense(flat, nodes)
            + dense(nodes, width * width * df)
            + up(df, df)
            + residual(df, bias=False)
        )

    def mask(df: int) -> int:
        chain = [df, *mask_filters]
        return sum(up(a, b) for a, b in itertools.pairwise(chain)) + conv(5, mask_filters[-1], 1)

    # decoder B: n − 2 [upscale → residual(no bias) → residual] stages, a plain upscale, the face
    stages_b = [cd_b // 2**i for i in range(upscales - 2)]
    last_b = cd_b // 2 ** (upscales - 2)
    chain = [df_b, *stages_b]
    face_b = (
        head(nodes_b, df_b)
        + sum(
            up(a, b) + residual(b, bias=False) + residual(b) for a, b in itertools.pairwise(chain)
        )
        + up(stages_b[-1], last_b)
        + conv(5, last_b, 3)
    )
    # decoder A: nodes, dense filters and complexity divided by 1.5; plain upscales after stage 1
    nodes_a, df_a, cd_a = int(nodes_b / 1.5), int(df_b / 1.5), int(cd_b / 1.5)
    chain = [df_a, *[cd_a // 2**i for i in range(upscales - 2)], cd_a // 2 ** (upscales - 2)]
    face_a = (
        head(nodes_a, df_a)
        + sum(up(a, b) for a, b in itertools.pairwise(chain))
        + conv(5, chain[-1], 3)
    )
    return _parts(
        encoder,
        face_a + (mask(df_a) if learn_mask else 0),
        face_b + (mask(df_b) if learn_mask else 0),
    )


def _parts(encoder: int, decoder_a: int, decoder_b: int) -> dict[str, int]:
    return {
        "encoder": encoder,
        "decoder_a": decoder_a,
        "decoder_b": decoder_b,
        "total": encoder + decoder_a + decoder_b,
    }


COUNTS = {"unbalanced": unbalanced_counts, "villain": villain_counts, "realface": realface_counts}

SMALL_UNBALANCED = {
    "input_size": 64,
    "nodes": 512,
    "complexity_encoder": 64,
    "complexity_decoder_a": 64,
    "complexity_decoder_b": 64,
}
SMALL_REALFACE = {"input_size": 64, "output_size": 64, "dense_nodes": 768, "complexity_encoder": 96}

# (model, options, learn_mask, slow)
CASES = [
    ("unbalanced", SMALL_UNBALANCED, True, False),
    ("unbalanced", SMALL_UNBALANCED | {"lowmem": True}, True, False),
    ("unbalanced", {}, False, True),
    ("unbalanced", {}, True, True),
    ("unbalanced", {"lowmem": True}, False, True),
    ("unbalanced", {"lowmem": True}, True, True),
    ("villain", {}, False, True),
    ("villain", {}, True, True),
    ("villain", {"lowmem": True}, False, True),
    ("villain", {"lowmem": True}, True, True),
    ("realface", SMALL_REALFACE, False, False),
    ("realface", SMALL_REALFACE, True, False),
    ("realface", {}, False, True),
    ("realface", {}, True, True),
]


def _case_id(name: str, options: dict, learn_mask: bool) -> str:
    opts = "-".join(f"{k}={v}" for k, v in options.items()) or "default"
    return f"{name}-{opts}-{'mask' if learn_mask else 'nomask'}"


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(case[:3], marks=[pytest.mark.slow] if case[3] else [], id=_case_id(*case[:3]))
        for case in CASES
    ],
)
def built(request: Any) -> tuple[str, dict, bool, keras.Model]:
    name, options, learn_mask = request.param
    desc = DESCRIPTORS[name]
    model = desc.build(desc.config_class(**options), BuildContext(learn_mask=learn_mask))
    yield name, options, learn_mask, model
    del model
    keras.backend.clear_session()


def parts(model: keras.Model) -> dict[str, keras.Model]:
    return {layer.name: layer for layer in model.layers if isinstance(layer, keras.Model)}


def kernel(model: keras.Model, part: str, layer: str) -> np.ndarray:
    return keras.ops.convert_to_numpy(parts(model)[part].get_layer(layer).kernel)


# --- initializer recognition ----------------------------------------------------------------------


def _sample(values: np.ndarray, limit: int = 2_000_000) -> np.ndarray:
    flat = np.asarray(values, dtype=np.float64).ravel()
    return flat[:limit]


def _fan_in(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape[:-1]))


def assert_random_normal(values: np.ndarray, stddev: float = 0.02, where: str = "") -> None:
    """A normal draw: mean 0, the given spread (5% at least), and a normal's heavy-ish tails."""
    x = _sample(values)
    tolerance = max(0.05, 5 / math.sqrt(2 * x.size))
    assert abs(x.std() / stddev - 1) < tolerance, (where, x.std())
    assert abs(x.mean()) < 5 * stddev / math.sqrt(x.size) + 1e-4, (where, x.mean())
    if x.size >= 5000:  # a uniform's kurtosis is 1.8, a normal's 3
        kurtosis = ((x - x.mean()) ** 4).mean() / x.var() ** 2
        assert 2.5 < kurtosis < 3.5, (where, kurtosis)


def assert_uniform(values: np.ndarray, limit: float, where: str = "") -> None:
    """A uniform draw on [-limit, limit]: bounded by it, with spread limit/√3."""
    x = _sample(values)
    assert np.abs(x).max() <= limit * (1 + 1e-6), (where, np.abs(x).max(), limit)
    tolerance = max(0.05, 2.5 / math.sqrt(x.size))
    assert abs(x.std() / (limit / math.sqrt(3)) - 1) < tolerance, (where, x.std(), limit)


def assert_he_uniform(values: np.ndarray, where: str = "") -> None:
    assert_uniform(values, math.sqrt(6 / _fan_in(values.shape)), where)


def assert_small_residual(values: np.ndarray, where: str = "") -> None:
    """The residual block's second convolution: VarianceScaling(0.2, fan_in, uniform)."""
    assert_uniform(values, math.sqrt(3 * 0.2 / _fan_in(values.shape)), where)


def assert_glorot_uniform(values: np.ndarray, where: str = "") -> None:
    fan_in, fan_out = values.shape[0], values.shape[1]
    assert_uniform(values, math.sqrt(6 / (fan_in + fan_out)), where)


def _expected_kind(name: str, layer: keras.layers.Layer) -> str:
    """The initializer faceswap gives this layer: "normal", "he", "small" or "glorot"."""
    lname = layer.name
    if lname.endswith("conv2d1"):  # a residual block's second convolution
        return "small"
    if name == "realface":
        return "glorot" if isinstance(layer, keras.layers.Dense) else "he"
    if lname.startswith(("mask", "face_out")):
        return "he"
    return "normal"


CHECKS = {
    "normal": assert_random_normal,
    "he": assert_he_uniform,
    "small": assert_small_residual,
    "glorot": assert_glorot_uniform,
}


def _kernels(layer: keras.layers.Layer) -> list[tuple[str, Any]]:
    if isinstance(layer, keras.layers.SeparableConv2D):
        return [("depthwise", layer.depthwise_kernel), ("pointwise", layer.pointwise_kernel)]
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
        return [("kernel", layer.kernel)]
    return []


# --- the hand counts at the defaults, written out (what ``fs summary`` prints) -------------------


@pytest.mark.parametrize(
    "name,options,learn_mask,total",
    [
        ("unbalanced", {}, False, 207_046_186),
        ("unbalanced", {}, True, 247_538_316),
        ("unbalanced", {"lowmem": True}, False, 107_962_506),
        ("unbalanced", {"lowmem": True}, True, 127_178_252),
        ("villain", {}, False, 155_115_014),
        ("villain", {}, True, 185_799_432),
        ("villain", {"lowmem": True}, False, 118_660_614),
        ("villain", {"lowmem": True}, True, 149_345_032),
        ("realface", {}, False, 238_241_676),
        ("realface", {}, True, 268_800_878),
    ],
)
def test_hand_totals_at_defaults(name, options, learn_mask, total):
    assert COUNTS[name](options, learn_mask)["total"] == total


def test_the_corrections_in_numbers():
    """Unbalanced's 5×5 decoder B upscales add about 44 M; RealFace's decoder A first stage
    (the upscale without activation and its bias-free residual) about 8.4 M."""
    shapes = ((512, 512), (512, 512), (512, 256), (256, 128))
    assert sum(up(cin, f, 5) - up(cin, f) for cin, f in shapes) == 44_040_192
    assert residual(682, bias=False) == 8_372_232


# --- the checks -----------------------------------------------------------------------------------


def test_part_counts_by_hand(built):
    name, options, learn_mask, model = built
    counts = {part_name: part.count_params() for part_name, part in parts(model).items()}
    counts["total"] = model.count_params()
    assert counts == COUNTS[name](options, learn_mask)


def test_every_kernel_has_faceswaps_initializer(built):
    name, options, _, model = built
    kinds: dict[str, int] = {}
    for part_name, part in parts(model).items():
        for layer in part.layers:
            for role, variable in _kernels(layer):
                kind = _expected_kind(name, layer)
                values = keras.ops.convert_to_numpy(variable)
                if role == "depthwise":  # (k, k, in, 1): its fan-in is k·k
                    values = values.reshape(values.shape[0], values.shape[1], -1)
                CHECKS[kind](values, where=f"{part_name}/{layer.name}/{role}")
                kinds[kind] = kinds.get(kind, 0) + 1
    expected = {
        "unbalanced": {"normal", "he", "small"},
        "villain": {"normal", "he", "small"},
        "realface": {"glorot", "he", "small"},
    }[name]
    if name == "unbalanced" and options.get("lowmem"):
        expected = expected - {"small"}  # lowmem Unbalanced has no residual blocks
    assert set(kinds) == expected


def test_dense_layers(built):
    """Unbalanced and Villain draw their two encoder Dense kernels from RandomNormal(0, 0.02);
    RealFace's decoders keep Keras' glorot-uniform Dense."""
    name, _, _, model = built
    if name == "realface":
        for part_name in ("decoder_a", "decoder_b"):
            for layer in ("dense0", "dense1"):
                assert_glorot_uniform(kernel(model, part_name, layer), f"{part_name}/{layer}")
        return
    first, second = kernel(model, "encoder", "dense0"), kernel(model, "encoder", "dense1")
    for values in (first, second):
        assert abs(values.std() / 0.02 - 1) < 0.05
        assert_random_normal(values)
    # independent starts: each Dense has its own draw, not a copy of the other's stream
    assert not np.allclose(first.ravel()[:1000], second.ravel()[:1000])


def test_kernel_shapes(built):
    name, options, learn_mask, model = built
    decoder_b = parts(model)["decoder_b"]
    if name == "unbalanced":
        lowmem = options.get("lowmem", False)
        face = (
            [f"upscale{i}_conv2d" for i in range(4)]
            if lowmem
            else [f"stage{i}_upscale_conv2d" for i in range(3)] + ["upscale_conv2d"]
        )
        for layer in face:  # every decoder B upscale is 5×5, in both modes
            assert decoder_b.get_layer(layer).kernel.shape[:2] == (5, 5), layer
        decoder_a = parts(model)["decoder_a"]
        for i in range(4):
            assert decoder_a.get_layer(f"upscale{i}_conv2d").kernel.shape[:2] == (5, 5)
        if not lowmem:
            for i in range(3):  # the residual blocks stay 3×3
                assert decoder_b.get_layer(f"stage{i}_residual0_conv2d0").kernel.shape[:2] == (3, 3)
        if learn_mask:
            for part_name in ("decoder_a", "decoder_b"):
                for i in range(4):  # the mask branch keeps faceswap's default 3×3 upscales
                    layer = parts(model)[part_name].get_layer(f"mask_upscale{i}_conv2d")
                    assert layer.kernel.shape[:2] == (3, 3)
    elif name == "villain":
        assert decoder_b.get_layer("face_out_conv2d").kernel.shape == (5, 5, 128, 3)
        assert parts(model)["encoder"].get_layer("dense1").kernel.shape[1] == 8 * 8 * 1024
    else:
        _, upscales, df_b = realface_geometry(options)
        for part_name, df in (("decoder_a", int(df_b / 1.5)), ("decoder_b", df_b)):
            decoder = parts(model)[part_name]
            # first stage: upscale to df with no activation, LReLU 0.2, a bias-free residual
            upscale = decoder.get_layer("stage_in_upscale_conv2d")
            assert upscale.kernel.shape == (3, 3, df, 4 * df)
            assert not any(
                layer.name.startswith("stage_in_upscale_leakyrelu") for layer in decoder.layers
            )
            assert decoder.get_layer("stage_in_leakyrelu").negative_slope == pytest.approx(0.2)
            for index in range(2):
                res = decoder.get_layer(f"stage_in_residual0_conv2d{index}")
                assert not res.use_bias and res.bias is None
            shared = "stage_in_upscale_pixelshuffler"
            assert _source(decoder, "stage_in_leakyrelu") == shared
            if learn_mask:
                # the mask starts from the same upscale: LReLU 0.1 → n − 1 upscales → 1 channel
                assert _source(decoder, "mask_leakyrelu") == shared
                assert decoder.get_layer("mask_leakyrelu").negative_slope == pytest.approx(0.1)
                filters = [
                    decoder.get_layer(f"mask_upscale{i}_conv2d").filters // 4
                    for i in range(upscales - 1)
                ]
                assert filters == [384 // 2**i for i in range(upscales - 1)]
                assert decoder.get_layer("mask_upscale0_conv2d").kernel.shape[2] == df
                assert decoder.get_layer("mask_out_conv2d").kernel.shape == (5, 5, filters[-1], 1)
                assert not any(
                    layer.name == f"mask_upscale{upscales - 1}_conv2d" for layer in decoder.layers
                )


def _source(part: keras.Model, layer: str) -> str:
    """The name of the layer whose output feeds ``layer``."""
    return part.get_layer(layer).input._keras_history[0].name


# --- the context still decides for convolutions, never for Dense layers ---------------------------


class _Fixed:
    """A stand-in initializer plugin that fills kernels with one value."""

    def __init__(self, value: float) -> None:
        self.value = value

    def make(self, **kwargs: Any) -> keras.initializers.Initializer:
        return keras.initializers.Constant(self.value)


@pytest.mark.parametrize(
    "name,options",
    [
        ("unbalanced", SMALL_UNBALANCED),
        ("unbalanced", SMALL_UNBALANCED | {"lowmem": True}),
        ("realface", SMALL_REALFACE),
    ],
)
def test_conv_aware_and_icnr_still_apply(name, options):
    """Conv-aware replaces every convolution's initializer and ICNR wraps every upscale
    convolution; the Dense layers keep the model's own choice."""
    desc = DESCRIPTORS[name]
    context = BuildContext(
        learn_mask=True,
        conv_aware_init=True,
        icnr_init=True,
        initializers={"conv_aware": _Fixed(0.5), "icnr": _Fixed(0.25)},
    )
    model = desc.build(desc.config_class(**options), context)
    seen = 0
    for part in parts(model).values():
        for layer in part.layers:
            values = [keras.ops.convert_to_numpy(v) for _, v in _kernels(layer)]
            if isinstance(layer, keras.layers.Dense):
                check = assert_glorot_uniform if name == "realface" else assert_random_normal
                check(values[0], where=layer.name)
                continue
            for value in values:
                is_upscale = "upscale" in layer.name
                assert np.all(value == (0.25 if is_upscale else 0.5)), layer.name
                seen += 1
    assert seen > 10
