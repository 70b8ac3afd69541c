"""Sharpening scalers of ``fs convert`` (the ``sharpen`` option), applied to the whole frame.

Each has the signature of :class:`fs_core.descriptors.ScalerDescriptor`:
``(image (H, W, 3) float32 0-1, options) -> image``; the caller clips to 0-1. A swapped face is
usually enlarged from the model's output size, so it comes out softer than the frame; these put
back some edge contrast. As faceswap: radius r = max(1, round(W·sharpen_radius/100)) px (W = frame
width), kernel k = 2r + 1, amount a = sharpen_amount/100.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np


def kernel_size(image: np.ndarray, options: Any) -> tuple[int, int]:
    """(radius, kernel) in pixels for this frame width."""
    radius = max(1, round(image.shape[1] * float(options.sharpen_radius) / 100.0))
    return radius, 2 * radius + 1


def sharpen_box(image: np.ndarray, options: Any) -> np.ndarray:
    """Convolution with (1 + a)·δ − a·(box mean over k×k): the image plus a times its difference
    from the local mean."""
    radius, size = kernel_size(image, options)
    amount = float(options.sharpen_amount) / 100.0
    kernel = np.full((size, size), -amount / size**2, np.float32)
    kernel[radius, radius] += 1.0 + amount
    return cv2.filter2D(np.asarray(image, np.float32), -1, kernel)


def sharpen_gaussian(image: np.ndarray, options: Any) -> np.ndarray:
    """(1 + a/2)·x − (a/2)·G_k(x), G_k a Gaussian blur of kernel k (σ from k, OpenCV's rule)."""
    _radius, size = kernel_size(image, options)
    amount = float(options.sharpen_amount) / 100.0
    image = np.asarray(image, np.float32)
    blur = cv2.GaussianBlur(image, (size, size), 0)
    return cv2.addWeighted(image, 1.0 + 0.5 * amount, blur, -0.5 * amount, 0)


def sharpen_unsharp_mask(image: np.ndarray, options: Any) -> np.ndarray:
    """B = G_k(x); where |x − B| < sharpen_threshold/255 the pixel becomes (1 + a)·x − a·B, the
    others stay. faceswap's rule, which sharpens only the low-contrast pixels."""
    _radius, size = kernel_size(image, options)
    amount = float(options.sharpen_amount) / 100.0
    image = np.asarray(image, np.float32)
    blur = cv2.GaussianBlur(image, (size, size), 0)
    low = (np.abs(image - blur) < float(options.sharpen_threshold) / 255.0).astype(np.float32)
    sharpened = image * (1.0 + amount) - blur * amount
    return image * (1.0 - low) + sharpened * low


def sharpen_none(image: np.ndarray, options: Any) -> np.ndarray:
    """No sharpening."""
    return np.asarray(image, np.float32)
