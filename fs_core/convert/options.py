"""The options of ``fs convert`` (the ``[convert]`` config section), where convert code looks
for them. Defined in :mod:`fs_core.config.convert` with the other core sections, so reading a
config file does not import convert."""

from __future__ import annotations

from fs_core.config.convert import (
    LANDMARK_MASKS,
    MANUAL_BALANCE_SPACES,
    MASK_TYPES,
    ConvertOptions,
)

__all__ = ["LANDMARK_MASKS", "MANUAL_BALANCE_SPACES", "MASK_TYPES", "ConvertOptions"]
