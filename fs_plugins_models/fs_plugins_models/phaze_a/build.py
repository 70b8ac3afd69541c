"""Assemble Phaze-A: encoder -> fc parts -> [shared concat] -> [G-Block] -> decoder(s).

Outputs follow the ModelDescriptor contract: side A's face, A's mask (learn-mask), then side B's.
The part lists that ``-f``/``-l`` act on come from ``freeze_layers``/``load_layers``, with
``keras_encoder`` standing for the pretrained network nested inside ``encoder``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import keras

from fs_core.model.context import BuildContext
from fs_plugins_models.phaze_a import geometry as geo
from fs_plugins_models.phaze_a.config import PhazeAConfig, validate
from fs_plugins_models.phaze_a.decoder import build_decoder
from fs_plugins_models.phaze_a.encoders import build_encoder
from fs_plugins_models.phaze_a.fc import build_fc
from fs_plugins_models.phaze_a.g_block import build_gblock

logger = logging.getLogger(__name__)

NAME = "phaze_a"


def _shape(tensor: Any) -> tuple[int, ...]:
    return tuple(tensor.shape[1:])


def _split(value: Any) -> tuple[Any, Any | None]:
    """(face features, mask features or None) from an fc output."""
    return (value[0], value[1]) if isinstance(value, (list, tuple)) else (value, None)


def part_names(config: PhazeAConfig) -> tuple[str, ...]:
    """The top-level parts this configuration builds."""
    names = ["encoder"]
    names += ["fc_a", "fc_b"] if config.split_fc else ["fc_both"]
    if config.shared_fc == "full":
        names.append("fc_shared")
    if config.enable_gblock:
        names.append("fc_gblock")
        names += ["g_block_a", "g_block_b"] if config.split_gblock else ["g_block_both"]
    names += ["decoder_a", "decoder_b"] if config.split_decoders else ["decoder_both"]
    return tuple(names)


def _select(config: PhazeAConfig, requested: Sequence[str], option_name: str) -> tuple[str, ...]:
    keras_name = geo.keras_model_name(config.enc_architecture)
    available = set(part_names(config)) | ({keras_name} if keras_name else set())
    chosen = []
    for requested_name in requested:
        name = keras_name if requested_name == "keras_encoder" else requested_name
        if not name:  # keras_encoder with fs_original: there is no pretrained network
            continue
        if name not in available:
            logger.warning(
                "phaze_a %s: this configuration has no part '%s'; ignored", option_name, name
            )
            continue
        chosen.append(name)
    return tuple(dict.fromkeys(chosen))


def freeze_parts(config: PhazeAConfig) -> tuple[str, ...]:
    """Parts ``-f`` freezes. May name the pretrained network nested in ``encoder``."""
    return _select(config, config.freeze_layers, "freeze_layers")


def load_parts(config: PhazeAConfig) -> tuple[str, ...]:
    """Parts ``-l`` copies from another model."""
    return _select(config, config.load_layers, "load_layers")


def _fc_outputs(
    context: BuildContext, config: PhazeAConfig, encoded: dict[str, Any]
) -> dict[str, Any]:
    shape = _shape(encoded["a"])
    if config.split_fc:
        fc_a = build_fc(context, config, "a", shape)
        fc_b = build_fc(context, config, "b", shape)
        inters = {"a": _split(fc_a(encoded["a"])), "b": _split(fc_b(encoded["b"]))}
    else:
        fc_a = build_fc(context, config, "both", shape)
        inters = {side: _split(fc_a(encoded[side])) for side in "ab"}
    if config.shared_fc != "none":
        shared = build_fc(context, config, "shared", shape) if config.shared_fc == "full" else fc_a
        for side in "ab":
            face, mask = inters[side]
            s_face, s_mask = _split(shared(encoded[side]))
            face = keras.layers.Concatenate(name=f"inter_{side}")([face, s_face])
            if mask is not None:
                mask = keras.layers.Concatenate(name=f"inter_{side}_mask")([mask, s_mask])
            inters[side] = (face, mask)
    return inters


def _gblock_outputs(
    context: BuildContext, config: PhazeAConfig, encoded: dict[str, Any], inters: dict[str, Any]
) -> dict[str, Any]:
    if not config.enable_gblock:
        return inters
    fc_gblock = build_fc(context, config, "gblock", _shape(encoded["a"]))
    styles = {side: fc_gblock(encoded[side]) for side in "ab"}
    feature_shape = _shape(inters["a"][0])
    style_shape = _shape(styles["a"])
    if config.split_gblock:
        blocks = {side: build_gblock(context, side, feature_shape, style_shape) for side in "ab"}
    else:
        shared = build_gblock(context, "both", feature_shape, style_shape)
        blocks = {"a": shared, "b": shared}
    return {side: (blocks[side]([inters[side][0], styles[side]]), inters[side][1]) for side in "ab"}


def build(config: PhazeAConfig, context: BuildContext) -> keras.Model:
    """The Phaze-A model: inputs ``[face_in_a, face_in_b]``, outputs per the model contract."""
    validate(config)
    size = geo.input_size(config)
    inputs = [keras.Input((size, size, 3), name=f"face_in_{side}") for side in "ab"]
    encoder = build_encoder(context, config)
    encoded = {"a": encoder(inputs[0]), "b": encoder(inputs[1])}
    inters = _gblock_outputs(context, config, encoded, _fc_outputs(context, config, encoded))
    face_shape = _shape(inters["a"][0])
    mask_shape = _shape(inters["a"][1]) if inters["a"][1] is not None else None
    if config.split_decoders:
        decoders = {
            side: build_decoder(context, config, side, face_shape, mask_shape) for side in "ab"
        }
    else:
        shared = build_decoder(context, config, "both", face_shape, mask_shape)
        decoders = {"a": shared, "b": shared}
    outputs: list[Any] = []
    for side in "ab":
        face, mask = inters[side]
        result = decoders[side]([face, mask] if mask is not None else face)
        outputs += list(result) if isinstance(result, (list, tuple)) else [result]
    return keras.Model(inputs, outputs, name=NAME)
