"""dlib's face detectors, 68-point landmarker and face-recognition network, loaded on demand.

dlib and the model files are an optional extra (``pip install "fs-core[extract]"``: the
``dlib-bin`` wheel and the ``face-recognition-models`` package that holds the trained files), so
a user who trains on faces extracted elsewhere never installs them. Every missing piece is one
:class:`~fs_core.errors.FsUserError` line naming the extra.

The model files are found next to the ``face_recognition_models`` package without importing it:
its ``__init__`` needs ``pkg_resources``, which current setuptools no longer ships.

Licences, said where the extra is described (README, docs/extract.md): the 68-point shape
predictor was trained on the iBUG 300-W data set, whose licence excludes commercial use.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fs_core.errors import FsUserError

#: how to get what extraction needs, said wherever it is missing
INSTALL_HINT = 'fs extract needs dlib and its models: pip install "fs-core[extract]"'
DETECTORS = ("hog", "cnn")
_FILES = {
    "landmarks": "shape_predictor_68_face_landmarks.dat",
    "cnn": "mmod_human_face_detector.dat",
    "recognition": "dlib_face_recognition_resnet_model_v1.dat",
}


def require_dlib() -> Any:
    """The ``dlib`` module, or a one-line FsUserError naming the extra."""
    try:
        import dlib  # noqa: PLC0415 (optional extra: extract)
    except ImportError:
        raise FsUserError(INSTALL_HINT) from None
    return dlib


def model_path(kind: str) -> Path:
    """The path of dlib's trained ``kind`` file ("landmarks", "cnn", "recognition") from the
    ``face-recognition-models`` package; FsUserError naming the extra when it is missing."""
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        path = Path(folder) / "models" / _FILES[kind]
        if path.is_file():
            return path
    raise FsUserError(f"{INSTALL_HINT} (the model file {_FILES[kind]} is missing)")


class FaceFinder:
    """Finds faces in a frame and places dlib's 68 landmarks (iBUG 300-W layout, the layout of
    faceswap's 68-point aligner) on each.

    ``detector``: "hog" (dlib's frontal HOG detector: fast on a CPU, frontal faces of about
    80 px and more) or "cnn" (dlib's MMOD network: also turned faces, slow without a GPU).
    ``upsample``: how many times dlib doubles the frame before detecting (finds faces half as big
    each time, at four times the cost).
    """

    def __init__(self, detector: str = "hog", upsample: int = 0) -> None:
        if detector not in DETECTORS:
            raise FsUserError(f"unknown detector {detector!r} (choose one of {DETECTORS})")
        dlib = require_dlib()
        self._dlib = dlib
        self.detector = detector
        self.upsample = int(upsample)
        if detector == "hog":
            self._detect = dlib.get_frontal_face_detector()
        else:
            self._detect = dlib.cnn_face_detection_model_v1(str(model_path("cnn")))
        self._landmarks = dlib.shape_predictor(str(model_path("landmarks")))

    def boxes(self, rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
        """(x, y, w, h) of every face dlib finds in the uint8 RGB ``rgb``, in its order."""
        found = self._detect(rgb, self.upsample)
        rects = [item.rect for item in found] if self.detector == "cnn" else list(found)
        return [(r.left(), r.top(), r.width(), r.height()) for r in rects]

    def landmarks(self, rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """The 68 (x, y) landmarks (float32, frame pixels) of the face in ``box``."""
        x, y, w, h = box
        shape = self._landmarks(rgb, self._dlib.rectangle(x, y, x + w - 1, y + h - 1))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def to_rgb(bgr: np.ndarray) -> np.ndarray:
    """dlib reads RGB; fs's frames are OpenCV BGR."""
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
