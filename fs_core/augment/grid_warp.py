"""Random grid warp of the model's input copy (the default warp).

The input is warped and the target is not, so the model has to learn to rebuild an undistorted face
from a distorted one instead of copying pixels. Each face gets a smooth random displacement field:
5×5 Gaussian offsets (σ = 5/256 of the size), enlarged bilinearly to 1.25·P and centre-cropped to P,
added to the identity grid. With zero noise the map is the identity exactly. All faces' fields are
enlarged together in one ``cv2.resize`` call (their offsets stacked as channels).
"""
from __future__ import annotations

import cv2
import numpy as np

from fs_core.data.batch import AugmentBatch

GRID_POINTS = 5
NOISE_SCALE = 5.0 / 256.0
_MAX_RESIZE_CHANNELS = 512  # OpenCV's limit on channels in one image


def displacement_fields(noise: np.ndarray, size: int) -> np.ndarray:
    """Enlarge (N, 5, 5, 2) offsets to smooth (N, P, P, 2) fields (1.25·P resize, centre crop P)."""
    count = noise.shape[0]
    pad = size // 8
    full = size + 2 * pad
    channels = noise.transpose(1, 2, 0, 3).reshape(GRID_POINTS, GRID_POINTS, count * 2)
    chunks = [cv2.resize(np.ascontiguousarray(channels[:, :, start:start + _MAX_RESIZE_CHANNELS]),
                         (full, full), interpolation=cv2.INTER_LINEAR).reshape(full, full, -1)
              for start in range(0, count * 2, _MAX_RESIZE_CHANNELS)]
    fields = np.concatenate(chunks, axis=2)[pad:pad + size, pad:pad + size]
    return fields.reshape(size, size, count, 2).transpose(2, 0, 1, 3)


def identity_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y) pixel coordinates of a size×size image, float32 each (size, size)."""
    axis = np.arange(size, dtype=np.float32)
    return np.meshgrid(axis, axis)


def augment_grid_warp(batch: AugmentBatch, rng: np.random.Generator, options) -> None:
    """Warp the input copy of every face by a random smooth field; the images (targets) stay."""
    count, size = len(batch), batch.size
    source = batch.input_images()
    out = np.empty_like(source)
    if count:
        noise = rng.normal(0.0, NOISE_SCALE * size, (count, GRID_POINTS, GRID_POINTS, 2))
        fields = displacement_fields(noise.astype(np.float32), size)
        grid_x, grid_y = identity_grid(size)
        for index in range(count):
            out[index] = cv2.remap(source[index], grid_x + fields[index, ..., 0],
                                   grid_y + fields[index, ..., 1], cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    batch.warped = out
