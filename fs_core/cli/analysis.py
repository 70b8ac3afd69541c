"""``fs analysis``: how training went, from the model folder alone.

The sessions table comes from ``state.toml`` (each save rewrites it atomically), the loss graph from
the TensorBoard event files (read without locking, a half-written last record ignored), so it can
run while another process trains the same model: it only reads.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from fs_core.errors import FsUserError

COLUMNS = ("id", "start", "end", "elapsed", "batch_size", "iterations", "examples_per_second")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "analysis", help="the training sessions table and a loss graph",
        description="Print a model's training sessions; optionally write them as CSV and a PNG "
                    "graph of loss A and B over iterations. Safe to run while the model trains.")
    parser.add_argument("-m", "--model-dir", dest="model_dir", required=True, metavar="MODEL_DIR",
                        help="the model folder")
    parser.add_argument("--session", type=int, default=None, metavar="N",
                        help="only session N (default: all)")
    parser.add_argument("--csv", default=None, metavar="FILE", help="write the table as CSV")
    parser.add_argument("--graph", default=None, metavar="FILE",
                        help="write a PNG graph of loss over iterations (from the TensorBoard logs)")
    parser.set_defaults(func=run)
    return parser


def _time(text: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(text))
    except (TypeError, ValueError):
        return None


def _elapsed(start: Any, end: Any) -> str:
    first, last = _time(start), _time(end)
    if first is None or last is None:
        return ""
    seconds = max(0, int((last - first).total_seconds()))
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def session_rows(sessions: Sequence[dict]) -> list[dict[str, Any]]:
    """One row per session, with the elapsed time (H:MM:SS from start to the last save)."""
    rows = []
    for entry in sessions:
        rows.append({"id": int(entry.get("id", 0)), "start": entry.get("start", ""),
                     "end": entry.get("end", ""),
                     "elapsed": _elapsed(entry.get("start"), entry.get("end")),
                     "batch_size": entry.get("batch_size", ""),
                     "iterations": int(entry.get("iterations", 0)),
                     "examples_per_second": entry.get("examples_per_second", "")})
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    headings = ("session", "start", "end", "elapsed", "batch", "iterations", "examples/s")
    cells = [[str(row[c]) if row[c] is not None else "" for c in COLUMNS] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headings)]
    line = lambda values: "  ".join(v.rjust(w) if i in (0, 4, 5, 6) else v.ljust(w)  # noqa: E731
                                    for i, (v, w) in enumerate(zip(values, widths))).rstrip()
    return "\n".join([line(headings)] + [line(r) for r in cells])


def write_csv(path: str | Path, rows: Sequence[dict[str, Any]]) -> None:
    from fs_core.model.atomic import atomic_write_bytes
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


def loss_series(model_dir: Path, session_ids: Sequence[int]) -> dict[str, np.ndarray]:
    """``loss_a``/``loss_b`` as (steps, values) arrays over the chosen sessions' event files."""
    from fs_core.builtins.tensorboard import session_log_dir
    from fs_core.preview.events import event_files, read_scalars
    files = [f for sid in session_ids for f in event_files(session_log_dir(model_dir, sid))]
    scalars = read_scalars(files, ("loss_a", "loss_b"))
    series = {}
    for tag in ("loss_a", "loss_b"):
        points = dict(scalars.get(tag, []))  # a step logged twice keeps its last value
        if points:
            steps = np.array(sorted(points))
            series[tag] = np.stack([steps, np.array([points[s] for s in steps])])
    return series


def write_graph(path: str | Path, series: dict[str, np.ndarray], title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure(figsize=(10, 5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    colours = {"loss_a": "tab:blue", "loss_b": "tab:orange"}
    for tag, (steps, values) in series.items():
        side = tag[-1].upper()
        axes.plot(steps, values, color=colours[tag], alpha=0.25, linewidth=0.8, label=f"Loss {side}")
        axes.plot(steps, smooth(values), color=colours[tag], linewidth=1.8,
                  label=f"Loss {side} (smoothed)")
    axes.set_xlabel("iterations")
    axes.set_ylabel("loss")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper right")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    from fs_core.model.atomic import atomic_write_bytes
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as error:
        raise FsUserError(f"cannot write the graph: {error.strerror or error}", path) from None


def run(args: argparse.Namespace) -> int:
    from fs_core.model.state import STATE_FILE, load_state
    folder = Path(args.model_dir)
    if not folder.is_dir():
        raise FsUserError("the model folder does not exist", folder)
    if not (folder / STATE_FILE).exists():
        raise FsUserError(f"no {STATE_FILE}: not an fs model folder (or not saved yet)", folder)
    state = load_state(folder)
    rows = session_rows(state.sessions)
    if args.session is not None:
        rows = [row for row in rows if row["id"] == args.session]
        if not rows:
            known = ", ".join(str(s.get("id")) for s in state.sessions) or "none"
            raise FsUserError(f"--session {args.session}: no such session (sessions: {known})", folder)
    print(f"Model '{state.model}' in {folder}: {state.iterations} iterations in "
          f"{len(state.sessions)} session(s)")
    print(format_table(rows))
    if args.csv:
        write_csv(args.csv, rows)
        print(f"Wrote {args.csv}")
    if args.graph:
        series = loss_series(folder, [row["id"] for row in rows])
        if not series:
            raise FsUserError("no loss values in logs/ for these sessions (trained with -n, or not "
                              "saved yet?)", folder)
        which = f"session {args.session}" if args.session is not None else "all sessions"
        write_graph(args.graph, series, f"{state.model}: loss over iterations ({which})")
        print(f"Wrote {args.graph}")
    return 0
