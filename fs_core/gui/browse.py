"""The folder picker's server side: what lies in a folder under the root, and small thumbnails.

The New training form (and any form naming a path) lets a user click through the root instead of
typing paths. ``GET /api/browse?path=REL`` lists one folder: its sub-folders with how many face
images each holds, the face images of the folder itself and a few thumbnail addresses, and, when
asked, its files. ``GET /api/browse/thumb?path=REL`` sends one image file, downscaled. Both go
through :func:`fs_core.gui.security.path_inside`, so nothing above the root is listed or read, and a
symbolic link leading out of the root is named as such rather than followed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fs_core.errors import FsUserError
from fs_core.faces.alignments_file import VIDEO_EXTENSIONS
from fs_core.gui.jsonout import JSON
from fs_core.gui.security import path_inside

#: what fs train reads as faces (fs_core.faces.faceset.IMAGE_SUFFIXES; that module loads OpenCV)
FACE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: files a thumbnail is made of: images OpenCV reads; anything else is refused
THUMB_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
#: the largest image file a thumbnail is made from (a face image is far smaller)
THUMB_MAX_BYTES = 32 * 1024 * 1024
#: a thumbnail's longest side, in pixels
THUMB_SIDE = 128
THUMBNAILS = 6
#: entries listed per folder; the rest are counted only
MAX_ENTRIES = 500
KINDS = ("folder", "video-or-folder", "file")


def _relative(root: Path, path: Path) -> str:
    """``path`` as the page names it: relative to the root, ``/``-separated, ``""`` for the root."""
    rel = path.relative_to(root).as_posix()
    return "" if rel == "." else rel


def _count_faces(folder: Path) -> int:
    """Face images directly in ``folder``, as fs train would find them (0 when unreadable)."""
    try:
        with os.scandir(folder) as entries:
            return sum(
                1
                for entry in entries
                if not entry.name.startswith(".")
                and os.path.splitext(entry.name)[1].lower() in FACE_SUFFIXES
                and entry.is_file()
            )
    except OSError:
        return 0


def _file_type(name: str) -> str:
    suffix = os.path.splitext(name)[1].lower()
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    if suffix in THUMB_SUFFIXES:
        return "image"
    return "other"


def _thumb_url(rel: str) -> str:
    from urllib.parse import quote  # noqa: PLC0415 (used only here)

    return f"api/browse/thumb?path={quote(rel)}"


def _folder_entry(root: Path, path: Path) -> dict[str, Any]:
    """One sub-folder: its counts, or, for a symbolic link leading out of the root, where it
    leads (the page shows it greyed, with the reason, and never opens it)."""
    rel = _relative(root, path)
    entry: dict[str, Any] = {"name": path.name, "path": rel, "faces": None, "outside": None}
    target = path.resolve()
    if target != root and root not in target.parents:
        entry["outside"] = f"a symbolic link to {target}, outside the root folder"
        return entry
    entry["faces"] = _count_faces(path)
    return entry


def listing(root: Path, text: str, kind: str) -> dict[str, Any]:
    """What the picker shows for folder ``text`` (relative to ``root``; ``""`` is the root)."""
    if kind not in KINDS:
        raise FsUserError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    base = root.resolve()
    folder = base if not text.strip() else path_inside(base, text, "path")
    if not folder.is_dir():
        raise FsUserError(f"path is not a folder inside the root: {text}")
    # the folder as the user reached it (links inside the root kept), for the names shown
    shown = base / text.strip() if text.strip() else base
    rel = _relative(base, shown) if not Path(text).is_absolute() else _relative(base, folder)
    try:
        with os.scandir(folder) as scan:
            entries = sorted(
                (e for e in scan if not e.name.startswith(".")), key=lambda e: e.name.lower()
            )
    except OSError as error:
        raise FsUserError(f"cannot list {rel or 'the root folder'}: {error.strerror}") from None
    folders: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    faces: list[str] = []
    more = 0
    for entry in entries:
        child = f"{rel}/{entry.name}" if rel else entry.name
        try:
            is_dir = entry.is_dir()
        except OSError:
            continue
        if is_dir:
            if len(folders) < MAX_ENTRIES:
                folders.append(_folder_entry(base, base / child))
            else:
                more += 1
            continue
        if os.path.splitext(entry.name)[1].lower() in FACE_SUFFIXES:
            faces.append(child)
        wanted = kind == "file" or (kind == "video-or-folder" and _file_type(entry.name) == "video")
        if wanted:
            if len(files) < MAX_ENTRIES:
                files.append({"name": entry.name, "path": child, "type": _file_type(entry.name)})
            else:
                more += 1
    parent = None if folder == base else _relative(base, (base / rel).parent)
    step = max(1, len(faces) // THUMBNAILS)
    return {
        "root": str(base),
        "path": rel,
        "parent": parent,
        "faces": len(faces),
        "thumbnails": [_thumb_url(name) for name in faces[::step][:THUMBNAILS]],
        "folders": folders,
        "files": files,
        "more": more,
    }


def thumbnail(root: Path, text: str) -> bytes:
    """A JPEG of image file ``text`` (inside ``root``), at most :data:`THUMB_SIDE` pixels a side."""
    import cv2  # noqa: PLC0415 (OpenCV: the GUI starts without it)
    import numpy as np  # noqa: PLC0415 (with OpenCV)

    path = path_inside(root, text, "path")
    if path.suffix.lower() not in THUMB_SUFFIXES:
        raise FsUserError(f"not an image file ({', '.join(THUMB_SUFFIXES)}): {text}")
    if not path.is_file():
        raise FsUserError(f"no such image file inside the root: {text}")
    size = path.stat().st_size
    if size > THUMB_MAX_BYTES:
        raise FsUserError(f"the image is too large for a thumbnail ({size} bytes): {text}")
    image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise FsUserError(f"not a readable image: {text}")
    height, width = image.shape[:2]
    scale = THUMB_SIDE / max(height, width)
    if scale < 1:
        size_out = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(image, size_out, interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise FsUserError(f"could not make a thumbnail of {text}")
    return bytes(data)


def routes(api: Any) -> list[Route]:
    """The picker's routes for ``api`` (an :class:`fs_core.gui.app.Api`: its ``root``)."""

    def browse(request: Request) -> Response:
        params = request.query_params
        return JSON(listing(api.root, params.get("path", ""), params.get("kind", "folder")))

    def thumb(request: Request) -> Response:
        data = thumbnail(api.root, request.query_params.get("path", ""))
        return Response(
            data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
        )

    return [Route("/api/browse", browse), Route("/api/browse/thumb", thumb)]
