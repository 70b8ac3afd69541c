"""Running faces through a trained model and reading one side's outputs.

A model takes ``[face_in_a, face_in_b]`` and gives side A's outputs, then side B's (see
:class:`fs_core.descriptors.ModelDescriptor`). Feeding the *same* faces to both inputs gives, for a
set of A faces, the reconstruction (side A's outputs) and the swap (side B's outputs) in one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fs_core import backend
from fs_core.data.assemble import resize_faces, to_unit


def model_input(images: np.ndarray, input_size: int, color_order: str) -> np.ndarray:
    """uint8 BGR faces (N, P, P, 3) -> float32 model input (N, in, in, 3) in the model's colours."""
    return to_unit(resize_faces(images, input_size), color_order)


def to_bgr_uint8(faces: np.ndarray, color_order: str) -> np.ndarray:
    """float [0, 1] faces in the model's colour order -> uint8 BGR."""
    faces = np.asarray(faces, np.float32)
    if color_order == "rgb":
        faces = faces[..., ::-1]
    return np.clip(np.rint(faces * 255.0), 0, 255).astype(np.uint8)


def side_of(outputs: Sequence[Any], built: Any, side: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The largest face output and the learned mask (or None) of ``side`` ("a" or "b")."""
    per_side = built.outputs_per_side
    start = 0 if side == "a" else per_side
    face = np.asarray(outputs[start + len(built.output_sizes) - 1], np.float32)
    mask = (
        np.asarray(outputs[start + per_side - 1], np.float32)[..., 0] if built.learn_mask else None
    )
    return face, mask


def run_both(
    built: Any, faces: np.ndarray, batch_size: int = 16
) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """Feed float model-input ``faces`` to both inputs, in batches; returns
    ``{"a": (face, mask), "b": (face, mask)}`` as numpy arrays (mask None without a learned
    mask). The model runs in the backend's inference form (:func:`fs_core.backend.get`'s
    ``inference_function``: eager on TensorFlow, without autograd on torch, compiled on JAX)."""
    infer = backend.get().inference_function(built.model)
    results: dict[str, list] = {"a": [], "b": []}
    for start in range(0, len(faces), max(1, batch_size)):
        chunk = faces[start : start + batch_size]
        outputs = infer([chunk, chunk])
        for side in ("a", "b"):
            results[side].append(side_of(outputs, built, side))
    merged = {}
    for side, parts in results.items():
        face = np.concatenate([p[0] for p in parts]) if parts else np.empty((0,), np.float32)
        mask = np.concatenate([p[1] for p in parts]) if parts and parts[0][1] is not None else None
        merged[side] = (face, mask)
    return merged
