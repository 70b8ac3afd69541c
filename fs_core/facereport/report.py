"""Build the face-set report of one or two face folders: measure every face, apply the rules of
:mod:`fs_core.facereport.findings`, and gather the result as one JSON-ready dict (the CLI's
``--json``, the HTML page and the GUI's Faces tab all read this one dict).

The dict: ``sides`` (per folder: its path, face count, how many had landmarks, the pose
histogram), ``findings`` (each: ``kind``, ``side``, ``title``, the ``rule`` that found it, and
``groups`` of faces with ``name``, ``path`` and the measured ``value``), ``notes`` (what was not
checked, and why) and ``seconds`` per stage.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from fs_core.errors import FsUserError
from fs_core.facereport import findings as fd
from fs_core.facereport.metrics import HASH_WORDS, FaceMeasure, measure_faces
from fs_core.faces.faceset import list_images

#: faces a pose-gap cell lists from A, as examples
GAP_EXAMPLES = 6
REPORT_VERSION = 1
Progress = Callable[[int, int], None]


def identity_available() -> bool:
    """Whether the ``extract`` extra (dlib and its recognition model) is installed."""
    try:
        from fs_core.extract.models import model_path, require_dlib  # noqa: PLC0415 (optional extra)

        require_dlib()
        model_path("recognition")
    except FsUserError:
        return False
    return True


def _face(path: Path, value: float, unit: str = "") -> dict[str, Any]:
    return {"name": path.name, "path": str(path), "value": round(float(value), 4), "unit": unit}


def _finding(kind: str, side: str, title: str, rule: str, groups: list[dict]) -> dict[str, Any]:
    faces = sum(len(group["faces"]) for group in groups)
    return {
        "kind": kind,
        "side": side,
        "title": title,
        "rule": rule,
        "groups": groups,
        "count": faces if kind != "pose_gap" else len(groups),
    }


class _Side:
    """One folder's faces and measurements."""

    def __init__(self, side: str, folder: Path, paths: tuple[Path, ...]) -> None:
        self.side, self.folder, self.paths = side, folder, paths
        self.measures: list[FaceMeasure] = []

    def good(self) -> list[int]:
        return [i for i, m in enumerate(self.measures) if m.error is None]

    def posed(self) -> list[int]:
        return [i for i, m in enumerate(self.measures) if m.error is None and m.pose is not None]

    def poses(self) -> np.ndarray:
        """(pitch, yaw) of the posed faces, pitch relative to the set's median: the pitch read
        from landmarks depends on the face's shape (a long jaw reads as a lowered head), which
        differs between two people, so only pitch *spread* compares across sides."""
        poses = np.array([self.measures[i].pose for i in self.posed()], np.float64).reshape(-1, 2)
        if len(poses):
            poses[:, 0] -= np.median(poses[:, 0])
        return poses


def _one_group(faces: list[dict]) -> list[dict]:
    return [{"label": "", "faces": faces}]


def _unreadable(side: _Side) -> dict | None:
    bad = [i for i, m in enumerate(side.measures) if m.error is not None]
    if not bad:
        return None
    faces = [dict(_face(side.paths[i], 0), error=side.measures[i].error) for i in bad]
    rule = "the file could not be read as a square colour face"
    return _finding("unreadable", side.side, "Unreadable files", rule, _one_group(faces))


def _blurred(side: _Side) -> dict | None:
    good = side.good()
    scores = np.array([side.measures[i].sharpness for i in good])
    found = fd.blurred(scores)
    if not len(found):
        return None
    median = float(np.median(scores))
    faces = [_face(side.paths[good[i]], scores[i] / median, "x median") for i in found]
    rule = (
        f"sharpness (variance of the Laplacian of the face's centre) below {fd.BLUR_RATIO:g} x "
        f"the set's median ({median:.1f})"
    )
    return _finding("blurred", side.side, "Blurred faces", rule, _one_group(faces))


def _duplicates(side: _Side) -> dict | None:
    good = side.good()
    measures = [side.measures[i] for i in good]
    hashes = np.array([np.frombuffer(m.phash, ">u8") for m in measures], np.uint64)
    hashes = hashes.reshape(-1, HASH_WORDS)
    colours = np.array([np.frombuffer(m.colour, np.uint8) for m in measures])
    pairs = fd.same_colour(fd.hamming_pairs(hashes, fd.DUPLICATE_BITS), colours)
    groups = []
    for members in fd.clusters(len(good), pairs):
        group = hashes[members]
        distance = np.bitwise_count(group[:, None, :] ^ group[None, :, :]).sum(-1)
        np.fill_diagonal(distance, 1 << 20)
        faces = [
            _face(side.paths[good[i]], distance[k].min(), "bits") for k, i in enumerate(members)
        ]
        groups.append({"label": f"{len(members)} faces alike", "faces": faces})
    if not groups:
        return None
    rule = (
        f"256-bit DCT perceptual hashes differ in at most {fd.DUPLICATE_BITS} bits and 4x4 "
        f"colour thumbnails by at most {fd.DUPLICATE_COLOUR:g} levels on average (value: bits "
        "from the nearest face of its group); keep one or a few of each group"
    )
    return _finding("duplicates", side.side, "Near-duplicates", rule, groups)


def _alignment(side: _Side) -> dict | None:
    posed = side.posed()
    if len(posed) < fd.MIN_FACES:
        return None
    shapes = np.stack([side.measures[i].shape for i in posed])  # type: ignore[misc]
    yaws = np.array([side.measures[i].pose[1] for i in posed])  # type: ignore[index]
    residuals = fd.alignment_residuals(shapes, yaws)
    found = fd.outliers(residuals)
    if not len(found):
        return None
    faces = [_face(side.paths[posed[i]], residuals[i], "face widths") for i in found]
    rule = (
        f"aligned landmarks far from the median shape of faces turned alike (robust z-score "
        f"above {fd.OUTLIER_Z:g}); the landmarks may be on the wrong place or not on a face"
    )
    return _finding("alignment", side.side, "Alignment outliers", rule, _one_group(faces))


def _identity(side: _Side) -> dict | None:
    have = [i for i in side.posed() if side.measures[i].identity is not None]
    if len(have) < fd.MIN_FACES:
        return None
    descriptors = np.stack([side.measures[i].identity for i in have])  # type: ignore[misc]
    distances = fd.identity_distances(descriptors)
    found = fd.identity_outliers(distances)
    if not len(found):
        return None
    faces = [_face(side.paths[have[i]], distances[i]) for i in found]
    rule = (
        f"dlib face descriptor's distance from the set's median descriptor above "
        f"{fd.IDENTITY_DISTANCE:g} and an outlier (robust z-score above {fd.OUTLIER_Z:g}): "
        "probably another person"
    )
    return _finding("identity", side.side, "Identity outliers", rule, _one_group(faces))


def _side_findings(side: _Side, notes: list[str], identity: bool) -> list[dict]:
    """The findings of one side, in the order the report shows them; what could not be checked
    goes to ``notes``."""
    if len(side.good()) < fd.MIN_FACES:
        notes.append(
            f"{side.side}: only {len(side.good())} readable faces; sharpness, alignment and "
            f"identity need at least {fd.MIN_FACES}"
        )
    if not side.posed():
        notes.append(
            f"{side.side}: no 68- or 98-point landmarks (plain crops or 4-point faces): "
            "pose coverage and alignment were not checked"
        )
    checks = [_unreadable, _blurred, _duplicates, _alignment] + ([_identity] if identity else [])
    return [found for check in checks if (found := check(side)) is not None]


def _pose(side: _Side) -> dict[str, Any] | None:
    posed = side.posed()
    if not posed:
        return None
    return {
        "yaw_edges": list(fd.YAW_EDGES),
        "pitch_edges": list(fd.PITCH_EDGES),
        "counts": fd.pose_histogram(side.poses()).tolist(),
        "gaps": [],
    }


def _gap_finding(a: _Side, b: _Side, pose_a: dict, pose_b: dict) -> dict | None:
    counts_a, counts_b = np.array(pose_a["counts"]), np.array(pose_b["counts"])
    gaps = fd.pose_gaps(counts_a, counts_b)
    pose_b["gaps"] = [list(cell) for cell in gaps]
    pose_a["gaps"] = [list(cell) for cell in gaps]
    if not gaps:
        return None
    posed = a.posed()
    cells = fd.pose_cells(a.poses())
    groups = []
    for row, col in gaps:
        members = [posed[k] for k in np.flatnonzero((cells[:, 0] == row) & (cells[:, 1] == col))]
        label = (
            f"yaw {fd.YAW_EDGES[col]:+.0f}..{fd.YAW_EDGES[col + 1]:+.0f} deg, pitch "
            f"{fd.PITCH_EDGES[row]:+.0f}..{fd.PITCH_EDGES[row + 1]:+.0f} deg: "
            f"A {int(counts_a[row, col])} faces, B {int(counts_b[row, col])}"
        )
        faces = [
            _face(a.paths[i], a.measures[i].pose[1], "deg yaw")  # type: ignore[index]
            for i in members[:GAP_EXAMPLES]
        ]
        groups.append({"label": label, "cell": [row, col], "faces": faces})
    return _finding(
        "pose_gap",
        "B",
        "Pose gaps (A poses B lacks)",
        f"pose cells ({fd.YAW_EDGES[1] - fd.YAW_EDGES[0]:g} deg) where A has at least "
        f"{fd.GAP_MIN_A} faces and B's share of its faces is under {fd.GAP_B_RATIO:g} of A's: "
        "the swap has no B face to learn these poses from (examples are A faces)",
        groups,
    )


def build_report(
    folder_a: str | os.PathLike,
    folder_b: str | os.PathLike | None = None,
    identity: bool = False,
    progress: Progress | None = None,
    show_progress: bool = False,
    nice: int = 0,
) -> dict[str, Any]:
    """The report of ``folder_a`` (and ``folder_b``): see the module docstring. ``identity``:
    also the identity outliers (needs the ``extract`` extra: FsUserError naming it otherwise);
    ``progress(done, total)`` after each face; ``show_progress``: a tqdm bar on stderr;
    ``nice``: how much lower the worker processes' CPU priority is (a report made beside a
    running trainer gives way to it)."""
    if identity and not identity_available():
        raise FsUserError(
            'identity outliers need dlib and its models: pip install "fs-core[extract]"'
        )
    started = time.perf_counter()
    sides = [_Side("A", Path(folder_a), list_images(folder_a))]
    if folder_b is not None:
        sides.append(_Side("B", Path(folder_b), list_images(folder_b)))
    total = sum(len(side.paths) for side in sides)
    done = 0
    bar = tqdm(
        total=total,
        desc="Measuring faces",
        unit="face",
        file=sys.stderr,
        disable=not show_progress,
        leave=False,
    )

    def step(count: int) -> None:
        nonlocal done
        done += count
        bar.update(count)
        if progress is not None:
            progress(done, total)

    with bar:  # both sides in one go: one set of worker processes, started once
        measures = measure_faces([p for side in sides for p in side.paths], identity, step, nice)
    for side in sides:
        side.measures, measures = measures[: len(side.paths)], measures[len(side.paths) :]
    measured = time.perf_counter()
    notes: list[str] = []
    found: list[dict] = []
    poses = [_pose(side) for side in sides]
    if len(sides) == 2 and poses[0] is not None and poses[1] is not None:
        gap = _gap_finding(sides[0], sides[1], poses[0], poses[1])
        if gap:
            found.append(gap)
    elif len(sides) == 1:
        notes.append("pose gaps need two sides: give -B as well")
    for side in sides:
        found += _side_findings(side, notes, identity)
    if not identity:
        notes.append(
            "identity outliers were not checked: fs faces report --identity adds them"
            + (
                ""
                if identity_available()
                else ' (it needs the extract extra: pip install "fs-core[extract]")'
            )
        )
    return {
        "version": REPORT_VERSION,
        "sides": [
            {
                "side": side.side,
                "folder": str(side.folder.resolve()),
                "count": len(side.paths),
                "readable": len(side.good()),
                "with_landmarks": len(side.posed()),
                "pose": pose,
            }
            for side, pose in zip(sides, poses)
        ],
        "findings": found,
        "notes": notes,
        "seconds": {
            "measure": round(measured - started, 3),
            "findings": round(time.perf_counter() - measured, 3),
        },
    }


def summary_lines(report: dict[str, Any], worst: int = 5) -> list[str]:
    """The text summary: each side's counts, each finding's count and its worst few names."""
    lines = []
    for side in report["sides"]:
        lines.append(
            f"{side['side']}: {side['count']} faces in {side['folder']} "
            f"({side['with_landmarks']} with landmarks)"
        )
    for item in report["findings"]:
        faces = [face for group in item["groups"] for face in group["faces"]]
        what = "cells" if item["kind"] == "pose_gap" else "faces"
        if item["kind"] == "duplicates":
            what = f"faces in {len(item['groups'])} groups"
        title = item["title"][0].lower() + item["title"][1:]
        lines.append(f"{item['side']} {title}: {item['count']} {what}")
        if item["kind"] == "pose_gap":
            lines += [f"  {group['label']}" for group in item["groups"][:worst]]
        else:
            shown = ", ".join(face["name"] for face in faces[:worst])
            more = len(faces) - worst
            lines.append(f"  {shown}" + (f" and {more} more" if more > 0 else ""))
    if not report["findings"]:
        lines.append("nothing found")
    lines += [f"note: {note}" for note in report["notes"]]
    return lines
