"""Phaze-A: faceswap's configurable model (encoder -> fc -> G-Block -> decoder).

It mirrors faceswap's ``plugins/train/model/phaze_a.py`` and ``phaze_a_defaults.py``.

``PhazeAConfig`` holds the options, ``build(config, context)`` makes the Keras model,
``freeze_parts``/``load_parts`` turn ``freeze_layers``/``load_layers`` into part names,
``PRESET_DIR`` holds faceswap's Phaze-A presets (``lib/gui/.cache/presets/train/``) as TOML
files (``phaze_a_<name>.toml``, each with a ``[model.phaze_a]`` section), and ``DESCRIPTOR``
registers the model with those presets.

The model is BGR in and BGR out whatever the encoder: encoders trained on RGB get their channels
reversed inside the ``encoder`` part, so the descriptor's ``color_order`` stays ``"bgr"``.
"""

from __future__ import annotations

from pathlib import Path

from fs_core.descriptors import ModelDescriptor
from fs_plugins_models.phaze_a.build import NAME, build, freeze_parts, load_parts, part_names
from fs_plugins_models.phaze_a.config import PhazeAConfig

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"
HELP = (
    "Phaze-A: a highly configurable model (any encoder incl. ImageNet/CLIP networks, split or "
    "shared fc, G-Block, many upscalers), 64-2048 px; see the phaze_a_* presets."
)

DESCRIPTOR = ModelDescriptor(
    name=NAME,
    help=HELP,
    config_class=PhazeAConfig,
    build=build,
    freeze_parts=freeze_parts,
    load_parts=load_parts,
    presets={path.stem: str(path) for path in sorted(PRESET_DIR.glob("*.toml"))},
)

__all__ = [
    "DESCRIPTOR",
    "HELP",
    "NAME",
    "PRESET_DIR",
    "PhazeAConfig",
    "build",
    "freeze_parts",
    "load_parts",
    "part_names",
]
