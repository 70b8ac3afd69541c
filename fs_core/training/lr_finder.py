"""The learning-rate finder (``-r``): a short geometric sweep that picks a rate for a new model.

As faceswap's (``lib/training/lr_finder.py`` driven by ``lib/training/optimizer.py``): the rate
rises from 1e-10 to 1e-1 over ``lr_finder_iterations`` real training steps while a bias-corrected
moving average of the loss is tracked; the sweep stops early when the loss diverges (four times its
best). Each loss is recorded against the rate *after* that step's scheduler step (γ × the rate the
batch trained at), as faceswap reads its ExponentialLR after stepping it. The chosen rate is the one
at the best smoothed loss divided by the strength's divisor. The model's and optimizer's starting
values are restored afterwards, so the sweep leaves no trace in the weights. The rate is stored in
the model's state and reused only when ``-r`` is given again (see ``fs_core.training.run``).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fs_core.errors import FsUserError

START_RATE = 1e-10
END_RATE = 1e-1
SMOOTHING = 0.98
DIVERGENCE = 4.0
SETTLE = 10
DIVISORS = {"default": 10.0, "aggressive": 5.0, "extreme": 2.5}


def sweep(step: Callable[[float], float], iterations: int) -> list[tuple[float, float]]:
    """Run ``step(rate) -> loss`` over the geometric range; returns (rate, smoothed loss) pairs.

    The rate paired with each loss is γ × the rate that step trained at (faceswap's pairing).
    """
    gamma = (END_RATE / START_RATE) ** (1.0 / iterations)
    rate, average, best, records = START_RATE, 0.0, math.inf, []
    for index in range(1, iterations + 1):
        loss = step(rate)
        if not math.isfinite(loss):
            break
        average = SMOOTHING * average + (1 - SMOOTHING) * loss
        smoothed = average / (1 - SMOOTHING**index)
        rate *= gamma  # the scheduler steps after the batch; its new rate is what is recorded
        records.append((rate, smoothed))
        if index > 1 and smoothed > DIVERGENCE * best:
            break
        best = min(best, smoothed)
    return records


def choose(records: list[tuple[float, float]], strength: str) -> float:
    """The rate at the lowest smoothed loss, divided by the strength's divisor.

    The first ``SETTLE`` records are skipped (as the graph skips them): an average of a handful of
    losses is too noisy, and one lucky early batch would otherwise pick a rate that cannot train.
    faceswap searches every record, so an early minimum can give it a rate below 1e-9, which it
    then refuses (deleting the new model folder); fs keeps the skip on purpose.
    """
    if not records:
        raise FsUserError(
            "the learning rate finder got no finite loss; check the faces and options"
        )
    settled = records[SETTLE:] if len(records) > 2 * SETTLE else records
    best_rate = min(settled, key=lambda record: record[1])[0]
    return best_rate / DIVISORS[strength]


def write_graph(records: list[tuple[float, float]], chosen: dict[str, float], folder: Path) -> Path:
    """A PNG of smoothed loss against rate (log scale), the strengths' candidates marked."""
    import matplotlib  # noqa: PLC0415 (matplotlib: training.lr_finder loads without it)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 (matplotlib: training.lr_finder loads without it)

    shown = records[10:-1] if len(records) > 20 else records
    figure, axes = plt.subplots(figsize=(8, 5))
    axes.plot([r for r, _ in shown], [loss for _, loss in shown])
    for name, rate in chosen.items():
        axes.axvline(rate, linestyle="--", label=f"{name}: {rate:.2e}")
    axes.set_xscale("log")
    axes.set_xlabel("learning rate")
    axes.set_ylabel("smoothed loss")
    axes.legend()
    stamp = _dt.datetime.now().strftime("%Y-%m-%d_%H.%M.%S")
    path = folder / f"learning_rate_finder_{stamp}.png"
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def find_learning_rate(session: Any, loader: Any, train_step: Any) -> float:
    """Sweep with real batches, restore the starting weights, and return the chosen rate."""
    options = session.config.global_
    model, optimizer = session.model, session.optimizer
    saved_weights = [v.numpy() for v in model.weights]
    saved_optimizer = [v.numpy() for v in optimizer.variables]
    extensions = session.extensions.state_variables() if session.extensions is not None else []
    saved_extensions = [v.numpy() for v in extensions]  # discriminators go back too
    session.print(f"Finding a learning rate ({options.lr_finder_iterations} iterations)...")

    def one(rate: float) -> float:
        optimizer.learning_rate.assign(np.float32(rate))  # not cached like a Python float
        losses = train_step(next(loader))
        return float(losses["loss_a"]) + float(losses["loss_b"])

    try:
        records = sweep(one, options.lr_finder_iterations)
    finally:
        for variable, value in zip(model.weights, saved_weights):
            variable.assign(value)
        for variable, value in zip(optimizer.variables, saved_optimizer):
            variable.assign(value)
        for variable, value in zip(extensions, saved_extensions):
            variable.assign(value)
    rate = choose(records, options.lr_finder_strength)
    if rate < 1e-9:
        raise FsUserError(
            f"the learning rate finder chose {rate:.1e}, too small to train; check the "
            "faces and the loss options"
        )
    if options.lr_finder_mode in ("graph_and_set", "graph_and_exit"):
        session.model_dir.mkdir(parents=True, exist_ok=True)
        path = write_graph(
            records, {name: choose(records, name) for name in DIVISORS}, session.model_dir
        )
        session.print(f"Learning rate graph: {path}")
    session.print(f"Learning rate finder chose {rate:.3e} ({options.lr_finder_strength})")
    return rate
