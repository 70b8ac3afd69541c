"""The core's convert plugins: colour adjustments, mask blends and sharpening scalers.

Registered like a pack (``BUILTIN_MODULES``), so a pack adds its own through the same hooks and
``fs plugins`` lists them side by side. The writers are registered by
:mod:`fs_core.convert.writers`.
"""

from __future__ import annotations

from fs_core.convert import color, mask, sharpen
from fs_core.descriptors import ColorAdjustmentDescriptor, MaskBlendDescriptor, ScalerDescriptor
from fs_core.hookspecs import hookimpl


@hookimpl
def fs_convert_colors() -> list[ColorAdjustmentDescriptor]:
    return [
        ColorAdjustmentDescriptor(
            "avg-color", "Match the face's mean colour to the frame's (default).", color.avg_color
        ),
        ColorAdjustmentDescriptor(
            "color-transfer",
            "Match mean and spread of L*a*b* colour (Reinhard et al.).",
            color.color_transfer,
        ),
        ColorAdjustmentDescriptor(
            "match-hist", "Match each channel's histogram inside the mask.", color.match_hist
        ),
        ColorAdjustmentDescriptor(
            "manual-balance",
            "Fixed colour, contrast and brightness shifts (manual_balance_* options).",
            color.manual_balance,
        ),
        ColorAdjustmentDescriptor(
            "seamless-clone", "Poisson-blend the face into the frame face.", color.seamless_clone
        ),
        ColorAdjustmentDescriptor("none", "No colour adjustment.", color.no_color),
    ]


@hookimpl
def fs_convert_mask_blends() -> list[MaskBlendDescriptor]:
    return [
        MaskBlendDescriptor(
            "normalized", "Box-filter blur of the mask edge (default).", mask.blend_normalized
        ),
        MaskBlendDescriptor("gaussian", "Gaussian blur of the mask edge.", mask.blend_gaussian),
        MaskBlendDescriptor("none", "No blur: a hard mask edge.", mask.blend_none),
    ]


@hookimpl
def fs_convert_scalers() -> list[ScalerDescriptor]:
    return [
        ScalerDescriptor("none", "No sharpening (default).", sharpen.sharpen_none),
        ScalerDescriptor("box", "Sharpen against a box-filter mean.", sharpen.sharpen_box),
        ScalerDescriptor("gaussian", "Sharpen against a Gaussian blur.", sharpen.sharpen_gaussian),
        ScalerDescriptor(
            "unsharp-mask",
            "Unsharp mask of the low-contrast pixels (faceswap's rule).",
            sharpen.sharpen_unsharp_mask,
        ),
    ]
