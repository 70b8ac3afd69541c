"""``fs analysis --worst-faces N``: the faces the model reconstructs worst, per side.

Read from the per-face loss table the trainer writes into the record at each save
(:mod:`fs_core.record.face_losses`); a model without one yet gets one line saying why. ``-o FILE``
writes the same rows as CSV, or JSON when the name ends in ``.json``.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from fs_core.atomic import atomic_write_bytes
from fs_core.errors import FsUserError
from fs_core.record import face_losses

#: what -o writes per face
COLUMNS = ("side", "rank", "file", "loss", "ratio_to_median", "seen", "last_seen", "folder")
NONE_YET = (
    "No per-face losses recorded yet: a training run with [global] track_face_loss on "
    "(the default) writes them at each save."
)


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--worst-faces",
        dest="worst_faces",
        type=int,
        default=None,
        metavar="N",
        help="list the N faces per side with the highest moving-average loss (from the "
        "training record)",
    )
    parser.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="FILE",
        help="with --worst-faces: write that list as CSV (or JSON for a .json name)",
    )


def check_arguments(count: int | None, output: str | None) -> None:
    """Refuse nonsense before anything is printed."""
    if output is not None and count is None:
        raise FsUserError("-o writes the --worst-faces list: give --worst-faces N too")
    if count is not None and count < 1:
        raise FsUserError(f"--worst-faces must be at least 1, got {count}")


def rows(table: face_losses.FaceLosses, count: int) -> list[dict[str, Any]]:
    """The ``count`` worst faces of each side as rows of :data:`COLUMNS`."""
    out = []
    for side, losses in table.sides.items():
        for rank, face in enumerate(face_losses.worst(losses, count), 1):
            out.append(
                {
                    "side": side.upper(),
                    "rank": rank,
                    "file": face.file,
                    "loss": face.loss,
                    "ratio_to_median": face.ratio,
                    "seen": face.seen,
                    "last_seen": face.last_seen,
                    "folder": losses.folder,
                }
            )
    return out


def format_lists(table: face_losses.FaceLosses, count: int) -> str:
    """The text ``fs analysis`` prints: per side a heading and the worst faces."""
    lines = [
        f"Faces reconstructed worst (moving-average loss, saved at iteration {table.iteration:,}):"
    ]
    every = rows(table, count)
    for side, losses in table.sides.items():
        median = losses.median()
        seen = int((losses.seen > 0).sum())
        about = f"median {median:.5f}" if median is not None else "none trained on yet"
        lines.append(
            f"Side {side.upper()}: {losses.folder} ({seen} of {len(losses.names)} faces trained "
            f"on, {about})"
        )
        mine = [row for row in every if row["side"] == side.upper()]
        if not mine:
            continue
        width = max(len("file"), *(len(row["file"]) for row in mine))
        lines.append(f"  {'#':>3}  {'file':<{width}}  {'loss':>9}  {'x median':>8}  {'seen':>6}")
        for row in mine:
            lines.append(
                f"  {row['rank']:>3}  {row['file']:<{width}}  {row['loss']:>9.5f}  "
                f"{row['ratio_to_median']:>8.2f}  {row['seen']:>6}"
            )
    return "\n".join(lines)


def write_rows(path: str | Path, found: list[dict[str, Any]]) -> None:
    if str(path).lower().endswith(".json"):
        data = json.dumps({"faces": found}, indent=1).encode()
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(found)
        data = buffer.getvalue().encode()
    try:
        atomic_write_bytes(path, data)
    except OSError as error:
        raise FsUserError(f"cannot write the list: {error.strerror or error}", path) from None


def report(model_dir: Path, count: int, output: str | None) -> None:
    """Print the worst faces of the model in ``model_dir`` (and write them to ``output``)."""
    table = face_losses.read(model_dir)
    if table is None:
        print(NONE_YET)
        return
    print(format_lists(table, count))
    if output is not None:
        write_rows(output, rows(table, count))
        print(f"Wrote {output}")
