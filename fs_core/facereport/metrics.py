"""Per-face measurements for the face-set report, each face's file read and decoded once.

Decoding the PNG is most of what a face costs, so every measure is taken in the same pass, on
one small grey copy (:data:`WORK_SIZE` px): the faceswap header (landmarks -> pose and aligned
shape), the sharpness of the face's centre, and a perceptual hash. With the ``extract`` extra's
dlib network, the face's identity descriptor is taken in that pass too (it needs the colour
pixels). Large sets are measured in worker processes (:mod:`fs_core.parallel`), which is why the
measuring function is a module-level class: workers must be able to unpickle it.

A file that cannot be read is not a reason to stop a report of ten thousand faces: its error is
kept in :attr:`FaceMeasure.error` and the report lists it by name.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np

from fs_core.errors import FsUserError
from fs_core.extract.sort import pitch_yaw
from fs_core.faces import alignment as al
from fs_core.faces.pngmeta import PNG_SIGNATURE, faceswap_metadata_from_bytes
from fs_core.faces.read import landmarks_from_metadata
from fs_core.parallel import map_in_processes, use_processes

#: every face is measured on a grey copy this size, so sharpness compares across face sizes
WORK_SIZE = 128
#: sharpness is taken on this centred share of the (head-centred) crop: the face, not the hair
#: and background around it
CENTRE_SHARE = 0.5
#: the pHash: the HASH_SIDE x HASH_SIDE lowest DCT frequencies of a HASH_SOURCE px grey copy, one
#: bit each (256 bits). The common 64-bit pHash (8 of 32) is too coarse for aligned faces: every
#: face of one person is framed alike, and distinct faces of the demo set often hash equal
HASH_SIDE = 16
HASH_SOURCE = 64
HASH_WORDS = HASH_SIDE * HASH_SIDE // 64
#: the colour signature: the face shrunk to COLOUR_SIDE x COLOUR_SIDE colour pixels (the pHash is
#: grey, so a red and a blue background of one brightness look alike to it)
COLOUR_SIDE = 4


class FaceMeasure(NamedTuple):
    """What one face measured. ``pose`` (pitch, yaw) degrees and ``shape`` (68, 2) its landmarks in
    unit aligned space are None without 68/98-point landmarks; ``identity`` (128,) is None unless
    asked; ``error`` is the one-line reason the file could not be read (everything else empty)."""

    sharpness: float
    phash: bytes
    pose: tuple[float, float] | None
    shape: np.ndarray | None
    identity: np.ndarray | None
    error: str | None = None
    points: int = 0
    colour: bytes = bytes(3 * COLOUR_SIDE * COLOUR_SIDE)


def _failed(error: str) -> FaceMeasure:
    return FaceMeasure(float("nan"), bytes(8 * HASH_WORDS), None, None, None, error)


def perceptual_hash(grey: np.ndarray) -> bytes:
    """The 256-bit DCT pHash of a grey image: each of the 16x16 lowest DCT frequencies of a 64x64
    copy is one bit, set when above their median (the DC term left out of the median, since it
    is only the brightness). Brightness, contrast, mild noise, re-encoding and resizing change
    few bits; another face changes many."""
    small = cv2.resize(grey, (HASH_SOURCE, HASH_SOURCE), interpolation=cv2.INTER_AREA)
    low = cv2.dct(small.astype(np.float32))[:HASH_SIDE, :HASH_SIDE].ravel()
    bits = low > np.median(low[1:])
    return np.packbits(bits).tobytes()


def sharpness(grey: np.ndarray) -> float:
    """Variance of the Laplacian over the centre of a :data:`WORK_SIZE` grey face: fine detail
    (pores, eyelashes, sensor noise) makes it large, blur removes exactly that."""
    size = grey.shape[0]
    margin = int(round(size * (1.0 - CENTRE_SHARE) / 2))
    centre = grey[margin : size - margin, margin : size - margin]
    return float(cv2.Laplacian(centre, cv2.CV_64F, ksize=1).var())


@functools.cache
def _identity_network() -> Any:
    """dlib's recognition network, loaded once per process (it takes a second)."""
    from fs_core.extract.identity import recognition_network  # noqa: PLC0415 (needs the extract extra)

    return recognition_network()


def _descriptor(image: np.ndarray, landmarks: np.ndarray, centering: str) -> np.ndarray:
    from fs_core.extract.identity import extracted_face_descriptor  # noqa: PLC0415 (needs the extract extra)

    network = _identity_network()
    return extracted_face_descriptor(network, image, landmarks, centering).astype(np.float32)


class MeasureFace:
    """Measure one face file (picklable, for worker processes); ``identity``: also its dlib
    descriptor."""

    def __init__(self, identity: bool = False) -> None:
        self.identity = identity

    def __call__(self, path: str | os.PathLike) -> FaceMeasure:
        try:
            return self._measure(path)
        except FsUserError as error:
            return _failed(error.message)
        except OSError as error:
            return _failed(f"cannot read the file: {error.strerror or error}")

    def _measure(self, path: str | os.PathLike) -> FaceMeasure:
        data = np.fromfile(os.fspath(path), dtype=np.uint8)
        metadata: dict = {}
        if data[:8].tobytes() == PNG_SIGNATURE:
            metadata = faceswap_metadata_from_bytes(data.tobytes(), path) or {}
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if image is None:
            return _failed("not a readable image (OpenCV cannot decode it)")
        if image.shape[0] != image.shape[1]:
            return _failed(f"the image is {image.shape[1]}x{image.shape[0]}; faces are square")
        interpolation = cv2.INTER_AREA if image.shape[0] > WORK_SIZE else cv2.INTER_LINEAR
        small_colour = cv2.resize(image, (WORK_SIZE, WORK_SIZE), interpolation=interpolation)
        small = cv2.cvtColor(small_colour, cv2.COLOR_BGR2GRAY)
        side = (COLOUR_SIDE, COLOUR_SIDE)
        colour = cv2.resize(small_colour, side, interpolation=cv2.INTER_AREA).tobytes()
        landmarks = landmarks_from_metadata(metadata, path)
        pose = shape = identity = None
        points = 0 if landmarks is None else len(landmarks)
        if landmarks is not None and points in al.FEATURE_COUNTS:
            legacy = al.legacy_matrix(landmarks)
            pose = pitch_yaw(landmarks, legacy)
            shape = al.transform_points(al.to_68(landmarks), legacy)
            shape = shape.astype(np.float32)
            if self.identity:
                centering = "legacy" if _legacy(metadata) else "head"
                identity = _descriptor(image, landmarks.astype(np.float64), centering)
        return FaceMeasure(
            sharpness(small), perceptual_hash(small), pose, shape, identity, None, points, colour
        )


def _legacy(metadata: dict) -> bool:
    from fs_core.faces.read import extract_centering  # noqa: PLC0415 (kept beside its one use)

    return extract_centering(metadata, None) == "legacy"


def measure_faces(
    paths: Sequence[Path],
    identity: bool = False,
    progress: Callable[[int], None] | None = None,
    nice: int = 0,
) -> list[FaceMeasure]:
    """Measure every face of ``paths`` (in worker processes for a large set, ``nice`` lower in
    CPU priority), in order; ``progress(n)`` is called after each face."""
    measure = MeasureFace(identity)
    results: Iterable[FaceMeasure] = (
        map_in_processes(measure, [str(p) for p in paths], chunksize=64, nice=nice)
        if use_processes(len(paths))
        else map(measure, paths)
    )
    out = []
    for result in results:
        out.append(result)
        if progress is not None:
            progress(1)
    return out
