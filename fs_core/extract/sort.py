"""``fs sort``: put a folder of extracted faces in an order that makes it quick to clean by eye --
by identity, sharpness, head turn or colour -- by renaming each file ``<rank:06d>_<name>`` (as
faceswap's sort names them), moved in place, moved to another folder, or copied (``keep``).

A face's bytes are never changed, so its faceswap header (landmarks, masks, source frame) goes
with it, and ``fs convert -a`` and ``fs train`` read it as before. Nothing is deleted or
overwritten: a name that already exists outside the faces being sorted stops the run before any
file moves.

Renaming in place can cycle (``a`` -> ``b`` while ``b`` -> ``c``), so it goes in two steps
through temporary names, with a journal (:data:`JOURNAL`) written first: a run stopped halfway
is finished by the next ``fs sort`` of that folder, before it does anything else.

Methods (faceswap's names):

* ``blur``: sharpest first (variance of the Laplacian of the grey face);
* ``yaw``, ``pitch``: by the head's turn, from the pose of the header's landmarks (degrees, as
  faceswap's pose estimate gives them), one side to the other;
* ``hist``: each next face the one whose colour histogram is nearest the last (a chain);
* ``face``: the same chain over dlib's face-recognition descriptors, so each person's faces
  come together (needs the ``extract`` extra).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from fs_core.atomic import atomic_write_bytes
from fs_core.errors import FsUserError
from fs_core.faces import alignment as al
from fs_core.faces.faceset import list_images
from fs_core.faces.read import FaceRecord, read_face

METHODS = ("blur", "yaw", "pitch", "hist", "face")
JOURNAL = ".fs-sort-journal.json"
_RANK = re.compile(r"^\d{6}_")


def _records(paths: Sequence[Path]) -> list[FaceRecord]:
    return [read_face(path) for path in paths]


def _need_landmarks(paths: Sequence[Path], records: Sequence[FaceRecord], method: str) -> None:
    for path, record in zip(paths, records):
        if record.landmarks is None or al.landmark_count(record.landmarks) == 4:
            raise FsUserError(
                f"sorting by {method} needs faces with 68- or 98-point landmarks in their "
                "faceswap header; this one has none",
                path,
            )


def blur_scores(records: Sequence[FaceRecord]) -> np.ndarray:
    """Sharpness per face: the variance of the Laplacian of the grey image."""
    return np.array(
        [
            cv2.Laplacian(cv2.cvtColor(record.image, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
            for record in records
        ]
    )


def pitch_yaw(landmarks: np.ndarray, matrix: np.ndarray | None = None) -> tuple[float, float]:
    """(pitch, yaw) in degrees of the face at ``landmarks`` (frame pixels), from its pose;
    ``matrix``: its legacy matrix, when the caller has it already."""
    rotation, _translation = al.estimate_pose(landmarks, matrix)
    projection = np.zeros((3, 4))
    projection[:, :3] = cv2.Rodrigues(rotation)[0]
    euler = cv2.decomposeProjectionMatrix(projection)[-1]
    return float(euler[0, 0]), float(euler[1, 0])


def chain(
    vectors: np.ndarray, distance: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> list[int]:
    """A greedy nearest-neighbour order: start at the first vector, each next the nearest of
    those left to the last one taken."""
    left = list(range(1, len(vectors)))
    order = [0] if len(vectors) else []
    while left:
        near = distance(vectors[order[-1]], vectors[left])
        order.append(left.pop(int(np.argmin(near))))
    return order


def _histograms(records: Sequence[FaceRecord]) -> np.ndarray:
    """Per face, the square roots of its normalised 3 x 32-bin colour histograms (so that one
    minus a dot product is the Bhattacharyya-style distance)."""
    out = []
    for record in records:
        hist = np.concatenate(
            [cv2.calcHist([record.image], [c], None, [32], [0, 256]).ravel() for c in range(3)]
        )
        out.append(np.sqrt(hist / max(hist.sum(), 1.0)))
    return np.array(out)


def _descriptors(records: Sequence[FaceRecord]) -> np.ndarray:
    from fs_core.extract.identity import extracted_face_descriptor, recognition_network  # noqa: PLC0415 (needs the extract extra)

    network = recognition_network()
    out = []
    for record in records:
        assert record.landmarks is not None
        out.append(
            extracted_face_descriptor(network, record.image, record.landmarks, record.centering)
        )
    return np.array(out)


def sort_order(paths: Sequence[Path], method: str) -> list[int]:
    """The new order of ``paths`` (indices into it) by ``method``."""
    if method not in METHODS:
        raise FsUserError(f"unknown sort method {method!r} (choose one of {METHODS})")
    records = _records(paths)
    if method == "blur":
        return [int(i) for i in np.argsort(-blur_scores(records), kind="stable")]
    if method == "hist":
        return chain(_histograms(records), lambda one, many: 1.0 - many @ one)
    _need_landmarks(paths, records, method)
    if method in ("yaw", "pitch"):
        angles = np.array([pitch_yaw(record.landmarks) for record in records])  # type: ignore[arg-type]
        column = 1 if method == "yaw" else 0
        return [int(i) for i in np.argsort(angles[:, column], kind="stable")]
    return chain(_descriptors(records), lambda one, many: np.linalg.norm(many - one, axis=1))


def new_name(rank: int, path: Path) -> str:
    """``<rank:06d>_<name>``, an earlier sort's rank replaced rather than stacked."""
    return f"{rank:06d}_{_RANK.sub('', path.name)}"


def finish_journal(folder: Path) -> int:
    """Finish the in-place renames a stopped ``fs sort`` left in ``folder``; return how many."""
    journal = folder / JOURNAL
    if not journal.exists():
        return 0
    try:
        moves = json.loads(journal.read_text("utf-8"))
        pairs = [(str(temp), str(final)) for temp, final in moves]
    except (OSError, ValueError, TypeError):
        raise FsUserError(
            f"the sort journal is damaged; the faces named .fs-sort-* in this folder are "
            f"faces a stopped sort renamed: rename them back by hand, then remove {JOURNAL}",
            journal,
        ) from None
    done = 0
    for temp, final in pairs:
        if (folder / temp).exists() and not (folder / final).exists():
            os.rename(folder / temp, folder / final)
            done += 1
    journal.unlink()
    return done


def _check_targets(folder: Path, names: Sequence[str], moving: set[Path]) -> None:
    for name in names:
        target = folder / name
        if target.exists() and target not in moving:
            raise FsUserError(
                f"{name} already exists there and is not one of the faces being sorted; "
                "nothing was moved (choose another output folder)",
                folder,
            )


def sort_faces(
    folder: Path, method: str, output: Path | None = None, keep: bool = False
) -> list[tuple[Path, Path]]:
    """Sort the faces of ``folder`` by ``method``: rename them in place, move them to ``output``,
    or (``keep``) copy them there (``folder/sorted`` when no output is given). Returns the
    (old, new) paths, in the new order."""
    folder = Path(folder)
    if folder.is_dir():
        finish_journal(folder)
    paths = list(list_images(folder))
    order = sort_order(paths, method)
    if keep and output is None:
        output = folder / "sorted"
    target = folder if output is None else Path(output)
    if target.exists() and not target.is_dir():
        raise FsUserError("the output exists and is not a folder", target)
    names = [new_name(rank, paths[index]) for rank, index in enumerate(order)]
    in_place = target.resolve() == folder.resolve()
    _check_targets(target, names, set(paths) if in_place and not keep else set())
    pairs = [(paths[index], target / name) for index, name in zip(order, names)]
    target.mkdir(parents=True, exist_ok=True)
    if keep:
        for source, dest in pairs:
            shutil.copy2(source, dest)
    elif in_place:
        temps = [
            (f".fs-sort-{rank:06d}{source.suffix}", dest.name)
            for rank, (source, dest) in enumerate(pairs)
        ]
        atomic_write_bytes(folder / JOURNAL, json.dumps(temps).encode("utf-8"))
        for (source, _dest), (temp, _final) in zip(pairs, temps):
            os.rename(source, folder / temp)
        finish_journal(folder)
    else:
        for source, dest in pairs:
            shutil.move(source, dest)
    return pairs
