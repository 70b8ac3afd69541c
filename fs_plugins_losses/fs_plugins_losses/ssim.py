"""ssim and ms_ssim: structural similarity losses (1 - SSIM per pixel).

SSIM compares local means, variances and covariance under a Gaussian window, so it rewards matching
structure and contrast rather than exact values. The window is 11 px, sigma 1.5, normalized to sum
1; k1=0.01, k2=0.03, dynamic range 1 (the constants of ``tf.image.ssim``). Like faceswap's SSIM
(``lib/model/losses/perceptual_loss.py``) this pads the images by reflection so that the map keeps
the image size; ``tf.image.ssim`` uses VALID windows, so the two agree exactly on the interior
(``kernel//2`` px from each edge) and differ near the borders, where reflected pixels enter the
window.

MS-SSIM evaluates contrast-structure at five scales (2×2 average pooling between scales, the last
row/column repeated when a size is odd) and luminance at the coarsest one, weighted by
(0.0448, 0.2856, 0.3001, 0.2363, 0.1333). As in faceswap's ``MSSIMLoss`` (same file), each
scale's map is clamped at zero, upsampled bilinearly to the full size and the weighted product is
taken per pixel, giving a loss map rather than ``tf.image.ssim_multiscale``'s single number (the
product of per-scale means). When the coarsest scale is smaller than 11 px (outputs below 176 px)
the window shrinks to the largest odd size that fits; below 3 px (outputs below 48 px) ms_ssim
cannot be used.
"""

from __future__ import annotations

import functools
import operator

from keras import ops

from fs_core.errors import FsUserError
from fs_plugins_losses._common import (
    Tensor,
    blur_separable,
    downsample2,
    gaussian_line,
    pad_reflect,
    positive_pow,
    static_hw,
    upsample_to,
)

KERNEL_SIZE = 11
SIGMA = 1.5
K1 = 0.01
K2 = 0.03
MAX_VALUE = 1.0
POWER_FACTORS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_FLOOR = 1e-6  # ms_ssim: keeps pow()'s gradient finite where a clamped scale reaches 0


def ssim_components(
    y_true: Tensor, y_pred: Tensor, kernel_size: int = KERNEL_SIZE, padding: str = "reflect"
) -> tuple[Tensor, Tensor]:
    """Luminance and contrast-structure maps per channel.

    ``padding="reflect"`` keeps the image size (the loss); ``"valid"`` uses only whole windows
    (what ``tf.image.ssim`` does; used by the tests).
    """
    line = gaussian_line(kernel_size, SIGMA)
    half = kernel_size // 2
    # one separable blur of the four statistics stacked on the channel axis
    stack = ops.concatenate(
        [y_true, y_pred, y_true * y_pred, ops.square(y_true) + ops.square(y_pred)], axis=-1
    )
    if padding == "reflect":
        stack = pad_reflect(stack, half)
    mean_t, mean_p, mean_xy, mean_sq_sum = ops.split(blur_separable(stack, line), 4, axis=-1)

    c1 = (K1 * MAX_VALUE) ** 2
    c2 = (K2 * MAX_VALUE) ** 2
    mean_tp = mean_t * mean_p
    mean_sq = ops.square(mean_t) + ops.square(mean_p)
    luminance = (2.0 * mean_tp + c1) / (mean_sq + c1)
    covariance = mean_xy - mean_tp
    variances = ops.maximum(mean_sq_sum - mean_sq, 0.0)
    contrast_structure = (2.0 * covariance + c2) / (variances + c2)
    return luminance, contrast_structure


def ssim(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Per-pixel map (N, H, W, C) of 1 - SSIM."""
    luminance, contrast_structure = ssim_components(y_true, y_pred)
    return 1.0 - luminance * contrast_structure


def ms_ssim_kernel_size(height: int, width: int, scales: int = len(POWER_FACTORS)) -> int:
    """The window used at every scale: 11, or the largest odd size the coarsest scale holds."""
    for _ in range(scales - 1):
        height, width = (height + 1) // 2, (width + 1) // 2
    smallest = min(height, width)
    size = min(KERNEL_SIZE, smallest if smallest % 2 else smallest - 1)
    if size < 3:
        raise FsUserError(
            f"loss 'ms_ssim' needs model outputs of at least 48 px (its coarsest scale is "
            f"{smallest} px here); choose another loss_function in [global.loss]"
        )
    return size


def ms_ssim_scales(
    y_true: Tensor, y_pred: Tensor, kernel_size: int | None = None, padding: str = "reflect"
) -> list[Tensor]:
    """The contrast-structure maps of scales 1-4 and the SSIM map of scale 5, each at its scale."""
    height, width = static_hw(y_true)
    if kernel_size is None:
        kernel_size = ms_ssim_kernel_size(height, width)
    maps = []
    for scale in range(len(POWER_FACTORS)):
        if scale:
            y_true, y_pred = downsample2(y_true), downsample2(y_pred)
        luminance, contrast_structure = ssim_components(y_true, y_pred, kernel_size, padding)
        last = scale == len(POWER_FACTORS) - 1
        maps.append(luminance * contrast_structure if last else contrast_structure)
    return maps


def ms_ssim(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Per-pixel map (N, H, W, C) of 1 - MS-SSIM (scales multiplied pixel by pixel).

    Each scale is clamped at a tiny floor instead of exactly 0 (faceswap's ReLU) so that the
    fractional powers keep finite gradients.
    """
    height, width = static_hw(y_true)
    terms = [
        positive_pow(upsample_to(ops.maximum(scale, _FLOOR), height, width), weight)
        for weight, scale in zip(POWER_FACTORS, ms_ssim_scales(y_true, y_pred))
    ]
    return 1.0 - functools.reduce(operator.mul, terms)
