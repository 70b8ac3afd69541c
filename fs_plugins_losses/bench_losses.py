"""Time each loss of the pack: forward + backward on a batch of 16 faces at 64 px, under
``tf.function``, after warm-up, relative to mse. Not a test; run it by hand:

    python fs_plugins_losses/bench_losses.py [--batch 16] [--size 64] [--repeats 20]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from fs_plugins_losses.plugin import descriptors


def time_loss(
    descriptor, true: tf.Tensor, pred: tf.Variable, repeats: int, rounds: int = 3
) -> float:
    """Seconds per forward+backward step: after 3 warm-up steps, the best of ``rounds`` means over
    ``repeats`` steps (the best round is the least disturbed by other work on a shared machine)."""

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            value = tf.reduce_mean(descriptor(true, pred))
        return value, tape.gradient(value, pred)

    for _ in range(3):
        _, grad = step()
    grad.numpy()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            _, grad = step()
        grad.numpy()
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    shape = (args.batch, args.size, args.size, 3)
    true = tf.constant(rng.random(shape), tf.float32)
    pred = tf.Variable(np.clip(true.numpy() + rng.normal(0, 0.1, shape), 0, 1), dtype=tf.float32)
    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    print(
        f"batch {args.batch}, {args.size} px, forward+backward, best of 3 x {args.repeats}, "
        f"{device}"
    )
    times = {d.name: time_loss(d, true, pred, args.repeats) for d in descriptors()}
    base = times["mse"]
    for name, seconds in times.items():
        print(f"{name:20s} {seconds * 1000:9.2f} ms  {seconds / base:7.1f}x mse")


if __name__ == "__main__":
    main()
