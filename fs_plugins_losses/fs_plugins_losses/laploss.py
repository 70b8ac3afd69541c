"""laploss: L1 distance between the Laplacian pyramids of the two images.

A Laplacian pyramid splits an image into frequency bands; comparing band by band lets coarse
structure and fine detail both count. Five levels with a 5×5 Gaussian (sigma 1, normalized) and
replicate padding: ``band_i = x_i - blur(x_i)``, ``x_{i+1} = avgpool2(blur(x_i))``; the last
``x_5`` is the sixth band (the low-pass residual). Each band's |band_p - band_t| is weighted by
``2^(-2i)``, upsampled bilinearly to the full size and summed into a per-pixel map (N, H, W, C).
"""

from __future__ import annotations

from keras import ops

from fs_plugins_losses._common import (
    Tensor,
    average_pool2,
    blur_separable,
    gaussian_line,
    pad_replicate,
    static_hw,
    upsample_to,
)

LEVELS = 5
LINE = gaussian_line(5, 1.0)  # the 5×5 kernel is outer(LINE, LINE)


def blur(image: Tensor) -> Tensor:
    return blur_separable(pad_replicate(image, 2), LINE)


def pyramid(image: Tensor, levels: int = LEVELS) -> list[Tensor]:
    """``levels`` band-pass images then the low-pass residual, each at its own size."""
    bands = []
    image = ops.convert_to_tensor(image)  # NumPy minus a torch tensor is an error
    for _ in range(levels):
        blurred = blur(image)
        bands.append(image - blurred)
        image = average_pool2(blurred)
    bands.append(image)
    return bands


def laploss(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Per-pixel map (N, H, W, C): sum over bands of 4^-i · |band difference|, at full size."""
    height, width = static_hw(y_true)
    total = None
    for index, (band_t, band_p) in enumerate(zip(pyramid(y_true), pyramid(y_pred))):
        term = upsample_to(ops.abs(band_p - band_t), height, width) * (2.0 ** (-2 * index))
        total = term if total is None else total + term
    return total
