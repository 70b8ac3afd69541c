"""Blur out mask: the background around the face smoothed (DeepFaceLab's ``blur_out_mask``).

So the model does not spend capacity on background detail next to the face, which shows through
as a halo in the swap. As DeepFaceLab's SAEHD trainer computes it (on its targets): with m the face
mask and G a Gaussian blur of σ = size / 128 (kernel max(3, int(4σ)), odd),
outside = G(image·(1 − m)) / (1 − G(m)) (where 1 − G(m) is 0: 1), a blur of the background alone
that never pulls the face's colours out; result = image·m + outside·(1 − m). The face (m = 1) is
unchanged. fs runs it on the whole face before the targets are taken, so both the input and the
targets get it (DeepFaceLab blurs the targets only). It needs the face mask: faces trained without
one are refused when training starts.
"""

from __future__ import annotations

import cv2
import numpy as np

from fs_core.data.batch import AugmentBatch


def blur_kernel(size: int) -> tuple[int, float]:
    """(kernel size, σ) for faces of ``size`` px: σ = size / 128, kernel max(3, int(4σ)), odd."""
    sigma = size / 128.0
    kernel = max(3, int(4 * sigma))
    return kernel + (kernel % 2 == 0), sigma


def blur_outside(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """``images`` uint8 (N, P, P, 3) with the area outside ``masks`` uint8 (N, P, P) blurred."""
    kernel, sigma = blur_kernel(images.shape[1])
    out = np.empty_like(images)
    scale = np.float32(1.0 / 255.0)
    for index in range(len(images)):
        image = images[index].astype(np.float32)
        inside = masks[index].astype(np.float32)[..., None] * scale
        outside = 1.0 - inside
        spread = cv2.GaussianBlur(image * outside, (kernel, kernel), sigma)
        cover = 1.0 - cv2.GaussianBlur(inside, (kernel, kernel), sigma)[..., None]
        cover[cover == 0.0] = 1.0
        blended = image * inside + spread / cover * outside
        out[index] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return out


def augment_blur_out_mask(batch: AugmentBatch, rng: np.random.Generator, options) -> None:
    """Blur the area outside each face's mask, in place (input and targets alike)."""
    mask = batch.mask("face")
    if mask is None:
        raise ValueError("blur_out_mask needs the face mask; the loader refuses faces without one")
    if len(batch):
        batch.images[...] = blur_outside(batch.images, mask)
