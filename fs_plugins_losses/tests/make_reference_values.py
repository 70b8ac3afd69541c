"""Write ``reference_values.npz``: what every loss of the pack returns on fixed inputs.

The values were produced by the losses' TensorFlow implementation (tf.nn / tf.signal / tf.image
calls) before they were rewritten in ``keras.ops``; ``test_backend_neutral.py`` checks that the
current code still gives them (within 1e-5), so the rewrite changed no number. Re-running this
script overwrites the file with what the *current* code returns: do it only on purpose, when a
loss's maths is meant to change, and say so in the commit.

    python fs_plugins_losses/tests/make_reference_values.py

To keep the file small, each map is stored on a grid of pixels (every pixel of a 6 px band along
each border, where the padding modes matter, and every 8th pixel inside), with the mean of the
whole map per item; gradients (of the summed map, with respect to ``y_pred``) the same way.
Inputs are not stored: they are regenerated from fixed seeds, and their checksums are stored to
catch a change of NumPy's random stream.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PATH = Path(__file__).with_name("reference_values.npz")
# name: (batch, size, channels); 72 px gives odd sizes inside the pyramids (72/8 = 9)
CASES = {
    "b2_s64_c3": (2, 64, 3),
    "b3_s64_c1": (3, 64, 1),
    "b2_s128_c3": (2, 128, 3),
    "b4_s72_c1": (4, 72, 1),
}
GRADIENT_CASE = "b2_s64_c3"
GRADIENT_LOSSES = ("ms_ssim", "ffl", "gmsd", "flip")
BORDER = 6
STRIDE = 8


def needs_colour(name: str) -> bool:
    """FLIP converts colours (BGR -> L*a*b*): three channels only."""
    return name == "flip"


def inputs(case: str) -> tuple[np.ndarray, np.ndarray]:
    """(y_true, y_pred) of a case: blocky images (edges and flat areas) and a noisy copy."""
    batch, size, channels = CASES[case]
    rng = np.random.default_rng(sum(ord(c) for c in case))
    base = rng.random((batch, size // 4, size // 4, channels))
    true = np.kron(base, np.ones((1, 4, 4, 1)))
    pred = np.clip(true + rng.normal(0.0, 0.1, true.shape), 0.0, 1.0)
    return true.astype(np.float32), pred.astype(np.float32)


def grid(size: int) -> np.ndarray:
    """Row (or column) indices kept: the border bands and every STRIDE-th one between."""
    inside = range(BORDER, size - BORDER, STRIDE)
    return np.array(sorted({*range(BORDER), *inside, *range(size - BORDER, size)}))


def sample(values: np.ndarray) -> np.ndarray:
    """The grid pixels of an NHWC array."""
    rows, cols = grid(values.shape[1]), grid(values.shape[2])
    return values[:, rows][:, :, cols]


def evaluate(loss: Any, true: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """The loss on NumPy inputs, as float32 NumPy."""
    import keras

    return np.asarray(keras.ops.convert_to_numpy(loss(true, pred)), np.float32)


def gradient(loss: Any, true: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """d sum(loss) / d y_pred, through tf.GradientTape (the losses' training backend)."""
    import tensorflow as tf

    variable = tf.Variable(pred)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(loss(tf.constant(true), variable))
    return np.asarray(tape.gradient(total, variable).numpy(), np.float32)


def reference_values() -> dict[str, np.ndarray]:
    """Every array stored in the file, by key ``case/loss/what``."""
    from fs_plugins_losses.plugin import descriptors

    values: dict[str, np.ndarray] = {}
    for case, (_, _, channels) in CASES.items():
        true, pred = inputs(case)
        values[f"{case}/inputs/checksum"] = np.array([true.sum(), pred.sum()], np.float64)
        for descriptor in descriptors():
            if channels != 3 and needs_colour(descriptor.name):
                continue
            result = evaluate(descriptor, true, pred)
            key = f"{case}/{descriptor.name}"
            if descriptor.per_pixel:
                values[f"{key}/map"] = sample(result)
                values[f"{key}/mean"] = result.reshape(len(result), -1).mean(axis=1)
            else:
                values[f"{key}/item"] = result
            if case == GRADIENT_CASE and descriptor.name in GRADIENT_LOSSES:
                grad = gradient(descriptor, true, pred)
                values[f"{key}/grad"] = sample(grad)
                values[f"{key}/grad_norm"] = np.sqrt((grad.astype(np.float64) ** 2).sum((1, 2, 3)))
    return values


def main() -> None:
    values = reference_values()
    np.savez_compressed(PATH, **values)
    print(f"{PATH}: {len(values)} arrays, {PATH.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
