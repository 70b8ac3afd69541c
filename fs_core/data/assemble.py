"""Turning one side's prepared faces into its part of a :data:`~fs_core.data.batch.TrainingBatch`.

Order, as faceswap's ``lib/training/data/collate.py``: the whole-face augmenters (colour, affine,
flip) at process size; then the targets are taken from the *unwarped* faces at each output size
(INTER_AREA) with their masks; then the input-only augmenters (warps) make the input copy, resized
to the input size. Everything ends as float32 in [0, 1]. An augmenter runs only on the sides it
names (``sides``: colour transfer and HSV jitter touch side B alone). This is a pure function of
its arguments, so the loader's worker threads and the augment preview share it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import cv2
import numpy as np

from fs_core.data.batch import AugmentBatch

_SCALE = np.float32(1.0 / 255.0)


@attrs.frozen
class SidePlan:
    """What to make of each side's faces. ``augmenters`` are already filtered and in stage order."""

    input_size: int
    output_sizes: tuple[int, ...]
    mask_names: tuple[str, ...] = ()
    augmenters: tuple[Any, ...] = ()
    options: Any = None
    color_order: str = attrs.field(default="bgr", validator=attrs.validators.in_(("bgr", "rgb")))


def order_augmenters(augmenters: Sequence[Any], options: Any) -> tuple[Any, ...]:
    """The augmenters that are on under ``options``, by stage (ties keep the given order)."""
    return tuple(sorted((aug for aug in augmenters if aug.enabled(options)), key=lambda a: a.stage))


def resize_faces(faces: np.ndarray, size: int) -> np.ndarray:
    """(N, P, P, C) uint8 → (N, size, size, C), INTER_AREA (the faces only shrink here)."""
    if faces.shape[1] == size:
        return faces
    out = np.empty((faces.shape[0], size, size, faces.shape[3]), faces.dtype)
    for index, face in enumerate(faces):
        out[index] = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA).reshape(
            out.shape[1:]
        )
    return out


def to_unit(faces: np.ndarray, color_order: str = "bgr") -> np.ndarray:
    """uint8 → float32 in [0, 1], channels reversed for an RGB model."""
    if color_order == "rgb":
        faces = faces[..., ::-1]
    return np.multiply(faces, _SCALE, dtype=np.float32)


def build_side(batch: AugmentBatch, plan: SidePlan, rng: np.random.Generator) -> dict[str, Any]:
    """Augment ``batch`` in place and return ``{"input", "targets", "masks"}`` for the train
    step."""
    mine = [augmenter for augmenter in plan.augmenters if batch.side in augmenter.sides]
    for augmenter in mine:
        if not augmenter.input_only:
            augmenter.apply(batch, rng, plan.options)

    targets = tuple(
        to_unit(resize_faces(batch.images, size), plan.color_order) for size in plan.output_sizes
    )
    masks: dict[str, tuple[np.ndarray, ...]] = {}
    if plan.mask_names:
        assert batch.masks is not None  # the plan asks only for masks the faces carry
        channels = [batch.mask_names.index(name) for name in plan.mask_names]
        chosen = (
            batch.masks
            if channels == list(range(batch.masks.shape[3]))
            else batch.masks[..., channels]
        )
        per_size = [to_unit(resize_faces(chosen, size)) for size in plan.output_sizes]
        masks = {
            name: tuple(resized[..., k : k + 1] for resized in per_size)
            for k, name in enumerate(plan.mask_names)
        }

    for augmenter in mine:
        if augmenter.input_only:
            augmenter.apply(batch, rng, plan.options)
    feed = to_unit(resize_faces(batch.input_images(), plan.input_size), plan.color_order)
    return {"input": feed, "targets": targets, "masks": masks}
