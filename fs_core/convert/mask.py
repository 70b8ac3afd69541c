"""The mask of a swapped face in ``fs convert``: blends (plugins), erosion and the edge box.

The blends have the signature of :class:`fs_core.descriptors.MaskBlendDescriptor`:
``(mask (S, S, 1) float32 0-1, options) -> mask``. Erosion and the edge box follow faceswap's
``mask_blend`` so a mask behaves as a faceswap user expects; :mod:`fs_core.convert.swap` applies
them in faceswap's order: the mask is made and blended (the *raw* mask, used for colour matching),
then eroded or dilated, then limited to the box so the patch never shows its square edge.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

#: each later blur pass multiplies the kernel by this, per blur type (faceswap's values)
_PASS_FACTOR = {"gaussian": 0.8, "normalized": 0.5}


def odd(kernel: int) -> int:
    """The kernel made odd (+1 when even), as OpenCV's blurs need."""
    kernel = int(kernel)
    return kernel if kernel % 2 else kernel + 1


def _gaussian(mask: np.ndarray, kernel: int) -> np.ndarray:
    return cv2.GaussianBlur(mask, (kernel, kernel), 0)


def _box(mask: np.ndarray, kernel: int) -> np.ndarray:
    return cv2.blur(mask, (kernel, kernel))


def _blur_passes(
    mask: np.ndarray,
    kernel: int,
    passes: int,
    blur: Callable[[np.ndarray, int], np.ndarray],
    factor: float,
) -> np.ndarray:
    """``passes`` blurs; pass 1 uses odd(kernel), each next one odd(round(previous·factor))."""
    out = np.asarray(mask, np.float32)[..., 0]
    size = odd(kernel)
    for _ in range(max(1, int(passes))):
        out = blur(out, size)
        size = odd(int(round(size * factor)))
    return out[..., None].astype(np.float32)


def blend_gaussian(mask: np.ndarray, options: Any) -> np.ndarray:
    """Gaussian blur (σ from the kernel, OpenCV's rule), ``mask_passes`` times, kernel
    ``mask_kernel_size`` made odd, shrinking ×0.8 (made odd) each pass."""
    return _blur_passes(
        mask, options.mask_kernel_size, options.mask_passes, _gaussian, _PASS_FACTOR["gaussian"]
    )


def blend_normalized(mask: np.ndarray, options: Any) -> np.ndarray:
    """Normalised box filter (mean over a k×k window), ``mask_passes`` times, kernel
    ``mask_kernel_size`` made odd, shrinking ×0.5 (made odd) each pass."""
    return _blur_passes(
        mask, options.mask_kernel_size, options.mask_passes, _box, _PASS_FACTOR["normalized"]
    )


def blend_none(mask: np.ndarray, options: Any) -> np.ndarray:
    """No blur: the mask's edge stays as it was made."""
    return np.asarray(mask, np.float32)


def edge_box(size: int, blurred: bool) -> np.ndarray:
    """The limit every mask is clipped to: float32 (size, size, 1), 1 inside an inset of
    e = size//32 + 1 px on each side, 0 on the border; when ``blurred`` (any blend but none), one
    Gaussian pass of kernel 2·round(max(1, 0.06·(size − 2e))) + 1 softens it."""
    box = np.zeros((size, size), np.float32)
    edge = size // 32 + 1
    box[edge:-edge, edge:-edge] = 1.0
    if blurred:
        radius = round(max(1.0, float(np.sqrt(box.sum())) * 6 / 100.0))
        box = _gaussian(box, odd(int(radius * 2 + 1)))
    return box[..., None]


def _erosion_kernel(index: int, size: int) -> np.ndarray:
    """Kernel ``index`` of (centre, left, top, right, bottom): an ellipse for the centre, a square
    for left (faceswap's quirk: it trims top and bottom too), a 1 px wide vertical line for top
    and bottom, a 1 px tall horizontal line for right."""
    if index == 0:
        return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    width, height = size, size
    if index in (2, 4):
        width = 1
    elif index == 3:
        height = 1
    return cv2.getStructuringElement(cv2.MORPH_RECT, (width, height))


def _erosion_anchor(index: int, kernel: np.ndarray, amount: float) -> tuple[int, int]:
    """Where the kernel is anchored, so erosion moves only its own edge (faceswap's anchors)."""
    if index == 0:
        return (-1, -1)
    last = max(kernel.shape) - 1
    if amount > 0:
        value = last if index < 3 else 0
    else:
        value = 0 if index < 3 else last
    return (value, -1) if index % 2 == 1 else (-1, value)


def erosion_amounts(options: Any) -> tuple[float, ...]:
    """(centre, left, top, right, bottom) erosion as fractions; positive shrinks."""
    return tuple(
        float(value) / 100.0
        for value in (
            options.mask_erosion,
            options.mask_erosion_left,
            options.mask_erosion_top,
            options.mask_erosion_right,
            options.mask_erosion_bottom,
        )
    )


def erode(mask: np.ndarray, amounts: tuple[float, ...]) -> np.ndarray:
    """Erode (positive amount) or dilate each edge of the mask, in faceswap's order.

    With ρ = √(Σ mask)/2 (about the radius of a round mask in px), kernel i has side
    int(|amount_i·ρ|); a side of 0 skips that step.
    """
    if not any(amounts):
        return np.asarray(mask, np.float32)
    radius = float(np.sqrt(np.sum(mask))) / 2.0
    out = np.asarray(mask, np.float32)[..., 0]
    for index, amount in enumerate(amounts):
        size = max(0, int(abs(amount * radius)))
        if not size or not amount:
            continue
        kernel = _erosion_kernel(index, size)
        anchor = _erosion_anchor(index, kernel, amount)
        operation = cv2.erode if amount > 0 else cv2.dilate
        out = np.asarray(operation(out, kernel, iterations=1, anchor=anchor), np.float32)
    return out[..., None]


def threshold_mask(mask: np.ndarray, percent: float) -> np.ndarray:
    """A stored uint8 mask with values below t = percent·255/100 set to 0 and above 255 − t set
    to 255, so the near-black and near-white noise of a mask model's output is clean."""
    if percent <= 0:
        return mask
    level = percent / 100.0 * 255.0
    out = mask.copy()
    out[out < level] = 0
    out[out > 255.0 - level] = 255
    return out
