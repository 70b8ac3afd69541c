"""The ``[model.phaze_a]`` options: every knob of Phaze-A with faceswap's defaults and ranges.

Those are in faceswap's ``plugins/train/model/phaze_a_defaults.py``.

Phaze-A is built entirely from these options, so they are checked here, once, before any layer is
made: per-option ranges by the :func:`fs_core.config.option` validators, and the checks that involve
several options (output size against the decoder's upscales, part lists against the parts this
configuration has) by :func:`validate`. All options are locked at model creation except
``fc_dropout``, ``fc_gblock_dropout`` and ``freeze_layers``, which a user may change on resume.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

import attrs

from fs_core.config.options import option
from fs_core.errors import FsUserError
from fs_plugins_models.phaze_a import geometry as geo
from fs_plugins_models.phaze_a.geometry import ENCODERS

FREEZE_CHOICES = (
    "encoder",
    "keras_encoder",
    "fc_a",
    "fc_b",
    "fc_both",
    "fc_shared",
    "fc_gblock",
    "g_block_a",
    "g_block_b",
    "g_block_both",
    "decoder_a",
    "decoder_b",
    "decoder_both",
)
LOAD_CHOICES = tuple(name for name in FREEZE_CHOICES if name != "keras_encoder")
UPSCALERS = ("subpixel", "resize_images", "upscale_fast", "upscale_hybrid")


def _as_names(value: Any) -> Any:
    """A part list may be written as one name or a list of names; keep it as a (new) list.

    A list, not a tuple, so a value read back from TOML compares equal to the one in force.
    """
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    return value


def _check_names(choices: tuple[str, ...]) -> Callable[[Any, attrs.Attribute, Any], None]:
    def validate(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"must be a list of names, got {value!r}")
        unknown = [v for v in value if v not in choices]
        if unknown:
            raise ValueError(f"must name parts among {', '.join(choices)}; got {unknown!r}")

    return validate


def part_list_option(
    default: tuple[str, ...], help: str, choices: Iterable[str], *, locked: bool
) -> Any:
    """A list-of-part-names option: one name or a list of them, each among ``choices``."""
    choices = tuple(choices)
    return option(
        default,
        help,
        choices=choices,
        locked=locked,
        converter=_as_names,
        validator=_check_names(choices),
    )


@attrs.define
class PhazeAConfig:
    """Options of the Phaze-A model (faceswap's
    plugins/train/model/phaze_a_defaults.py). See each option's help."""

    # general
    output_size: int = option(
        128, "Output resolution in pixels (a multiple of 16).", min=64, max=2048, locked=True
    )
    shared_fc: str = option(
        "none",
        "Extra fully connected layers shared by both sides: none, full "
        "(its own, IAE style) or half (reuse fc_a or fc_both, LIAE style).",
        choices=("none", "full", "half"),
        locked=True,
    )
    enable_gblock: bool = option(
        True,
        "Use the StyleGAN-like G-Block (and its own fc_gblock) before the decoder.",
        locked=True,
    )
    split_fc: bool = option(
        True,
        "One fully connected part per side (fc_a, fc_b) instead of one shared fc_both.",
        locked=True,
    )
    split_gblock: bool = option(
        False, "One G-Block per side instead of a shared g_block_both.", locked=True
    )
    split_decoders: bool = option(
        False, "One decoder per side instead of a shared decoder_both.", locked=True
    )
    # encoder
    enc_architecture: str = option(
        "fs_original",
        "Encoder network: fs_original (faceswap's own) "
        "or a Keras application / CLIP vision transformer.",
        choices=tuple(ENCODERS),
        locked=True,
    )
    enc_scaling: int = option(
        7,
        "Encoder input size as a percent of the encoder's default size (rounded down to 16 px).",
        min=0,
        max=200,
        locked=True,
    )
    enc_load_weights: bool = option(
        True,
        "Start the encoder from ImageNet (or CLIP) weights; the "
        "file must already be in ~/.keras/models. Not used for "
        "fs_original.",
        locked=True,
    )
    # bottleneck
    bottleneck_type: str = option(
        "dense",
        "Bottleneck after the encoder: dense, average_pooling, max_pooling or flatten.",
        choices=("dense", "average_pooling", "max_pooling", "flatten"),
        locked=True,
    )
    bottleneck_norm: str = option(
        "none",
        "Normalization before the bottleneck.",
        choices=("none", "instance", "layer", "rms"),
        locked=True,
    )
    bottleneck_size: int = option(
        1024, "Nodes of a dense bottleneck.", min=128, max=4096, locked=True
    )
    bottleneck_in_encoder: bool = option(
        True,
        "Bottleneck at the end of the shared encoder (false: one at the start of each fc part).",
        locked=True,
    )
    # hidden layers
    fc_depth: int = option(1, "Dense layers in each fc part.", min=0, max=16, locked=True)
    fc_min_filters: int = option(
        1024,
        "Filters (times fc_dimensions squared = nodes) of the first fc Dense.",
        min=16,
        max=5120,
        locked=True,
    )
    fc_max_filters: int = option(
        1024,
        "Filters (times fc_dimensions squared = nodes) of the last "
        "fc Dense, reshaped for the decoder.",
        min=128,
        max=5120,
        locked=True,
    )
    fc_dimensions: int = option(
        4, "Height and width of the fc reshape.", min=1, max=16, locked=True
    )
    fc_filter_slope: float = option(
        -0.5, "Curve of the fc node counts from min to max.", min=-0.99, max=0.99, locked=True
    )
    fc_dropout: float = option(
        0.0, "Dropout before each fc Dense (changeable on resume).", min=0.0, max=0.99
    )
    fc_upsampler: str = option(
        "upsample2d",
        "How the fc output is upsampled.",
        choices=("upsample2d",) + UPSCALERS,
        locked=True,
    )
    fc_upsamples: int = option(1, "Times the fc output is upsampled x2.", min=0, max=4, locked=True)
    fc_upsample_filters: int = option(
        512, "Filters of the fc upsamplers (not upsample2d).", min=128, max=5120, locked=True
    )
    # g-block
    fc_gblock_depth: int = option(3, "Dense layers of fc_gblock.", min=1, max=16, locked=True)
    fc_gblock_min_nodes: int = option(
        512, "Nodes of the first fc_gblock Dense.", min=128, max=5120, locked=True
    )
    fc_gblock_max_nodes: int = option(
        512, "Nodes of the last fc_gblock Dense.", min=128, max=5120, locked=True
    )
    fc_gblock_filter_slope: float = option(
        -0.5, "Curve of the fc_gblock node counts.", min=-0.99, max=0.99, locked=True
    )
    fc_gblock_dropout: float = option(
        0.0, "Dropout before each fc_gblock Dense (changeable on resume).", min=0.0, max=0.99
    )
    # decoder
    dec_upscale_method: str = option(
        "subpixel", "Decoder upscaler.", choices=UPSCALERS + ("upscale_dny",), locked=True
    )
    dec_upscales_in_fc: int = option(
        0,
        "Move the first N decoder upscales to the end of the fc parts.",
        min=0,
        max=6,
        locked=True,
    )
    dec_norm: str = option(
        "none",
        "Normalization after each decoder upscale.",
        choices=("none", "batch", "group", "instance", "layer", "rms"),
        locked=True,
    )
    dec_min_filters: int = option(
        64, "Filters of the last decoder upscale.", min=16, max=512, locked=True
    )
    dec_max_filters: int = option(
        512, "Filters of the first decoder upscale.", min=256, max=5120, locked=True
    )
    dec_slope_mode: Literal["full", "cap_max", "cap_min"] = option(
        "full",
        "How decoder filters fall: full curve, or a fixed ratio "
        "capped at the max (cap_max) or min (cap_min).",
        choices=("full", "cap_max", "cap_min"),
        locked=True,
    )
    dec_filter_slope: float = option(
        -0.45, "Slope of the decoder filter curve.", min=-0.99, max=0.99, locked=True
    )
    dec_res_blocks: int = option(
        1, "Residual blocks after each decoder upscale.", min=0, max=8, locked=True
    )
    dec_output_kernel: int = option(
        5, "Kernel size of the output convolutions.", min=1, max=9, locked=True
    )
    dec_gaussian: bool = option(
        True, "Gaussian noise (stddev 1) after each decoder upscale while training.", locked=True
    )
    dec_skip_last_residual: bool = option(
        True, "No residual blocks after the last upscale.", locked=True
    )
    # weights
    freeze_layers: list[str] = part_list_option(
        ("keras_encoder",),
        "Parts -f freezes (changeable). "
        "keras_encoder (the pretrained network inside encoder) "
        "is really frozen for every Keras encoder, where "
        "faceswap's name lookup freezes nothing for most of "
        "them.",
        FREEZE_CHOICES,
        locked=False,
    )
    load_layers: list[str] = part_list_option(
        ("encoder",), "Parts -l copies from another model.", LOAD_CHOICES, locked=True
    )
    # fs_original encoder
    fs_original_depth: int = option(
        4, "Convolutions of the fs_original encoder.", min=2, max=10, locked=True
    )
    fs_original_min_filters: int = option(
        128, "Filters of the first fs_original convolution.", min=16, max=2048, locked=True
    )
    fs_original_max_filters: int = option(
        1024, "Largest filter count of fs_original.", min=256, max=8192, locked=True
    )
    fs_original_use_alt: bool = option(
        False, "Use the alternative (DNY) fs_original encoder.", locked=True
    )
    # mobilenet encoders
    mobilenet_width: float = option(
        1.0, "MobileNet width multiplier (alpha).", min=0.1, max=2.0, locked=True
    )
    mobilenet_depth: int = option(1, "MobileNet v1 depth multiplier.", min=1, max=10, locked=True)
    mobilenet_dropout: float = option(
        0.001,
        "MobileNet v1 dropout (the network's top only, which the encoder leaves out).",
        min=0.001,
        max=2.0,
        locked=True,
    )
    mobilenet_minimalistic: bool = option(
        False,
        "MobileNet v3 minimalistic variant. fs passes "
        "mobilenet_width and this option to MobileNet v3 (and "
        "scales its input once), where faceswap passes it no "
        "options, so its input is scaled twice.",
        locked=True,
    )

    def __attrs_post_init__(self) -> None:
        validate(self)


def _fail(option_name: str, message: str) -> None:
    raise FsUserError(f"[model.phaze_a] {option_name}: {message}")


def validate(config: PhazeAConfig) -> None:
    """The checks that involve more than one option; each names the option to change."""
    if config.output_size % 16:
        _fail("output_size", f"must be a multiple of 16, got {config.output_size}")
    side = geo.decoder_start_side(config)
    if not geo.upscale_count_is_exact(config):
        _fail(
            "output_size",
            f"{config.output_size} px cannot be reached by doubling the "
            f"{geo.fc_output_side(config)} px fc output (fc_dimensions "
            f"{config.fc_dimensions}, fc_upsamples {config.fc_upsamples}); pick sizes whose "
            "ratio is a power of two",
        )
    if side > config.output_size:
        _fail(
            "fc_dimensions",
            f"the fc output ({geo.fc_output_side(config)} px) is larger than "
            f"output_size {config.output_size}; lower fc_dimensions or fc_upsamples",
        )
    upscales = len(geo.decoder_filters(config))
    if config.dec_upscales_in_fc > upscales:
        _fail(
            "dec_upscales_in_fc",
            f"{config.dec_upscales_in_fc} is more than the decoder's "
            f"{upscales} upscales at output_size {config.output_size}",
        )
    if config.dec_norm == "group":
        odd = [f for f in geo.decoder_filters(config) if f % 32]
        if odd:
            _fail(
                "dec_norm",
                f"group normalization needs decoder filters divisible by its 32 "
                f"groups; the decoder filter curve gives {odd}",
            )
    info = geo.ENCODERS[config.enc_architecture]
    if info.kind == "clip" and config.bottleneck_type in ("average_pooling", "max_pooling"):
        _fail(
            "bottleneck_type",
            f"{config.bottleneck_type} needs a feature map, but "
            f"{config.enc_architecture} returns a vector; use dense or flatten",
        )
    if config.fc_depth == 0 and config.bottleneck_type == "dense":
        nodes = geo.fc_nodes(config)[1]
        if config.bottleneck_size != nodes:
            _fail(
                "fc_depth",
                f"0 means the bottleneck output ({config.bottleneck_size}) is "
                f"reshaped directly to fc_dimensions² x fc_max_filters ({nodes}); make "
                "bottleneck_size equal to that or use fc_depth >= 1",
            )
    if geo.input_size(config) < 16:
        _fail("enc_scaling", f"{config.enc_scaling}% gives an input under 16 px")
    if config.fs_original_min_filters > config.fs_original_max_filters:
        _fail("fs_original_min_filters", "must not be larger than fs_original_max_filters")
