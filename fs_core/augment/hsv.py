"""Random HSV jitter of side B's model input (DeepFaceLab's ``random_hsv_power``).

As DeepFaceLab's sample processor does it with ``random_hsv_shift_amount = power``, on the input
only (the targets keep the true colours, so the model learns to undo the jitter; DeepFaceLab passes
the amount to the warped src sample alone) and on side B only (its option is "src only"): per face,
hue + an integer number of degrees in [−h, h], h = max(1, int(360·power/2)), modulo 360;
saturation and value + uniform(−power/2, power/2), clipped to [0, 1]. It runs on the input copy
before the warp, where DeepFaceLab applies it too. The batch goes through OpenCV's float HSV
conversion in one call each way (faces stacked as rows).
"""

from __future__ import annotations

import cv2
import numpy as np

from fs_core.data.batch import AugmentBatch


def hsv_shifts(count: int, power: float, rng: np.random.Generator) -> np.ndarray:
    """Per face (hue degrees, saturation shift, value shift): float32 (count, 3)."""
    hue_limit = max(1, int(360 * power * 0.5))
    hue = rng.integers(-hue_limit, hue_limit + 1, size=count)
    sat_val = (rng.random((count, 2)) - 0.5) * power
    return np.concatenate([hue[:, None], sat_val], axis=1).astype(np.float32)


def jitter_hsv(images: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """``images`` uint8 (N, P, P, 3) BGR shifted by ``shifts`` (N, 3) (see :func:`hsv_shifts`)."""
    count, size = images.shape[0], images.shape[1]
    bgr = images.reshape(count * size, size, 3).astype(np.float32) * np.float32(1.0 / 255.0)
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV).reshape(images.shape)
    hsv += shifts[:, None, None, :]
    np.mod(hsv[..., 0], 360.0, out=hsv[..., 0])
    np.clip(hsv[..., 1:], 0.0, 1.0, out=hsv[..., 1:])
    out = cv2.cvtColor(hsv.reshape(count * size, size, 3), cv2.COLOR_HSV2BGR)
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8).reshape(images.shape)


def augment_hsv(batch: AugmentBatch, rng: np.random.Generator, options) -> None:
    """Jitter the input copy's hue, saturation and value by ``random_hsv_power``."""
    if len(batch) == 0:
        return
    shifts = hsv_shifts(len(batch), float(options.random_hsv_power), rng)
    batch.warped = jitter_hsv(batch.input_images(), shifts)
