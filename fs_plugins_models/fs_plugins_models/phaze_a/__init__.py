"""Phaze-A: faceswap's configurable model (encoder -> fc -> G-Block -> decoder), reference §A.3.

``PhazeAConfig`` holds the options, ``build(config, context)`` makes the Keras model, and
``PRESET_DIR`` holds the reference's presets as TOML files (``phaze_a_<name>.toml``).
"""
from __future__ import annotations

from pathlib import Path

from fs_plugins_models.phaze_a.config import PhazeAConfig

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"

__all__ = ["PRESET_DIR", "PhazeAConfig"]
