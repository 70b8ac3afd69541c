"""The built-in augmenters, registered through the ``fs_augmenters`` hook like any plugin's.

Order (by stage) follows faceswap's batch collation (``lib/training/data/collate.py``): colour
(10), affine (20), flip (30), then the input-only warps (50): the random grid warp by default,
warp-to-landmarks instead when asked. The switches in
:class:`fs_core.config.sections.AugmentationOptions` (``no_augment_color``, ``no_flip``,
``no_warp``, ``warp_to_landmarks``; the CLI's -c -P -W -M) decide which run.

DeepFaceLab's data options, off by default (then nothing of theirs runs or draws): colour transfer
(5, side B, toward side-A faces the loader hands it), blur out mask (35, after the geometry so the
mask still fits, before the targets are taken) and random HSV (40, side B's input only, before the
warp).
"""

from __future__ import annotations

from fs_core.augment.blur_out import augment_blur_out_mask
from fs_core.augment.color import augment_color
from fs_core.augment.color_transfer import augment_color_transfer
from fs_core.augment.geometry import augment_affine, augment_flip
from fs_core.augment.grid_warp import augment_grid_warp
from fs_core.augment.hsv import augment_hsv
from fs_core.augment.landmark_warp import augment_warp_to_landmarks
from fs_core.descriptors import AugmenterDescriptor
from fs_core.hookspecs import hookimpl


def _color_on(options) -> bool:
    return not options.no_augment_color


def _affine_on(options) -> bool:
    return bool(options.zoom_amount or options.rotation_range or options.shift_range)


def _flip_on(options) -> bool:
    return not options.no_flip and options.flip_chance > 0


def _grid_warp_on(options) -> bool:
    return not options.no_warp and not options.warp_to_landmarks


def _landmark_warp_on(options) -> bool:
    return not options.no_warp and options.warp_to_landmarks


def _color_transfer_on(options) -> bool:
    return getattr(options, "color_transfer", "none") != "none"


def _blur_out_on(options) -> bool:
    return bool(getattr(options, "blur_out_mask", False))


def _hsv_on(options) -> bool:
    return float(getattr(options, "random_hsv_power", 0.0)) > 0.0


@hookimpl
def fs_augmenters() -> list[AugmenterDescriptor]:
    return [
        AugmenterDescriptor(
            name="color_transfer",
            stage=5,
            apply=augment_color_transfer,
            enabled=_color_transfer_on,
            sides=("b",),
            needs_other_side=True,
            help="Side B's colours moved toward random side-A faces' (color_transfer).",
        ),
        AugmenterDescriptor(
            name="color",
            stage=10,
            apply=augment_color,
            enabled=_color_on,
            help="Random LAB lightness and a/b shifts, CLAHE by chance (off: -c).",
        ),
        AugmenterDescriptor(
            name="affine",
            stage=20,
            apply=augment_affine,
            enabled=_affine_on,
            help="Random zoom, rotation and shift of faces, masks and landmarks.",
        ),
        AugmenterDescriptor(
            name="flip",
            stage=30,
            apply=augment_flip,
            enabled=_flip_on,
            help="Random horizontal flip; landmarks mirrored left/right (off: -P).",
        ),
        AugmenterDescriptor(
            name="blur_out_mask",
            stage=35,
            apply=augment_blur_out_mask,
            enabled=_blur_out_on,
            needs_masks=True,
            help="Blur the background outside the face mask, inputs and targets (blur_out_mask).",
        ),
        AugmenterDescriptor(
            name="random_hsv",
            stage=40,
            apply=augment_hsv,
            input_only=True,
            enabled=_hsv_on,
            sides=("b",),
            help="Random hue/saturation/value of side B's input (random_hsv_power).",
        ),
        AugmenterDescriptor(
            name="grid_warp",
            stage=50,
            apply=augment_grid_warp,
            input_only=True,
            enabled=_grid_warp_on,
            help="Random smooth warp of the model input (off: -W).",
        ),
        AugmenterDescriptor(
            name="warp_to_landmarks",
            stage=50,
            apply=augment_warp_to_landmarks,
            input_only=True,
            needs_landmarks=True,
            enabled=_landmark_warp_on,
            help="Warp the input toward a similar face of the other side (-M).",
        ),
    ]
