"""Index a folder of faces: which files, and what every face in it can provide.

Indexing reads only the PNG headers (no pixels), in worker processes for large sets (see
:mod:`fs_core.parallel`), so ten thousand faces take seconds, and it tells the trainer up front
whether the set has landmarks and which stored masks all faces share; options that need more are
refused before training starts (see :func:`fs_core.faces.prepare.check_faceset`).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import attrs
from tqdm import tqdm

from fs_core.errors import FsUserError
from fs_core.faces.pngmeta import PNG_SIGNATURE, read_faceswap_metadata
from fs_core.faces.read import landmarks_from_metadata, stored_mask_entries
from fs_core.parallel import map_in_processes, use_processes

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
PROGRESS_MIN_FILES = 500


@attrs.frozen
class FaceSet:
    """A face folder: its image ``paths`` (sorted), whether every face has 68 landmarks, and the
    stored mask names present in every face."""

    folder: Path
    paths: tuple[Path, ...]
    has_landmarks: bool
    stored_mask_names: frozenset = frozenset()

    def __len__(self) -> int:
        return len(self.paths)


def list_images(folder: str | os.PathLike) -> tuple[Path, ...]:
    """The sorted image files (.png .jpg .jpeg, any case; hidden files skipped) in ``folder``."""
    root = Path(folder)
    if not root.exists():
        raise FsUserError("the face folder does not exist", root)
    if not root.is_dir():
        raise FsUserError("not a folder (a face set is a folder of face images)", root)
    try:
        entries = list(root.iterdir())
    except OSError as err:
        raise FsUserError(f"cannot list the folder: {err.strerror or err}", root) from err
    paths = sorted(p for p in entries
                   if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
                   and p.is_file())
    if not paths:
        raise FsUserError("the folder holds no face images (.png, .jpg or .jpeg)", root)
    return tuple(paths)


def _header(path: Path) -> tuple[bool, frozenset]:
    """(has 68 landmarks, stored mask names) of one face, from its header only."""
    with open(path, "rb") as handle:
        start = handle.read(8)
    if start == PNG_SIGNATURE:
        metadata = read_faceswap_metadata(path) or {}
    elif start[:2] == b"\xff\xd8":
        return False, frozenset()
    else:
        raise FsUserError("not a PNG or JPEG image (the file's signature is wrong)", path)
    has_landmarks = landmarks_from_metadata(metadata, path) is not None
    return has_landmarks, frozenset(stored_mask_entries(metadata, path)) if has_landmarks else \
        frozenset()


def _checked_header(path: Path) -> tuple[bool, frozenset]:
    """:func:`_header`, with an unreadable file as a user error (module level: workers run it)."""
    try:
        return _header(path)
    except OSError as err:
        raise FsUserError(f"cannot read the file: {err.strerror or err}", path) from err


def index_faceset(folder: str | os.PathLike) -> FaceSet:
    """Index ``folder``: sorted image paths, landmarks and the stored masks common to all faces.

    A folder mixing faceswap-extracted faces (head-centred, with landmarks) and plain crops is
    refused: the two are cropped differently, so the model would see two kinds of framing.
    """
    paths = list_images(folder)
    with_landmarks: list[Path] = []
    plain: list[Path] = []
    common: frozenset | None = None
    show = sys.stderr.isatty() and len(paths) >= PROGRESS_MIN_FILES
    headers = (map_in_processes(_checked_header, paths, chunksize=256)
               if use_processes(len(paths)) else map(_checked_header, paths))
    for path, (has_landmarks, names) in zip(paths, tqdm(
            headers, total=len(paths), desc=f"Reading {Path(folder).name}", unit="face",
            file=sys.stderr, disable=not show, leave=False)):
        (with_landmarks if has_landmarks else plain).append(path)
        common = names if common is None else common & names
    if with_landmarks and plain:
        raise FsUserError(f"the folder mixes {len(with_landmarks)} faceswap-extracted faces (with "
                          f"landmarks) and {len(plain)} plain crops, e.g. {plain[0].name}: keep "
                          "one kind of face per folder", folder)
    return FaceSet(Path(folder), paths, bool(with_landmarks), common or frozenset())
