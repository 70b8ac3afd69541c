"""The identity filter of ``fs extract`` (``-f``/``-n``/``-l``, faceswap's flags): keep only
the faces of one person, or drop the faces of others, by dlib's face-recognition network.

The network maps a face (cut by its 68 landmarks) to a 128-number descriptor; two photographs of
one person lie closer than about 0.6 (Euclidean), which dlib's authors give as the threshold of
their network. So ``-l`` here is a *distance*: lower is stricter (faceswap's own filter uses
another network and a similarity, where higher is stricter).

A face is kept when, with ``-f`` images only, it lies within the threshold of one of them; with
``-n`` images only, when it lies within the threshold of none; with both, when it lies within
the threshold of an ``-f`` face and nearer to it than to any ``-n`` face.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import cv2
import numpy as np

from fs_core.errors import FsUserError
from fs_core.extract.models import FaceFinder, model_path, require_dlib, to_rgb
from fs_core.faces import alignment as al
from fs_core.faces.faceset import list_images
from fs_core.media.frames import read_frame_file


def _image_files(paths: Sequence[Path], flag: str) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(list_images(path))
        elif path.is_file():
            files.append(path)
        else:
            raise FsUserError(f"{flag}: no such image or folder", path)
    return files


def recognition_network() -> Any:
    """dlib's face-recognition network (from the ``extract`` extra)."""
    dlib = require_dlib()
    return dlib.face_recognition_model_v1(str(model_path("recognition")))


def face_descriptor(network: Any, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The 128-number descriptor of the face at ``landmarks`` (68 points, pixels of ``rgb``):
    dlib cuts and aligns the face from the landmarks itself."""
    dlib = require_dlib()
    points = np.asarray(landmarks, dtype=np.float64)
    x0, y0 = np.floor(points.min(axis=0)).astype(int)
    x1, y1 = np.ceil(points.max(axis=0)).astype(int)
    shape = dlib.full_object_detection(
        dlib.rectangle(int(x0), int(y0), int(x1), int(y1)),
        [dlib.point(int(round(x)), int(round(y))) for x, y in points],
    )
    return np.array(network.compute_face_descriptor(rgb, shape), dtype=np.float64)


def extracted_face_descriptor(
    network: Any, image: np.ndarray, landmarks: np.ndarray, centering: str
) -> np.ndarray:
    """The descriptor of an extracted face (a BGR crop whose header holds the frame's
    ``landmarks``, cut with ``centering``): the landmarks moved into the crop first."""
    matrix = al.aligned_matrix(landmarks, image.shape[0], centering)
    points = al.transform_points(al.to_68(landmarks), matrix)
    rgb = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    return face_descriptor(network, rgb, points)


@attrs.define
class IdentityFilter:
    """Descriptors of the faces to keep (``wanted``) and to drop (``unwanted``)."""

    finder: FaceFinder
    network: Any
    wanted: np.ndarray
    unwanted: np.ndarray
    threshold: float

    @classmethod
    def build(
        cls,
        finder: FaceFinder,
        filters: Sequence[Path],
        nfilters: Sequence[Path],
        threshold: float,
    ) -> IdentityFilter | None:
        """The filter of the ``-f`` and ``-n`` images (files or folders of them), or None when
        there are none. Each image must show a face: its largest face is the reference."""
        if not filters and not nfilters:
            return None
        made = cls(finder, recognition_network(), np.zeros((0, 128)), np.zeros((0, 128)), threshold)
        made.wanted = made._references(_image_files(filters, "-f/--filter"))
        made.unwanted = made._references(_image_files(nfilters, "-n/--nfilter"))
        return made

    def _references(self, files: list[Path]) -> np.ndarray:
        found = []
        for path in files:
            rgb = to_rgb(read_frame_file(path))
            boxes = self.finder.boxes(rgb)
            if not boxes:
                raise FsUserError(
                    "no face found in this filter image (give a photograph or an extracted "
                    "face in which the detector finds the face)",
                    path,
                )
            box = max(boxes, key=lambda item: item[2] * item[3])
            found.append(self.descriptor(rgb, self.finder.landmarks(rgb, box)))
        return np.array(found, dtype=np.float64).reshape(-1, 128)

    def descriptor(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The 128-number descriptor of the face at ``landmarks`` (68 points) in ``rgb``."""
        return face_descriptor(self.network, rgb, landmarks)

    def keep(self, rgb: np.ndarray, landmarks: np.ndarray) -> bool:
        """Whether the face at ``landmarks`` passes the filter (see the module docstring)."""
        vector = self.descriptor(rgb, landmarks)
        near = (
            float(np.linalg.norm(self.wanted - vector, axis=1).min()) if len(self.wanted) else None
        )
        far = (
            float(np.linalg.norm(self.unwanted - vector, axis=1).min())
            if len(self.unwanted)
            else None
        )
        if near is not None:
            return near <= self.threshold and (far is None or near < far)
        return far is None or far > self.threshold
