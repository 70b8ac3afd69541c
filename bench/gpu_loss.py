"""fs's default training loss written with ``keras.ops`` only, for the GPU benchmark under JAX.

Why a copy: the loss plugins (``fs_plugins_losses``) and the loss composer
(``fs_core.losses.compose``) are TensorFlow code, and the lent GPU machine has no TensorFlow, so
``bench/bench_gpu.py`` trains with this module instead. It computes what ``fs train`` computes
with the default ``[global.loss]`` options: ``ssim`` (weight 1) + ``mse`` (weight 100%), each
per-pixel map multiplied by the face mask (``penalized_mask_loss``), then boosted by
``L += L·eye·eye_multiplier`` and ``L += L·mouth·mouth_multiplier``, averaged over (H, W, C) per
face, over the batch, summed over the output sizes. ``tests/test_bench_gpu_loss.py`` checks it
against the composer with the real plugins (TensorFlow backend), so the benchmark's loss is fs's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from keras import ops

KERNEL_SIZE = 11
SIGMA = 1.5
C1 = (0.01 * 1.0) ** 2
C2 = (0.03 * 1.0) ** 2

#: fs's default [global.loss]: (loss, weight) pairs, eye and mouth multipliers
DEFAULT_LOSSES: tuple[tuple[str, float], ...] = (("ssim", 1.0), ("mse", 1.0))
DEFAULT_PARTS: tuple[tuple[str, float], ...] = (("eye", 3.0), ("mouth", 2.0))


def _gaussian_line(size: int, sigma: float) -> np.ndarray:
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    line = np.exp(-(coords**2) / (2.0 * sigma**2))
    return (line / line.sum()).astype(np.float32)


def _blur(image: Any, line: np.ndarray) -> Any:
    """Separable Gaussian blur of every channel of an already padded NHWC image (VALID)."""
    channels = int(image.shape[-1])
    along_w = np.tile(line[None, :, None, None], (1, 1, channels, 1))
    along_h = np.tile(line[:, None, None, None], (1, 1, channels, 1))
    rows = ops.depthwise_conv(image, along_w, strides=1, padding="valid")
    return ops.depthwise_conv(rows, along_h, strides=1, padding="valid")


def ssim_map(y_true: Any, y_pred: Any) -> Any:
    """Per-pixel 1 - SSIM (11 px Gaussian window, sigma 1.5, reflect padding), as fs's ``ssim``."""
    half = KERNEL_SIZE // 2
    channels = int(y_true.shape[-1])
    stack = ops.concatenate(
        [y_true, y_pred, y_true * y_pred, ops.square(y_true) + ops.square(y_pred)], axis=-1
    )
    stack = ops.pad(stack, [[0, 0], [half, half], [half, half], [0, 0]], mode="reflect")
    blurred = _blur(stack, _gaussian_line(KERNEL_SIZE, SIGMA))
    mean_t, mean_p, mean_xy, mean_sq_sum = (
        blurred[..., i * channels : (i + 1) * channels] for i in range(4)
    )
    mean_tp = mean_t * mean_p
    mean_sq = ops.square(mean_t) + ops.square(mean_p)
    luminance = (2.0 * mean_tp + C1) / (mean_sq + C1)
    variances = ops.maximum(mean_sq_sum - mean_sq, 0.0)
    contrast_structure = (2.0 * (mean_xy - mean_tp) + C2) / (variances + C2)
    return 1.0 - luminance * contrast_structure


def mse_map(y_true: Any, y_pred: Any) -> Any:
    """Per-pixel squared error, as fs's ``mse``."""
    return ops.square(y_pred - y_true)


PER_PIXEL: dict[str, Callable[[Any, Any], Any]] = {"ssim": ssim_map, "mse": mse_map}


def side_loss(
    outputs: Sequence[Any],
    side: Mapping[str, Any],
    losses: Sequence[tuple[str, float]] = DEFAULT_LOSSES,
    parts: Sequence[tuple[str, float]] = DEFAULT_PARTS,
) -> tuple[Any, dict[str, Any]]:
    """One side's total (float32 scalar) and its terms, like ``LossComposer.side_loss``.

    ``outputs``: the side's face outputs, smallest first (no learned mask). ``side``: a
    :data:`fs_core.data.batch.TrainingBatch` side (``targets`` per output size, ``masks`` with
    ``face`` and the ``parts`` names per output size).
    """
    sums = {name: 0.0 for name, _ in losses}
    for index, output in enumerate(outputs):
        pred = ops.cast(output, "float32")
        true = ops.cast(side["targets"][index], "float32")
        face = ops.cast(side["masks"]["face"][index], "float32")
        part_masks = [
            (ops.cast(side["masks"][name][index], "float32"), multiplier)
            for name, multiplier in parts
        ]
        for name, _ in losses:
            value = PER_PIXEL[name](true, pred) * face
            for mask, multiplier in part_masks:
                value = value + value * mask * multiplier
            sums[name] = sums[name] + ops.mean(ops.mean(value, axis=(1, 2, 3)))
    terms: dict[str, Any] = {}
    total: Any = 0.0
    for name, weight in losses:
        terms[name] = sums[name]
        terms[f"{name}_weighted"] = sums[name] * weight
        total = total + terms[f"{name}_weighted"]
    return total, terms
