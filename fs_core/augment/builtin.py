"""The built-in augmenters, registered through the ``fs_augmenters`` hook like any plugin's.

Order (by stage) follows faceswap's batch collation (``lib/training/data/collate.py``): colour
(10), affine (20), flip (30), then the input-only warps (50): the random grid warp by default,
warp-to-landmarks instead when asked. The switches in
:class:`fs_core.config.sections.AugmentationOptions` (``no_augment_color``, ``no_flip``,
``no_warp``, ``warp_to_landmarks``; the CLI's -c -P -W -M) decide which run.
"""

from __future__ import annotations

import fs_core
from fs_core.augment.color import augment_color
from fs_core.augment.geometry import augment_affine, augment_flip
from fs_core.augment.grid_warp import augment_grid_warp
from fs_core.augment.landmark_warp import augment_warp_to_landmarks
from fs_core.descriptors import AugmenterDescriptor


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


@fs_core.hookimpl
def fs_augmenters() -> list[AugmenterDescriptor]:
    return [
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
