"""``fs analysis``: how training went, from the model folder alone.

The sessions table comes from ``state.toml`` (each save rewrites it atomically), brought up to date
for a session still training by the training record (``record/events.jsonl``); the loss graph from
the record's progress records, or from the TensorBoard event files of a model trained before the
record existed. Files are read without locking (a half-written last record ignored), so it can run
while another process trains the same model: it only reads.
"""

from __future__ import annotations

import argparse
import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fs_core.atomic import atomic_write_bytes
from fs_core.cli import worst_faces
from fs_core.errors import FsUserError
from fs_core.folder.layout import STATE_FILE, state_file
from fs_core.folder.state import load_state
from fs_core.record import loss_series as series_of
from fs_core.record import sessions_table
from fs_core.record.convergence import convergence_line, holdout_points
from fs_core.record.reader import session_rows as rows_of

COLUMNS = ("id", "start", "end", "elapsed", "batch_size", "iterations", "examples_per_second")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "analysis",
        help="the training sessions table, a loss graph and the worst-reconstructed faces",
        description="Print a model's training sessions; optionally write them as CSV and a PNG "
        "graph of loss A and B over iterations, and the faces the model reconstructs worst. Safe "
        "to run while the model trains.",
    )
    parser.add_argument(
        "-m",
        "--model-dir",
        dest="model_dir",
        required=True,
        metavar="MODEL_DIR",
        help="the model folder",
    )
    parser.add_argument(
        "--session", type=int, default=None, metavar="N", help="only session N (default: all)"
    )
    parser.add_argument("--csv", default=None, metavar="FILE", help="write the table as CSV")
    parser.add_argument(
        "--graph",
        default=None,
        metavar="FILE",
        help="write a PNG graph of loss over iterations (from the training record, or the "
        "TensorBoard logs of older models)",
    )
    parser.add_argument(
        "--convergence",
        action="store_true",
        help="say whether the loss is still falling over the last --window iterations (the "
        "held-out loss when the model has one, else the training loss)",
    )
    parser.add_argument(
        "--window",
        type=int,
        default=10_000,
        metavar="N",
        help="iterations --convergence looks back over (default 10000)",
    )
    worst_faces.add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def session_rows(sessions: Sequence[dict]) -> list[dict[str, Any]]:
    """One row per session, with the elapsed time (H:MM:SS from start to the last save)."""
    return rows_of(sessions)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    headings = ("session", "start", "end", "elapsed", "batch", "iterations", "examples/s")
    cells = [[str(row[c]) if row[c] is not None else "" for c in COLUMNS] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headings)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if i in (0, 4, 5, 6) else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths))
        ).rstrip()

    return "\n".join([line(headings)] + [line(r) for r in cells])


def write_csv(path: str | Path, rows: Sequence[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    try:
        atomic_write_bytes(path, buffer.getvalue().encode())
    except OSError as error:
        raise FsUserError(f"cannot write the CSV file: {error.strerror or error}", path) from None


def smooth(values: np.ndarray, weight: float = 0.9) -> np.ndarray:
    """Exponential moving average with bias correction (TensorBoard's smoothing), so the curve
    starts at the first value instead of at zero."""
    out = np.empty(len(values), np.float64)
    average = 0.0
    for index, value in enumerate(values):
        average = weight * average + (1.0 - weight) * float(value)
        out[index] = average / (1.0 - weight ** (index + 1))
    return out


def loss_series(model_dir: Path, session: int | None = None) -> dict[str, np.ndarray]:
    """``loss_a``/``loss_b`` (and the training-step extensions' ``ext/...`` terms) as (steps,
    values) arrays, of one session or all of them."""
    found = series_of(model_dir, session=session)
    series = {}
    extension_tags = sorted(tag for tag in found["terms"] if tag.startswith("ext/"))
    for tag in ("loss_a", "loss_b", *extension_tags):  # ext/: the training-step extensions'
        pairs = [
            (step, value)
            for step, value in zip(found["iterations"], found["terms"].get(tag, []))
            if value is not None
        ]
        if pairs:
            series[tag] = np.array(pairs, np.float64).T
    return series


def _plot_extensions(axes: Any, series: dict[str, np.ndarray]) -> None:
    """The training-step extensions' terms (GAN, discriminators, true face, style), smoothed, on
    their own axes: their scales differ from the reconstruction losses'."""
    for tag, (steps, values) in sorted(series.items()):
        axes.plot(steps, smooth(values), linewidth=1.4, label=tag[4:])
    axes.set_xlabel("iterations")
    axes.set_ylabel("training-step extensions")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper right", fontsize="small")


def write_graph(
    path: str | Path,
    series: dict[str, np.ndarray],
    title: str,
    holdout: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    """Loss A and B (raw and smoothed) over iterations; ``holdout``: the held-out loss (A + B)
    at each save, drawn as points on the same axes. The training-step extensions' terms
    (``ext/...``), when the series has them, get a second axes below."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 (matplotlib: fs --help starts without it)
    from matplotlib.figure import Figure  # noqa: PLC0415 (matplotlib: fs --help starts without it)

    extensions = {tag: pair for tag, pair in series.items() if tag.startswith("ext/")}
    series = {tag: pair for tag, pair in series.items() if tag not in extensions}
    figure = Figure(figsize=(10, 8 if extensions else 5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(2 if extensions else 1, 1, 1)
    if extensions:
        _plot_extensions(figure.add_subplot(2, 1, 2), extensions)
    colours = {"loss_a": "tab:blue", "loss_b": "tab:orange"}
    for tag, (steps, values) in series.items():
        side = tag[-1].upper()
        axes.plot(
            steps, values, color=colours[tag], alpha=0.25, linewidth=0.8, label=f"Loss {side}"
        )
        axes.plot(
            steps,
            smooth(values),
            color=colours[tag],
            linewidth=1.8,
            label=f"Loss {side} (smoothed)",
        )
    if holdout is not None and len(holdout[0]):
        axes.plot(
            holdout[0], holdout[1], "o-", color="tab:green", markersize=3, label="Held-out A + B"
        )
    axes.set_xlabel("iterations")
    axes.set_ylabel("loss")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper right")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")

    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as error:
        raise FsUserError(f"cannot write the graph: {error.strerror or error}", path) from None


def run(args: argparse.Namespace) -> int:
    folder = Path(args.model_dir)
    if not folder.is_dir():
        raise FsUserError("the model folder does not exist", folder)
    if not state_file(folder).exists():
        raise FsUserError(f"no {STATE_FILE}: not an fs model folder (or not saved yet)", folder)

    worst_faces.check_arguments(args.worst_faces, args.output)
    state = load_state(folder)
    rows = sessions_table(folder)
    if args.session is not None:
        rows = [row for row in rows if row["id"] == args.session]
        if not rows:
            known = ", ".join(str(s.get("id")) for s in state.sessions) or "none"
            raise FsUserError(
                f"--session {args.session}: no such session (sessions: {known})", folder
            )
    print(
        f"Model '{state.model}' in {folder}: {state.iterations} iterations in "
        f"{len(state.sessions)} session(s)"
    )
    print(format_table(rows))
    if state.holdout and state.holdout.get("best") is not None:
        print(
            f"Held-out loss ({state.holdout.get('count')} faces per side): best "
            f"{state.holdout['best']:.5f} at {state.holdout.get('best_iteration', 0):,}"
        )
    if args.convergence:
        if args.window < 1:
            raise FsUserError(f"--window must be at least 1, got {args.window}")

        print(convergence_line(folder, args.window))
    if args.csv:
        write_csv(args.csv, rows)
        print(f"Wrote {args.csv}")
    if args.graph:
        series = loss_series(folder, args.session)
        if not series:
            raise FsUserError(
                "no loss values in record/ or logs/ for these sessions (trained with "
                "training_record off and -n, or not saved yet?)",
                folder,
            )
        which = f"session {args.session}" if args.session is not None else "all sessions"

        write_graph(
            args.graph,
            series,
            f"{state.model}: loss over iterations ({which})",
            holdout_points(folder) if args.session is None else None,
        )
        print(f"Wrote {args.graph}")
    if args.worst_faces is not None:
        worst_faces.report(folder, args.worst_faces, args.output)
    return 0
