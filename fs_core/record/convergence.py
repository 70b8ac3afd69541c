"""``fs analysis --convergence``: is the loss still falling? The guide's question, in words.

The guide's advice is to look at the last 5,000-10,000 iterations and see whether the loss still
falls. This fits a straight line to the held-out loss (``--holdout``; the training loss when the
model has no held-out measurements) over the last ``window`` iterations and says how much it
fell across that window, as a share of where the line started: "still falling: 0.8% over the last
10,000 iterations", "flat" when the change is within :data:`FLAT` either way, or "rising". A
straight-line fit rather than first-versus-last point, so one noisy value does not decide it.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np

from fs_core.record.reader import loss_series, read_events

#: a change smaller than this share of the loss, either way, is "flat"
FLAT = 0.005
MIN_POINTS = 3


@attrs.frozen
class Curve:
    """Loss values against iterations, and what they measure."""

    what: str  # "held-out loss" or "training loss"
    iterations: np.ndarray
    values: np.ndarray


def holdout_points(model_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The held-out loss (A + B) at each save in the training record: (iterations, values)."""
    events, _ = read_events(Path(model_dir))
    pairs: dict[int, float] = {}
    for event in events:
        held = event.get("holdout") if event.get("type") == "save" else None
        if isinstance(held, dict) and "a" in held and "b" in held:
            pairs[int(event["iteration"])] = float(held["a"]) + float(held["b"])
    steps = sorted(pairs)
    return np.array(steps, np.float64), np.array([pairs[s] for s in steps], np.float64)


def curve(model_dir: str | Path, window: int) -> Curve:
    """The held-out curve when the record holds at least :data:`MIN_POINTS` measurements in the
    window, else the training loss (A + B) of the record or TensorBoard logs."""
    steps, values = holdout_points(model_dir)
    if len(steps):
        keep = steps > steps.max() - window
        if keep.sum() >= MIN_POINTS:
            return Curve("held-out loss", steps[keep], values[keep])
    found = loss_series(Path(model_dir), last=window, max_points=500)
    terms = found["terms"]
    pairs = [
        (step, a + b)
        for step, a, b in zip(found["iterations"], terms.get("loss_a", []), terms.get("loss_b", []))
        if a is not None and b is not None
    ]
    array = np.array(pairs, np.float64).reshape(-1, 2)
    return Curve("training loss", array[:, 0], array[:, 1])


def verdict(iterations: np.ndarray, values: np.ndarray, window: int) -> str:
    """ "still falling: X% over the last N iterations", "flat: ..." or "rising: ..."."""
    if len(iterations) < MIN_POINTS:
        return "not enough measurements yet to tell"
    span = float(iterations.max() - iterations.min())
    slope, intercept = np.polyfit(iterations, values, 1)
    start = float(slope * iterations.min() + intercept)
    if start <= 0 or span <= 0:
        return "not enough measurements yet to tell"
    change = -float(slope) * span / start
    shown = int(round(span))
    over = f"over the last {shown:,} iterations" + (
        f" (all there is; window {window:,})" if shown < window * 0.9 else ""
    )
    if change > FLAT:
        return f"still falling: {change:.1%} {over}"
    if change < -FLAT:
        return f"rising: {-change:.1%} {over}"
    return f"flat: within {FLAT:.1%} {over}"


def convergence_line(model_dir: str | Path, window: int) -> str:
    """The sentence ``fs analysis --convergence`` prints."""
    found = curve(model_dir, window)
    return f"Convergence ({found.what}): {verdict(found.iterations, found.values, window)}"


#: held-out points the GUI draws (the latest ones), and the iterations its verdict looks back
GUI_POINTS = 200
GUI_WINDOW = 10_000


def recipe_summary(model_dir: str | Path, state: dict | None) -> dict | None:
    """What ``fs gui`` shows of a model's recipe: the schedule stage it is in, the held-out curve
    and verdict, the collapse guard's rollbacks and the pretrained source; None when the model
    uses none of them. ``state``: its ``state.toml`` as read (None: not saved yet)."""
    if not state:
        return None
    result: dict = {}
    if isinstance(state.get("schedule"), dict):
        result["stage"] = state["schedule"]
    if isinstance(state.get("pretrained"), dict):
        result["pretrained"] = state["pretrained"]
    guard = [
        {**entry, "session": session.get("id")}
        for session in state.get("sessions", [])
        for entry in session.get("collapse_rollbacks", [])
        if isinstance(entry, dict)
    ]
    if guard:
        result["guard"] = guard
    held = state.get("holdout")
    if isinstance(held, dict):
        steps, values = holdout_points(model_dir)
        steps, values = steps[-GUI_POINTS:], values[-GUI_POINTS:]
        recent = steps > steps.max() - GUI_WINDOW if len(steps) else steps.astype(bool)
        span = int(np.ptp(steps[recent])) if recent.sum() else 0
        result["holdout"] = {
            "count": held.get("count"),
            "best": held.get("best"),
            "best_iteration": held.get("best_iteration"),
            "points": [[int(s), round(float(v), 6)] for s, v in zip(steps, values, strict=True)],
            "verdict": verdict(steps[recent], values[recent], max(span, 1)) if span else None,
        }
    return result or None
