"""Every training face's loss, as the trainer keeps it: the file format and what readers make of it.

While training, each face's reconstruction loss is averaged over the times it was drawn (an
exponential moving average: one augmented sample is noisy, several are not), so the faces the
model keeps failing on stand out: mislabelled, misaligned, a rare pose. The trainer writes the
whole table at each save as ``record/face_losses.npz`` (plain NumPy arrays, read without pickle),
which a resumed run carries on from, and a readable summary beside it, ``record/face_losses.json``
(the worst faces per side and a histogram). ``fs analysis --worst-faces`` and the GUI read the
table through :func:`read`. The format is documented in ``docs/training-record.md``.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from fs_core.atomic import atomic_write_bytes
from fs_core.errors import FsUserError
from fs_core.folder.layout import face_losses_file, face_losses_summary

#: the table's format version
VERSION = 1
SIDES = ("a", "b")
#: worst faces per side in the JSON summary
SUMMARY_WORST = 50
HISTOGRAM_BINS = 20


@attrs.define(eq=False)
class SideFaceLosses:
    """One side's table: the face folder, each face's file name, the moving average of its loss
    (``ema``; meaningless where ``seen`` is 0), how many times it was trained on, and the iteration
    it was last trained on. The arrays are indexed like the side's face list."""

    folder: str
    names: np.ndarray  # str (N,)
    ema: np.ndarray  # float64 (N,)
    seen: np.ndarray  # int64 (N,)
    last_seen: np.ndarray  # int64 (N,)

    @classmethod
    def empty(cls, folder: str, names: list[str]) -> SideFaceLosses:
        count = len(names)
        return cls(
            folder=folder,
            names=np.asarray(names, dtype=str) if count else np.zeros(0, "<U1"),
            ema=np.zeros(count, np.float64),
            seen=np.zeros(count, np.int64),
            last_seen=np.zeros(count, np.int64),
        )

    def median(self) -> float | None:
        """The median moving-average loss of the faces seen at least once (None: none yet)."""
        seen = self.seen > 0
        return float(np.median(self.ema[seen])) if seen.any() else None


@attrs.frozen
class WorstFace:
    """One row of the worst-faces list."""

    file: str
    loss: float
    seen: int
    ratio: float  # loss / the side's median
    last_seen: int

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "loss": _rounded(self.loss),
            "seen": self.seen,
            "ratio": _rounded(self.ratio),
            "last_seen": self.last_seen,
        }


@attrs.frozen
class FaceLosses:
    """The table as read: the model's iteration at the save that wrote it, and both sides."""

    iteration: int
    sides: Mapping[str, SideFaceLosses]


def worst(side: SideFaceLosses, count: int) -> list[WorstFace]:
    """The ``count`` faces with the highest moving-average loss, worst first (faces never trained
    on are left out)."""
    seen = np.flatnonzero(side.seen > 0)
    median = side.median()
    if not len(seen) or median is None or count < 1:
        return []
    order = seen[np.argsort(-side.ema[seen], kind="stable")][:count]
    return [
        WorstFace(
            file=str(side.names[i]),
            loss=float(side.ema[i]),
            seen=int(side.seen[i]),
            ratio=float(side.ema[i] / median) if median > 0 else float("inf"),
            last_seen=int(side.last_seen[i]),
        )
        for i in order
    ]


def histogram(side: SideFaceLosses, bins: int = HISTOGRAM_BINS) -> dict[str, list]:
    """How the seen faces' moving-average losses spread: ``edges`` (bins + 1) and ``counts``."""
    values = side.ema[side.seen > 0]
    if not len(values):
        return {"edges": [], "counts": []}
    counts, edges = np.histogram(values, bins=bins)
    return {"edges": [_rounded(e) for e in edges], "counts": [int(c) for c in counts]}


def summary(table: FaceLosses, count: int = SUMMARY_WORST) -> dict[str, Any]:
    """The JSON summary: per side its folder, face counts, median, ``count`` worst faces and the
    histogram."""
    sides = {}
    for name, side in table.sides.items():
        median = side.median()
        sides[name] = {
            "folder": side.folder,
            "faces": len(side.names),
            "seen_faces": int((side.seen > 0).sum()),
            "median": None if median is None else _rounded(median),
            "worst": [face.as_json() for face in worst(side, count)],
            "histogram": histogram(side),
        }
    return {"v": VERSION, "iteration": table.iteration, "sides": sides}


def write(model_dir: str | Path, table: FaceLosses) -> None:
    """Write the table and its summary into the model's record, each atomically."""
    arrays: dict[str, np.ndarray] = {
        "version": np.asarray(VERSION, np.int64),
        "iteration": np.asarray(table.iteration, np.int64),
    }
    for name, side in table.sides.items():
        arrays[f"{name}_folder"] = np.asarray(side.folder, dtype=str)
        arrays[f"{name}_names"] = side.names
        arrays[f"{name}_ema"] = side.ema
        arrays[f"{name}_seen"] = side.seen
        arrays[f"{name}_last_seen"] = side.last_seen
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    path = face_losses_file(model_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    text = json.dumps(summary(table), indent=1, allow_nan=False)
    atomic_write_bytes(face_losses_summary(model_dir), text.encode())


def read(model_dir: str | Path) -> FaceLosses | None:
    """The table the last save wrote, or None when there is none (not tracked, not saved yet).
    A file that cannot be read is a one-line user error naming it."""
    path = face_losses_file(model_dir)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            version = int(data["version"])
            if version != VERSION:
                raise FsUserError(f"face losses of format version {version}, not {VERSION}", path)
            sides = {name: _side(data, name) for name in SIDES if f"{name}_names" in data}
            return FaceLosses(iteration=int(data["iteration"]), sides=sides)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise FsUserError(f"cannot read the face losses: {error}", path) from None


def _side(data: Any, name: str) -> SideFaceLosses:
    side = SideFaceLosses(
        folder=str(data[f"{name}_folder"]),
        names=np.asarray(data[f"{name}_names"], dtype=str),
        ema=np.asarray(data[f"{name}_ema"], np.float64),
        seen=np.asarray(data[f"{name}_seen"], np.int64),
        last_seen=np.asarray(data[f"{name}_last_seen"], np.int64),
    )
    lengths = {len(side.names), len(side.ema), len(side.seen), len(side.last_seen)}
    if len(lengths) != 1:
        raise ValueError(f"side {name}'s arrays differ in length")
    return side


def _rounded(value: float) -> float | None:
    """6 significant digits, as the event log writes losses; None for a non-finite value."""
    value = float(value)
    return float(f"{value:.6g}") if np.isfinite(value) else None
