"""DeepFaceLive's ``.dfm``: an ONNX file with the names and shapes its loader looks for.

DeepFaceLive (and FaceFusion's deep swapper and VisoMaster, which read the same files) accepts a
file whose first input's name contains ``in_face``, reads H and W from its fixed shape
``(1, H, W, 3)`` (float32 BGR in [0, 1]), then feeds the face by the exact name ``in_face:0`` (the
TensorFlow tensor name DeepFaceLab's exporter kept; an input named ``in_face`` loads but fails at
the first frame) and unpacks exactly three outputs in order: ``out_face_mask:0`` (the input face's
own mask, from the decoder of the input's side), ``out_celeb_face:0`` (the swapped face) and
``out_celeb_face_mask:0`` (its mask), named as DeepFaceLab names them. :func:`dfm_problems`
repeats those checks on a written file.

A model trained without ``learn_mask`` has no masks to give; it exports a soft mask of the trained
face area (an ellipse inscribed in the mean-face box of its centering and coverage, feathered), so
the file still loads, with a warning that a model trained with ``learn_mask`` masks far better.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fs_core.export.metadata import crop_of, describe
from fs_core.export.onnx import Exported, one_input_model, output_path, side_indices, write_model
from fs_core.inference.trained import swap_side

INPUT_NAME = "in_face:0"
OUTPUT_NAMES = ("out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0")
SOFT_MASK_WARNING = (
    "this model was trained without learn_mask: the DFM's masks are a fixed soft mask of the "
    "trained face area; retrain with [global.mask] learn_mask = true for masks that follow the face"
)


def soft_face_mask(size: int, centering: str, coverage: float) -> np.ndarray:
    """float32 (size, size, 1): 1 inside the mean face's box for this crop, fading to 0 over an
    eighth of the crop, so a swap without a learned mask blends in rather than showing edges."""
    import cv2  # noqa: PLC0415 (OpenCV: export.dfm loads without it)

    from fs_core.faces.alignment import padding  # noqa: PLC0415 (OpenCV: export.dfm loads without it)

    pad = padding(size, centering, coverage / 100.0)
    half = max(1.0, (size - 2 * pad) / 2.0)
    mask: np.ndarray = np.zeros((size, size), np.float32)
    centre = (size / 2.0, size / 2.0)
    cv2.ellipse(mask, (centre, (1.7 * half, 2.0 * half), 0.0), 1.0, -1)
    blur = max(3, (size // 8) | 1)
    mask = cv2.GaussianBlur(mask, (blur, blur), 0)
    return np.clip(mask, 0.0, 1.0)[..., None]


def _soft_mask_layer(mask: np.ndarray) -> Any:
    """A layer giving ``mask`` for every face of the batch it is called on."""
    import keras  # noqa: PLC0415 (TensorFlow: export.dfm loads without it)

    class SoftMask(keras.layers.Layer):
        def build(self, input_shape: Any) -> None:
            # a weight, not a captured tensor: the export freezes weights into constants
            self.mask = self.add_weight(
                shape=mask[None].shape,
                initializer=keras.initializers.Constant(mask[None]),
                trainable=False,
                name="mask",
            )

        def call(self, faces: Any) -> Any:
            return keras.ops.zeros_like(faces[..., :1]) + self.mask

    return SoftMask(name="soft_face_mask")


def dfm_select(built: Any, input_side: str, soft_mask: np.ndarray | None) -> Callable:
    """The outputs of a DFM, in DeepFaceLive's order, from the training model's outputs."""
    swap_side = "b" if input_side == "a" else "a"
    own_face, own_mask = side_indices(built, input_side)
    face, mask = side_indices(built, swap_side)

    def select(outputs: Sequence[Any]) -> list[Any]:
        if own_mask is not None and mask is not None:
            return [outputs[own_mask], outputs[face], outputs[mask]]
        layer = _soft_mask_layer(soft_mask if soft_mask is not None else np.ones((1, 1, 1)))
        return [layer(outputs[own_face]), outputs[face], layer(outputs[face])]

    return select


def export_dfm(trained: Any, out: str | Path, direction: str, precision: str) -> Exported:
    """Write ``direction``'s swap as a DeepFaceLive ``.dfm`` (batch 1, fixed size)."""
    built = trained.built
    path = output_path(out, f"{built.name}_{direction}", ".dfm")
    target = swap_side(direction)
    input_side = "a" if target == "b" else "b"
    soft = None
    if not built.learn_mask:
        crop = crop_of(trained)
        soft = soft_face_mask(int(max(built.output_sizes)), crop["centering"], crop["coverage"])
    model = one_input_model(built, dfm_select(built, input_side, soft))
    metadata = describe(
        trained, direction, "dfm", precision, "learned" if soft is None else "soft face area", 1
    )
    return write_model(model, path, INPUT_NAME, OUTPUT_NAMES, 1, precision, metadata)


def dfm_problems(path: str | Path) -> list[str]:
    """What DeepFaceLive's loader would refuse in the file at ``path`` (empty when it loads)."""
    ort = importlib.import_module("onnxruntime")  # optional (the export extra), untyped

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    problems = []
    inputs = session.get_inputs()
    if not inputs or inputs[0].name != INPUT_NAME:
        found = f"'{inputs[0].name}'" if inputs else "none"
        problems.append(f"the first input is {found}, not '{INPUT_NAME}' (the name it is fed by)")
    else:
        first = inputs[0]
        shape = list(first.shape)
        if len(shape) != 4 or shape[0] != 1 or shape[3] != 3:
            problems.append(f"input shape {shape} is not (1, H, W, 3)")
        elif not all(isinstance(dim, int) for dim in shape[1:3]):
            problems.append(f"input height and width {shape[1:3]} are not fixed integers")
        if first.type != "tensor(float)":
            problems.append(f"input type {first.type} is not float32")
    if len(inputs) > 1 and not (len(inputs) == 2 and inputs[1].name == "morph_value:0"):
        problems.append(f"{len(inputs)} inputs; a DFM has in_face:0 (and optionally morph_value:0)")
    names = tuple(output.name for output in session.get_outputs())
    if names != OUTPUT_NAMES:
        problems.append(f"outputs {list(names)} are not {list(OUTPUT_NAMES)} in that order")
    return problems
