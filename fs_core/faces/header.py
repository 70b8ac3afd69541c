"""The faceswap header of an extracted face, and the alignments-file entry that matches it.

An extracted face carries in its PNG what faceswap needs to train on it and to find it again in
its frame: the detector box, the frame landmarks, the stored masks, and where it came from (the
frame's key, the face's index in that frame, the frame's size). The alignments file holds the
same box, landmarks and masks per frame, plus a small thumbnail. Both ``fs extract`` and the demo
data build them here, so the two can never disagree on the layout faceswap reads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from fs_core.faces.alignments_file import CURRENT_VERSION, LEGACY_MASK_NAMES, face_entry

THUMB_SIZE = 96  # faceswap's thumbnail in an alignments file: 96 px JPEG of the head crop
THUMB_QUALITY = 60


def face_file_name(frame_key: str, face_index: int) -> str:
    """faceswap's name for face ``face_index`` of the frame keyed ``frame_key``:
    ``<frame stem>_<index>.png`` (``clip_000012.mp4``, 0 -> ``clip_000012_0.png``)."""
    return f"{os.path.splitext(frame_key)[0]}_{face_index}.png"


def landmark_box(landmarks: np.ndarray) -> tuple[int, int, int, int]:
    """(x, y, w, h): the whole-pixel box around ``landmarks``."""
    points = np.asarray(landmarks, dtype=np.float64)
    x0, y0 = np.floor(points.min(axis=0)).astype(int)
    x1, y1 = np.ceil(points.max(axis=0)).astype(int)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def face_header(
    landmarks: np.ndarray,
    box: tuple[int, int, int, int],
    masks: Mapping[str, Mapping[str, Any]],
    source_filename: str,
    face_index: int,
    frame_dims: tuple[int, int],
    is_video: bool,
) -> dict[str, Any]:
    """The ``faceswap`` PNG header of a face: ``alignments`` (box, float32 frame landmarks,
    stored masks with 2x3 matrices as faceswap's PNG header holds them) and ``source`` (version,
    the face's own file name, its index in the frame, the frame's key, whether that is a video
    frame, and the frame's (height, width))."""
    x, y, w, h = (int(value) for value in box)
    png_masks = {}
    for name, entry in masks.items():
        matrix = np.asarray(entry["affine_matrix"], np.float64)[:2]
        png_masks[name] = dict(entry, affine_matrix=matrix.tolist())
    return {
        "alignments": {
            "x": x,
            "y": y,
            "w": w,
            "h": h,
            "landmarks_xy": np.asarray(landmarks, np.float32).tolist(),
            "mask": png_masks,
            "identity": {},
        },
        "source": {
            "alignments_version": CURRENT_VERSION,
            "original_filename": face_file_name(source_filename, face_index),
            "face_index": int(face_index),
            "source_filename": source_filename,
            "source_is_video": bool(is_video),
            "source_frame_dims": [int(frame_dims[0]), int(frame_dims[1])],
        },
    }


def thumbnail(face: np.ndarray) -> bytes:
    """faceswap's alignments-file thumbnail of an extracted (head-centred) face: 96 px JPEG."""
    small = cv2.resize(face, (THUMB_SIZE, THUMB_SIZE), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, THUMB_QUALITY])
    return data.tobytes() if ok else b""


def fsa_face(metadata: Mapping[str, Any], face: np.ndarray | None) -> dict[str, Any]:
    """The alignments-file entry of a face whose PNG header is ``metadata``: the same box,
    landmarks and masks plus a thumbnail of ``face`` (none when the face image is not at hand).
    Mask matrices are 3x3, as faceswap writes them now, except those of the landmark masks
    (``components``, ``extended``): only faceswap up to 3.0 reads those, and it wrote them 2x3."""
    align = metadata["alignments"]
    masks = {}
    for name, entry in align["mask"].items():
        matrix = np.asarray(entry["affine_matrix"], np.float64)
        if name in LEGACY_MASK_NAMES:
            matrix = matrix[:2]
        elif matrix.shape == (2, 3):
            matrix = np.vstack([matrix, [0.0, 0.0, 1.0]])
        masks[name] = dict(entry, affine_matrix=matrix.tolist())
    box = (align["x"], align["y"], align["w"], align["h"])
    thumb = None if face is None else thumbnail(face)
    return face_entry(np.asarray(align["landmarks_xy"], np.float32), masks, box, thumb)
