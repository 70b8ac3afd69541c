"""Time each loss of the pack: forward + backward on a batch of 16 faces at 64 px, under
``tf.function``, after warm-up, relative to mse. Not a test; run it by hand:

    python fs_plugins_losses/bench_losses.py [--batch 16] [--size 64] [--repeats 20]

``--against REV`` times the losses of git revision REV (their modules, loaded under another
package name) against the working tree's instead, the two alternating round by round so that both
see the same load on a shared machine, and prints the ratio (``--losses`` picks which):

    python fs_plugins_losses/bench_losses.py --against HEAD~1 --losses ssim ms_ssim ffl gmsd
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from fs_plugins_losses.plugin import descriptors

PACK = "fs_plugins_losses"
PACK_DIR = f"{PACK}/{PACK}"


def make_step(descriptor: Any, true: tf.Tensor, pred: tf.Variable) -> Any:
    """One traced forward+backward step, warmed up (3 calls)."""

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            value = tf.reduce_mean(descriptor(true, pred))
        return value, tape.gradient(value, pred)

    for _ in range(3):
        _, grad = step()
    grad.numpy()
    return step


def time_round(step: Any, repeats: int) -> float:
    """Mean seconds per step over ``repeats`` steps."""
    start = time.perf_counter()
    for _ in range(repeats):
        _, grad = step()
    grad.numpy()
    return (time.perf_counter() - start) / repeats


def time_loss(
    descriptor, true: tf.Tensor, pred: tf.Variable, repeats: int, rounds: int = 3
) -> float:
    """Seconds per forward+backward step: after 3 warm-up steps, the best of ``rounds`` means over
    ``repeats`` steps (the best round is the least disturbed by other work on a shared machine)."""
    step = make_step(descriptor, true, pred)
    return min(time_round(step, repeats) for _ in range(rounds))


def descriptors_at(revision: str) -> list[Any]:
    """The pack's descriptors as they were at git ``revision`` (imported as another package)."""
    root = Path(__file__).resolve().parent.parent
    git = ["git", "-C", str(root)]
    names = subprocess.run(
        [*git, "ls-tree", "--name-only", f"{revision}:{PACK_DIR}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    alias = f"{PACK}_at_revision"
    target = Path(tempfile.mkdtemp()) / alias
    target.mkdir()
    for name in names:
        if name.endswith(".py"):
            source = subprocess.run(
                [*git, "show", f"{revision}:{PACK_DIR}/{name}"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            (target / name).write_text(source.replace(PACK, alias))
    sys.path.insert(0, str(target.parent))
    return importlib.import_module(f"{alias}.plugin").descriptors()


def compare(args: argparse.Namespace, true: tf.Tensor, pred: tf.Variable) -> None:
    """Working tree against ``args.against``, alternating; best round of each, and the ratio."""
    old = {d.name: d for d in descriptors_at(args.against)}
    new = {d.name: d for d in descriptors()}
    names = args.losses or list(new)
    print(f"{'loss':12s} {args.against + ' ms':>14s} {'tree ms':>10s}  tree/old")
    for name in names:
        steps = [make_step(old[name], true, pred), make_step(new[name], true, pred)]
        best = [float("inf"), float("inf")]
        for _ in range(args.rounds):
            for side, step in enumerate(steps):
                best[side] = min(best[side], time_round(step, args.repeats))
        print(f"{name:12s} {best[0] * 1000:14.2f} {best[1] * 1000:10.2f}  {best[1] / best[0]:7.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--against", help="git revision to compare the working tree with")
    parser.add_argument("--losses", nargs="*", help="losses to compare (default: all)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    shape = (args.batch, args.size, args.size, 3)
    true = tf.constant(rng.random(shape), tf.float32)
    pred = tf.Variable(np.clip(true.numpy() + rng.normal(0, 0.1, shape), 0, 1), dtype=tf.float32)
    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    print(
        f"batch {args.batch}, {args.size} px, forward+backward, best of {args.rounds} x "
        f"{args.repeats}, {device}"
    )
    if args.against:
        compare(args, true, pred)
        return
    times = {d.name: time_loss(d, true, pred, args.repeats, args.rounds) for d in descriptors()}
    base = times["mse"]
    for name, seconds in times.items():
        print(f"{name:20s} {seconds * 1000:9.2f} ms  {seconds / base:7.1f}x mse")


if __name__ == "__main__":
    main()
