"""Writing an image file whole: previews, swapped faces and timelapse frames are read by viewers
and the GUI while training runs, so a reader must never see half a file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from fs_core.atomic import atomic_write_bytes
from fs_core.errors import FsUserError


def write_image(path: str | Path, image: np.ndarray, quality: int = 90) -> None:
    """Write ``image`` atomically (PNG or JPEG by suffix): a viewer never sees half a file."""
    path = Path(path)
    ext = path.suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext in (".jpg", ".jpeg") else []
    ok, data = cv2.imencode(ext, image, params)
    if not ok:
        raise FsUserError(f"cannot encode the image as {ext}", path)
    try:
        atomic_write_bytes(path, data.tobytes())
    except OSError as error:
        raise FsUserError(f"cannot write the image: {error.strerror or error}", path) from None
