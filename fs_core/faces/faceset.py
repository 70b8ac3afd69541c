"""Index a folder of faces: which files, and what every face in it can provide.

Indexing reads only the PNG headers (no pixels), in worker processes for large sets (see
:mod:`fs_core.parallel`), so ten thousand faces take seconds, and it tells the trainer up front
whether the set has landmarks, how the faces were cropped and which stored masks all faces share;
options that need more are refused before training starts (see
:func:`fs_core.faces.prepare.check_faceset`).

What a folder *is* is decided from its headers by :func:`faceset_from_headers`, so the trainer's
start-up scan (:mod:`fs_core.data.scan`), which gets the headers from the face cache or from the
same read that prepares each face, decides exactly as :func:`index_faceset` does.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import attrs
from tqdm import tqdm

from fs_core.errors import FsUserError
from fs_core.faces.pngmeta import (
    PNG_SIGNATURE,
    faceswap_metadata_from_bytes,
    read_faceswap_metadata,
)
from fs_core.faces.read import extract_centering, landmarks_from_metadata, stored_mask_entries
from fs_core.parallel import map_in_processes, use_processes

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
PROGRESS_MIN_FILES = 500
SKIPPED_NAMES_SHOWN = 5  # names listed in the warning about skipped images
_log = logging.getLogger("fs.faces")


@attrs.frozen
class FaceSet:
    """A face folder: its image ``paths`` (sorted, the faces to train on), whether every face has
    landmarks, the stored mask names present in every face, how the faces were cropped
    (``centering``: "head", "legacy" for faces extracted before faceswap 2.0, None for plain crops),
    the images ``skipped`` (without a faceswap header, in a folder of extracted faces) and the
    ``landmark_points`` counts among the faces (68, 98 or 4; empty for plain crops)."""

    folder: Path
    paths: tuple[Path, ...]
    has_landmarks: bool
    stored_mask_names: frozenset = frozenset()
    centering: str | None = None
    skipped: tuple[Path, ...] = ()
    landmark_points: frozenset = frozenset()

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def has_features(self) -> bool:
        """Whether the landmarks locate eyes, mouth and jaw (68 or 98 points), which landmark masks
        and the eye/mouth weighting need; 4-point faces (a region of interest) do not."""
        return self.has_landmarks and 4 not in self.landmark_points


def list_images(folder: str | os.PathLike) -> tuple[Path, ...]:
    """The sorted image files (.png .jpg .jpeg, any case; hidden files skipped) in ``folder``."""
    root = Path(folder)
    if not root.exists():
        raise FsUserError("the face folder does not exist", root)
    if not root.is_dir():
        raise FsUserError("not a folder (a face set is a folder of face images)", root)
    try:
        with os.scandir(root) as entries:  # file types without a stat per file, where it can
            names = [
                entry.name
                for entry in entries
                if os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES
                and not entry.name.startswith(".")
                and entry.is_file()
            ]
    except OSError as err:
        raise FsUserError(f"cannot list the folder: {err.strerror or err}", root) from err
    if not names:
        raise FsUserError("the folder holds no face images (.png, .jpg or .jpeg)", root)
    # sorting the names sorts the paths (one folder), without Path comparisons: 10x faster
    return tuple(root / name for name in sorted(names))


class FaceHeader(NamedTuple):
    """What one image's header says: ``extracted`` (a faceswap header with landmarks), its
    stored mask names, its crop ``centering`` and its landmark ``points`` (empty or 0 for an image
    that is not extracted)."""

    extracted: bool
    mask_names: frozenset = frozenset()
    centering: str = ""
    points: int = 0


def header_from_metadata(metadata: dict, path: str | os.PathLike) -> FaceHeader:
    """The :class:`FaceHeader` of an image whose faceswap header dict is ``metadata`` ({} when it
    has none); a malformed header is refused naming ``path``."""
    landmarks = landmarks_from_metadata(metadata, path)
    if landmarks is None:
        return FaceHeader(False)
    return FaceHeader(
        True,
        frozenset(stored_mask_entries(metadata, path)),
        extract_centering(metadata, path),
        len(landmarks),
    )


def is_png(start: bytes, path: str | os.PathLike) -> bool:
    """Whether an image file whose first bytes are ``start`` is a PNG (True) or a JPEG (False);
    anything else is refused naming ``path``."""
    if start[:8] == PNG_SIGNATURE:
        return True
    if start[:2] == b"\xff\xd8":
        return False
    raise FsUserError("not a PNG or JPEG image (the file's signature is wrong)", path)


def header_from_bytes(data: bytes, path: str | os.PathLike) -> FaceHeader:
    """The :class:`FaceHeader` of the image file whose bytes are ``data``."""
    if not is_png(data[:8], path):
        return FaceHeader(False)
    return header_from_metadata(faceswap_metadata_from_bytes(data, path) or {}, path)


def _header(path: Path) -> FaceHeader:
    """The :class:`FaceHeader` of one image, from its header only (no pixels decoded)."""
    with open(path, "rb") as handle:
        start = handle.read(8)
    if not is_png(start, path):
        return FaceHeader(False)
    return header_from_metadata(read_faceswap_metadata(path) or {}, path)


def _checked_header(path: Path) -> FaceHeader:
    """:func:`_header`, with an unreadable file as a user error (module level: workers run it)."""
    try:
        return _header(path)
    except OSError as err:
        raise FsUserError(f"cannot read the file: {err.strerror or err}", path) from err


def _names(paths: list[Path]) -> str:
    """The first few file names of ``paths`` for a one-line message, and how many more."""
    shown = ", ".join(path.name for path in paths[:SKIPPED_NAMES_SHOWN])
    more = len(paths) - SKIPPED_NAMES_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def index_faceset(folder: str | os.PathLike) -> FaceSet:
    """Index ``folder``: sorted image paths, landmarks, crop centering and common stored masks,
    from every image's header (see :func:`faceset_from_headers` for what the folder is taken to
    be). Files without an image suffix are ignored quietly; a file with an image suffix that is
    neither PNG nor JPEG, a PNG cut short, or a malformed faceswap header is refused by name
    (pixels are checked later, when the faces are read).
    """
    paths = list_images(folder)
    show = sys.stderr.isatty() and len(paths) >= PROGRESS_MIN_FILES
    headers = (
        map_in_processes(_checked_header, paths, chunksize=256)
        if use_processes(len(paths))
        else map(_checked_header, paths)
    )
    progress = tqdm(
        headers,
        total=len(paths),
        desc=f"Reading {Path(folder).name}",
        unit="face",
        file=sys.stderr,
        disable=not show,
        leave=False,
    )
    return faceset_from_headers(folder, paths, list(progress))


def faceset_from_headers(
    folder: str | os.PathLike, paths: Sequence[Path], headers: Sequence[FaceHeader]
) -> FaceSet:
    """The :class:`FaceSet` of ``folder`` whose images ``paths`` have ``headers``.

    What a folder is decides how its odd files are treated:

    * *a folder of extracted faces*: at least as many images carry a faceswap header with
      landmarks (68, 98 or 4 points) as do not. Images without one (a stray JPEG, a plain PNG, a
      preview someone saved there) are not faces faceswap extracted: they are left out with one
      warning that names them rather than stopping the run (faceswap's scripts/train.py lists
      only .png files, so a stray JPEG never reaches its training either);
    * otherwise *a folder of plain crops*: every image is a face, and a folder that still holds some
      extracted faces is refused, because the two are framed differently and a minority of
      extracted faces there is more likely a mistake than the training set.

    Extracted faces must all be cropped alike: a folder mixing faces extracted before faceswap 2.0
    (legacy-centred, header ``source.alignments_version`` below 2.0) with later (head-centred)
    ones is refused, naming one of each; so is a folder mixing 4-point faces (a region of interest
    only, e.g. imported from another tool) with faces that have facial landmarks, since a training
    batch carries every face's 68-point landmarks or none.
    """
    extracted: list[Path] = []
    plain: list[Path] = []
    by_centering: dict[str, Path] = {}
    by_points: dict[int, Path] = {}
    common: frozenset | None = None
    for path, header in zip(paths, headers):
        if not header.extracted:
            plain.append(path)
            continue
        extracted.append(path)
        by_centering.setdefault(header.centering, path)
        by_points.setdefault(header.points, path)
        common = header.mask_names if common is None else common & header.mask_names
    if extracted and len(extracted) < len(plain):
        raise FsUserError(
            f"the folder mixes {len(extracted)} faceswap-extracted faces (with "
            f"landmarks, e.g. {extracted[0].name}) and {len(plain)} plain crops, e.g. "
            f"{plain[0].name}: keep one kind of face per folder",
            folder,
        )
    if len(by_centering) > 1:
        raise FsUserError(
            f"the folder mixes faces extracted before faceswap 2.0 (legacy-centred, "
            f"e.g. {by_centering['legacy'].name}) and later ones (head-centred, e.g. "
            f"{by_centering['head'].name}), which are framed differently: keep one "
            "kind per folder (or re-extract the old faces)",
            folder,
        )
    if 4 in by_points and len(by_points) > 1:
        full = next(path for points, path in by_points.items() if points != 4)
        raise FsUserError(
            f"the folder mixes 4-point faces (a region of interest only, e.g. "
            f"{by_points[4].name}) and faces with facial landmarks (e.g. {full.name}): keep "
            "one kind per folder",
            folder,
        )
    if not extracted:
        return FaceSet(Path(folder), tuple(paths), False)
    if plain:
        _log.warning(
            "%s: skipping %d image(s) without a faceswap header in a folder of extracted faces: %s",
            os.fspath(folder),
            len(plain),
            _names(plain),
        )
    return FaceSet(
        Path(folder),
        tuple(extracted),
        True,
        common or frozenset(),
        next(iter(by_centering)),
        tuple(plain),
        frozenset(by_points),
    )
