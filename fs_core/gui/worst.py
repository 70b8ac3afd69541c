"""The Analysis tab's "faces the model reconstructs worst": the list, and the faces' thumbnails.

The list comes from the per-face loss table the trainer writes into the record at each save
(:mod:`fs_core.record.face_losses`). The images are the training faces themselves, so the route
that serves them is narrow: only a file the table names, in the face folder the table names for
that side, with an image suffix, and only when that folder is inside the GUI's root (the same
rule as every path the page may name). Anything else is refused before any file is opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from fs_core.errors import FsUserError
from fs_core.faces.faceset import IMAGE_SUFFIXES
from fs_core.folder import layout
from fs_core.gui.jsonout import JSON
from fs_core.gui.params import int_param
from fs_core.gui.security import path_inside
from fs_core.record import face_losses

if TYPE_CHECKING:
    from fs_core.gui.app import Api

#: faces listed per side unless the page asks for another count
DEFAULT_COUNT = 12
MAX_COUNT = 200
MEDIA_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def _inside(root: Path, folder: str) -> Path | None:
    """``folder`` resolved, when it is inside ``root``, else None."""
    try:
        return path_inside(root, folder, "the face folder")
    except FsUserError:
        return None


def listing(model_dir: Path, root: Path, count: int) -> dict[str, Any]:
    """What the page shows: per side the folder, the median and the ``count`` worst faces, each
    with the address of its thumbnail (None where the folder is outside the root)."""
    table = face_losses.read(model_dir)
    if table is None:
        return {"iteration": None, "sides": {}}
    sides = {}
    for name, side in table.sides.items():
        folder = _inside(root, side.folder)
        median = side.median()
        faces = []
        for face in face_losses.worst(side, count):
            image = None
            if folder is not None:
                image = f"api/models/{quote(model_dir.name)}/faces/{name}/{quote(face.file)}"
            faces.append({**face.as_json(), "image": image})
        sides[name] = {
            "folder": _shown(root, folder, side.folder),
            "inside_root": folder is not None,
            "faces": len(side.names),
            "seen_faces": int((side.seen > 0).sum()),
            "median": median,
            "worst": faces,
        }
    return {"iteration": table.iteration, "sides": sides}


class TableNames:
    """Each model's face file names per side, read again only when its table file changed: a page
    asks for a dozen thumbnails at once, and a large set's table takes a while to read."""

    def __init__(self) -> None:
        self._known: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}

    def get(self, model_dir: Path) -> dict[str, tuple[str, frozenset[str]]]:
        """Side -> (face folder as recorded, file names); empty when there is no table."""
        path = layout.face_losses_file(model_dir)
        try:
            stat = path.stat()
        except OSError:
            return {}
        stamp = (stat.st_mtime_ns, stat.st_size)
        known = self._known.get(path)
        if known is None or known[0] != stamp:
            table = face_losses.read(model_dir)
            sides = {} if table is None else table.sides
            names = {
                name: (side.folder, frozenset(side.names.tolist())) for name, side in sides.items()
            }
            self._known[path] = known = (stamp, names)
        return known[1]


def face_file(
    model_dir: Path, root: Path, side_name: str, file_name: str, names: TableNames
) -> Path:
    """The image of one training face, or HTTPException: the name must be one the side's table
    lists, a plain file name with an image suffix, in a face folder inside the root."""
    if side_name not in face_losses.SIDES:
        raise HTTPException(404, f"no side {side_name!r} (a or b)")
    if (
        not file_name
        or "/" in file_name
        or "\\" in file_name
        or "\0" in file_name
        or file_name in (".", "..")
        or Path(file_name).suffix.lower() not in IMAGE_SUFFIXES
    ):
        raise HTTPException(400, f"not a face image name: {file_name!r}")
    side = names.get(model_dir).get(side_name)
    if side is None or file_name not in side[1]:
        raise HTTPException(404, f"no face {file_name!r} among side {side_name.upper()}'s faces")
    folder = _inside(root, side[0])
    if folder is None:
        raise HTTPException(403, "the face folder is outside the GUI's root folder")
    path = (folder / file_name).resolve()
    if path.parent != folder or not path.is_file():
        raise HTTPException(404, f"the face {file_name!r} is no longer in its folder")
    return path


def routes(api: Api) -> list[Route]:
    """The two routes, on ``api``'s root and model folders."""
    names = TableNames()

    def worst_faces(request: Request) -> Response:
        folder = api.model_dir(request)
        count = int_param(request, "count", 1, MAX_COUNT)
        return JSON(listing(folder, api.root, DEFAULT_COUNT if count is None else count))

    def face_image(request: Request) -> Response:
        folder = api.model_dir(request)
        params = request.path_params
        path = face_file(folder, api.root, params["side"], params["file"], names)
        return FileResponse(
            path,
            media_type=MEDIA_TYPES[path.suffix.lower()],
            headers={"Cache-Control": "private, max-age=60"},
        )

    return [
        Route("/api/models/{name:str}/worst-faces", worst_faces),
        Route("/api/models/{name:str}/faces/{side:str}/{file:str}", face_image),
    ]


def _shown(root: Path, folder: Path | None, recorded: str) -> str:
    """The folder as the page shows it: relative to the root when inside it."""
    if folder is None:
        return recorded
    relative = folder.relative_to(root.resolve())
    return str(relative) if str(relative) != "." else "."
