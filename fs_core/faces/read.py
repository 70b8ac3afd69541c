"""Read one face image with its faceswap header (behind the public ``fs_core.read_face``).

Two kinds of face are read: faceswap-extracted PNGs (pixels = aligned crop, head-centred, or
legacy-centred for faces extracted before faceswap 2.0; header = frame landmarks and stored masks)
and plain square crops (PNG/JPEG, no header). Every defect a user's
file can have is reported as FsUserError naming the file, so a bad face in a folder of ten thousand
is found by name instead of by a stack trace in a data-loader thread.
"""

from __future__ import annotations

import math
import os
import zlib
from typing import NamedTuple

import cv2
import numpy as np

from fs_core.errors import FsUserError
from fs_core.faces.alignment import LANDMARK_COUNTS
from fs_core.faces.pngmeta import PNG_SIGNATURE, faceswap_metadata_from_bytes

_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_JPEG_START = b"\xff\xd8"
_JPEG_END = b"\xff\xd9"
#: faceswap's lib/align/alignments.py: alignments version 2.0 brought the full-head extract; faces
#: of an older version (the header says 1.0) were cropped legacy-centred.
HEAD_EXTRACT_VERSION = 2.0


class FaceRecord(NamedTuple):
    """A face as stored: ``image`` uint8 (H, W, 3) BGR; ``landmarks`` float32 (68, 2), (98, 2) or
    (4, 2) (see :func:`landmarks_from_metadata`) in the original frame's pixel coordinates, or None
    for a plain crop; ``masks`` stored mask name -> uint8 (stored_size, stored_size); ``metadata``
    the raw header dict ({} when none).

    Four fields, as the public API has always returned (callers unpack it); how ``image`` was
    cropped is derived from the header by :attr:`centering`.
    """

    image: np.ndarray
    landmarks: np.ndarray | None
    masks: dict
    metadata: dict

    @property
    def centering(self) -> str:
        """How ``image`` was cropped from the frame: "head", or "legacy" for a face extracted before
        faceswap 2.0 (see :func:`extract_centering`; :func:`read_face` already checked the
        header)."""
        return "head" if self.landmarks is None else extract_centering(self.metadata, None)


def _check_complete(data: bytes, path: str | os.PathLike) -> None:
    """Refuse truncated PNG/JPEG files, which OpenCV may otherwise decode half-grey."""
    if data.startswith(PNG_SIGNATURE):
        if _PNG_END not in data[-64:]:
            raise FsUserError("the PNG file is truncated (no IEND chunk at its end)", path)
    elif data.startswith(_JPEG_START):
        if _JPEG_END not in data.rstrip(b"\x00\r\n ")[-2:]:
            raise FsUserError("the JPEG file is truncated (no end-of-image marker)", path)


def _decode_image(data: bytes, path: str | os.PathLike) -> np.ndarray:
    if not data:
        raise FsUserError("the image file is empty", path)
    _check_complete(data, path)
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise FsUserError(
            "not a readable image (OpenCV cannot decode it; is it corrupt or not an image?)", path
        )
    if image.dtype != np.uint8:
        raise FsUserError(f"the image has {image.dtype} pixels; faces must be 8-bit", path)
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels != 3:
        kind = {1: "grayscale", 2: "grayscale with alpha", 4: "colour with alpha (4 channels)"}
        raise FsUserError(
            f"the image is {kind.get(channels, f'{channels}-channel')}; faces must "
            "be 3-channel colour images",
            path,
        )
    height, width = image.shape[:2]
    if height != width:
        raise FsUserError(f"the image is {width}x{height}; faces must be square", path)
    return image


def landmarks_from_metadata(metadata: dict, path: str | os.PathLike) -> np.ndarray | None:
    """The (N, 2) float32 frame landmarks in a faceswap header, or None when it has none.

    N is 68 (iBUG), 98 (WFLW) or 4 (the corners of a region of interest, e.g. a face imported from
    another tool): the layouts faceswap's aligners write and its training and convert read.
    """
    alignments = metadata.get("alignments")
    if alignments is None:
        return None
    if not isinstance(alignments, dict):
        raise FsUserError("the faceswap header's 'alignments' is not a mapping", path)
    points = alignments.get("landmarks_xy")
    if points is None:
        return None
    try:
        with np.errstate(
            over="ignore", invalid="ignore"
        ):  # too large for float32: inf, refused below
            array = np.asarray(points, dtype=np.float32)
    except (TypeError, ValueError, OverflowError) as err:
        raise FsUserError(f"the faceswap header's landmarks are not numbers ({err})", path) from err
    if array.ndim != 2 or array.shape[1] != 2:
        raise FsUserError(
            f"the faceswap header's landmarks have shape {array.shape}; expected (68, 2), "
            "(98, 2) or (4, 2)",
            path,
        )
    if array.shape[0] not in LANDMARK_COUNTS:
        raise FsUserError(
            f"the face has {array.shape[0]}-point landmarks; fs reads 68-, 98- and 4-point "
            "ones, as faceswap does (re-extract with one of faceswap's aligners, or use plain "
            "crops)",
            path,
        )
    if not np.all(np.isfinite(array)):
        raise FsUserError("the faceswap header's landmarks contain NaN or infinite values", path)
    return array


def extract_centering(metadata: dict, path: str | os.PathLike | None) -> str:
    """How a faceswap face's pixels were cropped: "legacy" when its header's
    ``source.alignments_version`` is below 2.0, else "head" (also when the header gives no version).

    faceswap extracted legacy-centred faces (nose at the centre, the face filling 1.67x more of the
    crop than in today's head crop) until its alignments version 2.0; its
    lib/align/aligned_face.py still reads such a face as a "legacy" source crop. Taken for a head
    crop, it would train on crops 1.67x too tight, so the version decides.
    """
    source = metadata.get("source")
    if source is None:
        return "head"
    if not isinstance(source, dict):
        raise FsUserError("the faceswap header's 'source' is not a mapping", path)
    version = source.get("alignments_version")
    if version is None:
        return "head"
    if (
        isinstance(version, bool)
        or not isinstance(version, (int, float))
        or (isinstance(version, float) and not math.isfinite(version))
    ):
        raise FsUserError(
            f"the faceswap header's source.alignments_version is not a number "
            f"({repr(version)[:40]})",
            path,
        )
    return "legacy" if version < HEAD_EXTRACT_VERSION else "head"


def stored_mask_entries(metadata: dict, path: str | os.PathLike) -> dict:
    """The header's ``alignments.mask`` mapping (name -> entry dict), {} when it has none."""
    alignments = metadata.get("alignments")
    if not isinstance(alignments, dict):
        return {}
    masks = alignments.get("mask") or {}
    if not isinstance(masks, dict) or not all(isinstance(entry, dict) for entry in masks.values()):
        raise FsUserError("the faceswap header's 'mask' section is malformed", path)
    return masks


def decode_stored_mask(name: str, entry: dict, path: str | os.PathLike) -> np.ndarray:
    """Decompress one stored mask into uint8 (stored_size, stored_size)."""
    size = entry.get("stored_size", 128)
    blob = entry.get("mask")
    if not isinstance(size, int) or size <= 0 or not isinstance(blob, (bytes, bytearray)):
        raise FsUserError(
            f"stored mask {name!r} is malformed (needs bytes 'mask' and an integer 'stored_size')",
            path,
        )
    try:
        raw = zlib.decompressobj().decompress(bytes(blob), size * size + 1)
    except zlib.error as err:
        raise FsUserError(
            f"stored mask {name!r} is corrupt: cannot decompress it ({err})", path
        ) from err
    if len(raw) != size * size:
        raise FsUserError(
            f"stored mask {name!r} holds {len(raw)} bytes; expected {size}x{size}", path
        )
    return np.frombuffer(raw, dtype=np.uint8).reshape(size, size).copy()


def read_face(path: str | os.PathLike) -> FaceRecord:
    """Read the face image at ``path`` with its faceswap header, if any (see
    :class:`FaceRecord`)."""
    try:
        data = np.fromfile(os.fspath(path), dtype=np.uint8).tobytes()
    except OSError as err:
        raise FsUserError(f"cannot read the file: {err.strerror or err}", path) from err
    return face_from_bytes(data, path)


def face_from_bytes(
    data: bytes, path: str | os.PathLike, metadata: dict | None = None
) -> FaceRecord:
    """:func:`read_face` of a file already read (``data``, named ``path`` in errors).
    ``metadata``: its faceswap header dict when the caller has parsed it already (it is parsed
    once per file, which is half of what reading a face costs), else it is parsed here."""
    image = _decode_image(data, path)
    if metadata is None:
        metadata = {}
        if data.startswith(PNG_SIGNATURE):
            metadata = faceswap_metadata_from_bytes(data, path) or {}
    landmarks = landmarks_from_metadata(metadata, path)
    masks = {
        name: decode_stored_mask(name, entry, path)
        for name, entry in stored_mask_entries(metadata, path).items()
    }
    if landmarks is not None:
        extract_centering(metadata, path)  # a bad version is refused here, naming the file
    return FaceRecord(image, landmarks, masks, metadata)
