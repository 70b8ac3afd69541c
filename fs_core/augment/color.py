"""Colour augmentation: random LAB lightness and a/b shifts, then CLAHE on lightness by chance.

Faces of one identity come from a few videos with their own lighting; shifting lightness and tint
keeps the model from learning the lighting as part of the identity. The whole batch is converted to
LAB in one OpenCV call (rows of all faces stacked), the shifts are one numpy expression over the
batch, and only CLAHE needs a call per face.
"""

from __future__ import annotations

import cv2
import numpy as np

from fs_core.data.batch import AugmentBatch

CLAHE_CLIP_LIMIT = 2.0


def shift_tables(amounts: np.ndarray) -> np.ndarray:
    """Lookup tables for :func:`shift_channels`: uint8 (N, 256, 1, 3), one per face."""
    value = np.arange(256, dtype=np.float32)[None, :, None]
    u = amounts.astype(np.float32)[:, None, :]
    shifted = np.where(u >= 0, value + (255.0 - value) * u, value * (1.0 + u))
    return np.clip(np.rint(shifted), 0, 255).astype(np.uint8)[:, :, None, :]


def shift_channels(lab: np.ndarray, amounts: np.ndarray) -> np.ndarray:
    """Shift each channel toward 255 (u >= 0: v + (255 - v)·u) or toward 0 (u < 0: v·(1 + u)).

    ``lab``: uint8 (N, H, W, 3); ``amounts``: float (N, 3) in [-1, 1]. Returns uint8 (N, H, W, 3).
    Scaling toward an end rather than adding keeps every value in range without clipping detail.
    A 256-entry table per face and channel (one ``cv2.LUT`` per face) costs far less than the
    arithmetic on every pixel.
    """
    tables = shift_tables(amounts)
    out = np.empty_like(lab)
    for index in range(len(lab)):
        out[index] = cv2.LUT(lab[index], tables[index])
    return out


def clahe_grid(size: int, step: int) -> int:
    """CLAHE tile grid for a face of ``size`` px: base + step·(base // 2),
    base = max(2, size // 128)."""
    base = max(2, size // 128)
    return base + step * (base // 2)


def augment_color(batch: AugmentBatch, rng: np.random.Generator, options) -> None:
    """Random lightness and a/b shifts for each face, then CLAHE on L with
    ``color_clahe_chance``."""
    count, size = len(batch), batch.size
    if count == 0:
        return
    stacked = batch.images.reshape(count * size, size, 3)
    lab = cv2.cvtColor(stacked, cv2.COLOR_BGR2LAB).reshape(batch.images.shape)

    limits = (
        np.array([options.color_lightness, options.color_ab, options.color_ab], np.float32) / 100.0
    )
    amounts = rng.uniform(-1.0, 1.0, size=(count, 3)) * limits
    lab = shift_channels(lab, amounts)

    use_clahe = rng.random(count) < options.color_clahe_chance / 100.0
    steps = rng.integers(0, options.color_clahe_max_size + 1, size=count)
    equalisers: dict[int, cv2.CLAHE] = {}
    for index in np.flatnonzero(use_clahe):
        grid = clahe_grid(size, int(steps[index]))
        if grid not in equalisers:
            equalisers[grid] = cv2.createCLAHE(
                clipLimit=CLAHE_CLIP_LIMIT, tileGridSize=(grid, grid)
            )
        lab[index, :, :, 0] = equalisers[grid].apply(np.ascontiguousarray(lab[index, :, :, 0]))

    bgr = cv2.cvtColor(lab.reshape(count * size, size, 3), cv2.COLOR_LAB2BGR)
    batch.images[...] = bgr.reshape(batch.images.shape)
