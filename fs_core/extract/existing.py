"""What an earlier extract left: its alignments file, the faces in the output folder, and the
marker that says whether it finished.

An extract is resumable because everything it writes is whole (each face PNG and the alignments
file are written atomically) and because it can tell what it already did:

* the alignments file lists the frames whose faces are all written (it is saved after them);
* a face PNG names its frame and its index in it (its faceswap header), so a face written after
  the last save of the alignments file is recognised and not written again;
* the marker (``.fs-extract.json`` in the output folder) records the input, the alignments file
  and the settings of a run, and whether it finished, so that running the same command again
  continues an interrupted run, and a different command does not silently mix into it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from fs_core.atomic import atomic_write_bytes
from fs_core.errors import FsUserError
from fs_core.faces.alignments_file import FrameFaces, face_entry
from fs_core.faces.faceset import list_images
from fs_core.faces.pngmeta import read_faceswap_metadata

MARKER = ".fs-extract.json"


@attrs.frozen
class Marker:
    """An extract's record in its output folder (see the module docstring)."""

    input: str
    alignments: str
    settings: Mapping[str, Any]
    complete: bool


def read_marker(folder: Path) -> Marker | None:
    """The marker of ``folder``, or None when there is none (or it is not one fs wrote)."""
    path = folder / MARKER
    try:
        data = json.loads(path.read_text("utf-8"))
        return Marker(
            str(data["input"]),
            str(data["alignments"]),
            dict(data["settings"]),
            bool(data["complete"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        raise FsUserError(
            f"the extract record {MARKER} is damaged; remove it to start this folder afresh",
            path,
        ) from None


def write_marker(folder: Path, marker: Marker) -> None:
    """Record ``marker`` in ``folder`` atomically."""
    data = {
        "input": marker.input,
        "alignments": marker.alignments,
        "settings": dict(marker.settings),
        "complete": marker.complete,
    }
    atomic_write_bytes(folder / MARKER, (json.dumps(data, indent=1) + "\n").encode("utf-8"))


@attrs.frozen
class FaceFile:
    """A faceswap face PNG in the output folder: where it is and its header."""

    path: Path
    header: Mapping[str, Any]


def faces_by_frame(folder: Path) -> dict[str, dict[int, FaceFile]]:
    """The faceswap faces in ``folder`` by the frame key and face index their headers name.
    Images without a faceswap header, or with one that cannot be read, are not ours: left out."""
    found: dict[str, dict[int, FaceFile]] = {}
    try:
        paths = list_images(folder)
    except FsUserError:  # no folder yet, or no images in it
        return found
    for path in paths:
        if path.suffix.lower() != ".png":
            continue
        try:
            header = read_faceswap_metadata(path)
            if header is None:
                continue
            source = header["source"]
            key, index = str(source["source_filename"]), int(source["face_index"])
        except (FsUserError, OSError, KeyError, TypeError, ValueError):
            continue
        found.setdefault(key, {})[index] = FaceFile(path, header)
    return found


def entry_from_record(record: FrameFaces) -> dict[str, Any]:
    """A frame read from an alignments file, back in the layout the file is written in."""
    faces = []
    for face in record.faces:
        masks = {
            name: {
                "mask": mask.blob,
                "affine_matrix": np.asarray(mask.affine_matrix, np.float64).tolist(),
                "interpolator": int(mask.interpolator),
                "stored_size": int(mask.stored_size),
                "stored_centering": mask.stored_centering,
            }
            for name, mask in face.masks.items()
        }
        box = (face.x, face.y, face.w, face.h)
        faces.append(face_entry(face.landmarks, masks, box, face.thumb))
    return {"faces": faces, "video_meta": dict(record.video_meta)}


def same_path(left: str | os.PathLike, right: str | os.PathLike) -> bool:
    """Whether two paths name the same file or folder (as given, resolved)."""
    return Path(left).resolve() == Path(right).resolve()
