"""PyTorch's parts of the training extensions: the random keep masks (LR dropout) and the step
counter that keys them; the style losses' blur, colour statistics and SSIM, with the maths of
TensorFlow's (:mod:`fs_core.backend.tensorflow.extensions`).

The masks are drawn from a torch generator seeded by ``(seed, step)``, so a seeded run repeats and
resumes exactly on torch; they are not TensorFlow's draws (its stateless Philox stream has no
torch counterpart), so LR dropout keeps other weights' updates than the same run on TensorFlow.
"""

from __future__ import annotations

from typing import Any

import keras
import torch
from torch.nn import functional


def keep_mask(shape: Any, rate: float, seed: Any) -> Any:
    """1.0 where the update is kept (probability ``1 - rate``), else 0.0; ``seed`` int64 (2,)."""
    first, step = (int(value) for value in seed.tolist())
    generator = torch.Generator().manual_seed((first * 1_000_003 + step) % (2**63))
    draw = torch.rand(tuple(int(size) for size in shape), generator=generator)
    return (draw >= rate).to(torch.float32).to(keras.ops.convert_to_tensor(0.0).device)


def counter(start: int) -> Any:
    """An int64 step counter variable starting at ``start`` (not trained)."""
    return keras.Variable(int(start), dtype="int64", trainable=False, name="step_counter")


def seed_pair(first: int, step: Any) -> Any:
    """The seed ``(first, step)`` as int64 (2,)."""
    return torch.stack(
        [torch.tensor(first, dtype=torch.int64), keras.ops.convert_to_tensor(step).cpu()]
    )


def _symmetric_pad(images: torch.Tensor, radius: int) -> torch.Tensor:
    """NHWC padded by ``radius`` on H and W, the edge repeated (TensorFlow's ``SYMMETRIC``)."""
    for axis in (1, 2):
        size = images.shape[axis]
        index = [-i - 1 for i in range(-radius, 0)]  # radius-1 ... 0
        index += list(range(size))
        index += [2 * size - 1 - i for i in range(size, size + radius)]
        positions = torch.tensor(index, device=images.device)
        images = torch.index_select(images, axis, positions)
    return images


def _depthwise(images: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """NHWC ``images`` convolved (VALID) with the 2-D ``kernel`` on every channel."""
    channels = images.shape[-1]
    weight = kernel.to(images.dtype)[None, None].repeat(channels, 1, 1, 1)
    result = functional.conv2d(images.permute(0, 3, 1, 2), weight, groups=channels)
    return result.permute(0, 2, 3, 1)


def gaussian_blur(images: Any, radius: int) -> Any:
    """A separable Gaussian blur (sigma ``radius`` / 2, kernel ``2 radius + 1``); identity at 0."""
    if radius < 1:
        return images
    images = keras.ops.convert_to_tensor(images)
    sigma = max(radius / 2.0, 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32, device=images.device)
    kernel = torch.exp(-(offsets**2) / (2.0 * sigma**2))
    kernel = kernel / torch.sum(kernel)
    padded = _symmetric_pad(images, radius)
    return _depthwise(_depthwise(padded, kernel[None, :]), kernel[:, None])


def colour_statistics_loss(pred: Any, target: Any) -> Any:
    """Per item: the squared differences of each channel's mean and standard deviation over the
    image, summed and divided by the channel count; then the batch mean."""

    def moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = torch.mean(x, dim=(1, 2), keepdim=True)
        variance = torch.mean(torch.square(x - mean.detach()), dim=(1, 2))
        return mean[:, 0, 0], variance

    p_mean, p_var = moments(keras.ops.convert_to_tensor(pred))
    t_mean, t_var = moments(keras.ops.convert_to_tensor(target))
    p_std, t_std = torch.sqrt(p_var + 1e-5), torch.sqrt(t_var + 1e-5)
    per_item = torch.sum(torch.square(p_mean - t_mean) + torch.square(p_std - t_std), dim=-1)
    return torch.mean(per_item) / float(pred.shape[-1])


def _ssim_kernel(size: int, sigma: float, device: Any) -> torch.Tensor:
    """``tf.image.ssim``'s window: a 2-D Gaussian normalised by a softmax over its log."""
    coords = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2.0
    g = torch.square(coords) * (-0.5 / sigma**2)
    g = (g[None, :] + g[:, None]).reshape(1, -1)
    return torch.softmax(g, dim=-1).reshape(size, size)


def dssim(pred: Any, target: Any, window: int) -> Any:
    """Mean structural dissimilarity ``(1 - SSIM) / 2`` with an odd ``window`` (``tf.image.ssim``:
    a Gaussian window of sigma 1.5, VALID, k1 0.01, k2 0.03, dynamic range 1)."""
    x, y = keras.ops.convert_to_tensor(pred), keras.ops.convert_to_tensor(target)
    kernel = _ssim_kernel(window, 1.5, x.device)
    c1, c2 = 0.01**2, 0.03**2
    mean_x, mean_y = _depthwise(x, kernel), _depthwise(y, kernel)
    num0 = mean_x * mean_y * 2.0
    den0 = torch.square(mean_x) + torch.square(mean_y)
    luminance = (num0 + c1) / (den0 + c1)
    num1 = _depthwise(x * y, kernel) * 2.0
    den1 = _depthwise(torch.square(x) + torch.square(y), kernel)
    cs = (num1 - num0 + c2) / (den1 - den0 + c2)
    ssim = torch.mean(torch.mean(luminance * cs, dim=(1, 2)), dim=-1)
    return torch.mean((1.0 - ssim) / 2.0)
