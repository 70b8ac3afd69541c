"""The numbers Phaze-A derives from its options, without building anything.

Input size, filter/node curves, fc reshape sizes and the decoder's upscale list all follow from the
config alone. Keeping them here (pure Python, no Keras) lets the config validate cross-option rules
before a single layer exists, and lets the builder and the tests agree on one set of formulas.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import attrs
import numpy as np

if TYPE_CHECKING:  # config.py imports this module
    from fs_plugins_models.phaze_a.config import PhazeAConfig


@attrs.frozen
class EncoderInfo:
    """What Phaze-A needs to know about one encoder architecture.

    ``kind`` is ``fs`` (built here), ``keras`` (a ``keras.applications`` constructor named
    ``keras_name``) or ``clip`` (the ViT built here). ``scaling`` is the input range the network
    expects: (0, 1) as given, (0, 255) or (-1, 1).
    """

    kind: Literal["fs", "keras", "clip"]
    keras_name: str
    default_size: int
    scaling: tuple[int, int] = (0, 1)
    min_size: int = 32
    enforce_for_weights: bool = False
    color_order: Literal["bgr", "rgb"] = "rgb"


def _k(name: str, size: int, scaling: tuple[int, int], **kw: Any) -> EncoderInfo:
    return EncoderInfo("keras", name, size, scaling, **kw)


_UNIT = (0, 255)
_SIGNED = (-1, 1)

ENCODERS: dict[str, EncoderInfo] = {
    "fs_original": EncoderInfo("fs", "", 1024, (0, 1), 32, False, "bgr"),
    **{
        f"clipv_{name.lower()}": EncoderInfo("clip", name, 336 if name.endswith("336px") else 224)
        for name in (
            "ViT-B-16",
            "ViT-B-32",
            "ViT-L-14",
            "ViT-L-14-336px",
            "FaRL-B-16-16",
            "FaRL-B-16-64",
        )
    },
    **{
        f"convnext_{size}": _k(f"ConvNeXt{name}", 224, _UNIT)
        for size, name in (
            ("tiny", "Tiny"),
            ("small", "Small"),
            ("base", "Base"),
            ("large", "Large"),
            ("extra_large", "XLarge"),
        )
    },
    **{f"densenet{n}": _k(f"DenseNet{n}", 224, (0, 1)) for n in (121, 169, 201)},
    **{
        f"efficientnet_b{i}": _k(f"EfficientNetB{i}", size, _UNIT)
        for i, size in enumerate((224, 240, 260, 300, 380, 456, 528, 600))
    },
    **{
        f"efficientnet_v2_{v}": _k(f"EfficientNetV2{v.upper()}", size, _SIGNED)
        for v, size in (
            ("b0", 224),
            ("b1", 240),
            ("b2", 260),
            ("b3", 300),
            ("s", 384),
            ("m", 480),
            ("l", 480),
        )
    },
    "inception_resnet_v2": _k("InceptionResNetV2", 299, _SIGNED, min_size=75),
    "inception_v3": _k("InceptionV3", 299, _SIGNED, min_size=75),
    "mobilenet": _k("MobileNet", 224, _SIGNED),
    "mobilenet_v2": _k("MobileNetV2", 224, _SIGNED),
    "mobilenet_v3_large": _k("MobileNetV3Large", 224, _SIGNED),
    "mobilenet_v3_small": _k("MobileNetV3Small", 224, _SIGNED),
    "nasnet_large": _k("NASNetLarge", 331, _SIGNED, enforce_for_weights=True),
    "nasnet_mobile": _k("NASNetMobile", 224, _SIGNED, enforce_for_weights=True),
    **{
        f"resnet{n}{v}": _k(f"ResNet{n}{v.replace('_v2', 'V2')}", 224, _SIGNED)
        for n in (50, 101, 152)
        for v in ("", "_v2")
    },
    "vgg16": _k("VGG16", 224, _UNIT, color_order="bgr"),
    "vgg19": _k("VGG19", 224, _UNIT, color_order="bgr"),
    "xception": _k("Xception", 299, _SIGNED, min_size=71),
}


def keras_model_name(architecture: str) -> str:
    """The name of the pretrained network inside ``encoder``: what ``keras_encoder`` stands for.

    CLIP encoders are always ``visual``; Keras applications use their lower-cased Keras name (with
    faceswap's ``efficientnetv2-s`` spelling). fs_original has none (empty string).
    """
    info = ENCODERS[architecture]
    if info.kind == "clip":
        return "visual"
    return info.keras_name.replace("EfficientNetV2", "EfficientNetV2-").lower()


def input_size(config: PhazeAConfig) -> int:
    """Encoder (and model) input size in pixels, by faceswap's rule (its ``phaze_a.py``).

    ``max(min_size, floor(default_size * enc_scaling / 100 / 16) * 16)``; NASNet with ImageNet
    weights is forced to its default size, since its weights only fit that.
    """
    info = ENCODERS[config.enc_architecture]
    scaling = config.enc_scaling / 100
    size = int(max(info.min_size, ((info.default_size * scaling) // 16) * 16))
    if info.enforce_for_weights and config.enc_load_weights and scaling != 1.0:
        return info.default_size
    return size


def get_curve(
    start: int,
    end: int,
    num: int,
    slope: float,
    mode: Literal["full", "cap_max", "cap_min"] = "full",
) -> list[int]:
    """Filter/node counts from ``start`` towards ``end`` over ``num`` layers, floored to 8.

    *full*: a curve through both ends whose bend is ``slope`` (-0.99..0.99, 0 is a straight line).
    *cap_max*/*cap_min*: from ``start`` multiply by ``1 - |slope|`` each step (never below ``end``,
    stopping there), padded to ``num`` with ``start`` in front (cap_max) or ``end`` behind
    (cap_min).
    """
    slope = min(0.99, max(-0.99, slope))
    if num <= 0:
        return []
    if mode == "full":
        x = np.linspace(0.0, 1.0, num=num)
        y = (x - x * slope) / (slope - np.abs(x) * 2 * slope + 1)
        y = y * (end - start) + start
        return [int((v // 8) * 8) for v in y]
    values = [start]
    ratio = 1.0 - abs(slope)
    for _ in range(num - 1):
        current = max(end, int(((values[-1] * ratio) // 8) * 8))
        values.append(current)
        if current == end:
            break
    pad = [start if mode == "cap_max" else end] * (num - len(values))
    return pad + values if mode == "cap_max" else values + pad


def scale_dim(target: int, dim: int) -> int:
    """Halve ``target`` while it is larger than ``dim`` and halves evenly.

    The result is the side a feature map must have so that doubling it reaches ``target``.
    """
    new_dim = target
    while new_dim > dim:
        half = new_dim / 2
        if not half.is_integer():
            break
        new_dim = int(half)
    return new_dim


def fc_final_dims(config: PhazeAConfig) -> int:
    """faceswap's estimate of the fc output side: ``fc_dimensions * (fc_upsamples + 1)``.

    (The true side after ``n`` doublings is ``fc_dimensions * 2**n``; faceswap uses this
    estimate only to decide how to round filters, and so do we, to match its layer sizes.)
    """
    return config.fc_dimensions * (config.fc_upsamples + 1)


def scale_filters(config: PhazeAConfig, filters: int) -> int:
    """Round ``filters`` down so the fc output can be reshaped to a side that reaches
    output_size."""
    final = fc_final_dims(config)
    scaled = scale_dim(config.output_size, final)
    if scaled == final:
        return filters
    modifier = final**2 * scaled**2
    flat = final**2 * filters
    return int(((flat // modifier) * modifier) / final**2)


def fc_nodes(config: PhazeAConfig, gblock: bool = False) -> tuple[int, int]:
    """(min, max) nodes of an fc part's Dense layers."""
    if gblock:
        return config.fc_gblock_min_nodes, config.fc_gblock_max_nodes
    area = config.fc_dimensions**2
    return (
        int(scale_filters(config, config.fc_min_filters) * area),
        int(scale_filters(config, config.fc_max_filters) * area),
    )


def fc_node_curve(config: PhazeAConfig, gblock: bool = False) -> list[int]:
    low, high = fc_nodes(config, gblock)
    if gblock:
        return get_curve(low, high, config.fc_gblock_depth, config.fc_gblock_filter_slope)
    return get_curve(low, high, config.fc_depth, config.fc_filter_slope)


def fc_output_side(config: PhazeAConfig) -> int:
    """Side of the fc feature map after its upsamplers (before any decoder upscales)."""
    return config.fc_dimensions * 2**config.fc_upsamples


def decoder_start_side(config: PhazeAConfig) -> int:
    """Side the first decoder upscale starts from, after the reshape for arbitrary output sizes."""
    return scale_dim(config.output_size, fc_output_side(config))


def decoder_filters(config: PhazeAConfig) -> list[int]:
    """Filters of every decoder upscale, in order (the first ``dec_upscales_in_fc`` run in fc)."""
    start = decoder_start_side(config)
    upscales = int(np.log2(config.output_size / start)) if start < config.output_size else 0
    return get_curve(
        config.dec_max_filters,
        config.dec_min_filters,
        upscales,
        config.dec_filter_slope,
        mode=config.dec_slope_mode,
    )


def upscale_count_is_exact(config: PhazeAConfig) -> bool:
    """Whether doubling the decoder start side ``len(decoder_filters)`` times gives output_size."""
    start = decoder_start_side(config)
    return (
        start * 2 ** len(decoder_filters(config)) == config.output_size
        and math.log2(config.output_size / start).is_integer()
    )
