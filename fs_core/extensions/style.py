"""Style losses on the swap (side A's faces through side B's decoder), as DeepFaceLab's SAEHD.

``face_style_power`` (percent): inside A's face mask, the swap's colour statistics (per channel
mean and standard deviation over the face, both images blurred by size / 16 pixels first) toward
A's target's, weight ``100 x power`` (SAEHD's 10000 x power / 100).
``bg_style_power`` (percent): outside the mask, the swap toward A's target by DSSIM (window
size / 11.6) and squared error, each x 10 x power / 100.
The mask is blurred a little (size / 32) so the edge is shared. Both need a face mask.
"""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf

from fs_core.errors import FsUserError
from fs_core.extensions.api import ExtensionContext, ExtensionLosses, StepView, TrainingExtension


def gaussian_blur(images: Any, radius: int) -> Any:
    """A separable Gaussian blur (sigma ``radius`` / 2, kernel ``2 radius + 1``); identity at 0."""
    if radius < 1:
        return images
    sigma = max(radius / 2.0, 0.5)
    offsets = tf.range(-radius, radius + 1, dtype=tf.float32)
    kernel = tf.exp(-(offsets**2) / (2.0 * sigma**2))
    kernel = kernel / tf.reduce_sum(kernel)
    channels = int(images.shape[-1])
    row = tf.tile(tf.reshape(kernel, (1, -1, 1, 1)), (1, 1, channels, 1))
    column = tf.tile(tf.reshape(kernel, (-1, 1, 1, 1)), (1, 1, channels, 1))
    padded = tf.pad(images, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="SYMMETRIC")
    blurred = tf.nn.depthwise_conv2d(padded, row, (1, 1, 1, 1), "VALID")
    return tf.nn.depthwise_conv2d(blurred, column, (1, 1, 1, 1), "VALID")


def colour_statistics_loss(pred: Any, target: Any) -> Any:
    """Per item: the squared differences of each channel's mean and standard deviation over the
    image, summed and divided by the channel count; then the batch mean."""
    axes = (1, 2)
    p_mean, p_var = tf.nn.moments(pred, axes=axes)
    t_mean, t_var = tf.nn.moments(target, axes=axes)
    p_std, t_std = tf.sqrt(p_var + 1e-5), tf.sqrt(t_var + 1e-5)
    per_item = tf.reduce_sum(tf.square(p_mean - t_mean) + tf.square(p_std - t_std), axis=-1)
    return tf.reduce_mean(per_item) / float(pred.shape[-1])


def dssim(pred: Any, target: Any, window: int) -> Any:
    """Mean structural dissimilarity ``(1 - SSIM) / 2`` with an odd ``window``."""
    ssim = tf.image.ssim(pred, target, max_val=1.0, filter_size=window, filter_sigma=1.5)
    return tf.reduce_mean((1.0 - ssim) / 2.0)


class StyleLosses(TrainingExtension):
    def __init__(self, context: ExtensionContext) -> None:
        options = context.options
        if "face" not in context.mask_names:
            raise FsUserError(
                "[training_step] face_style_power and bg_style_power need a face mask; set "
                "[global.mask] mask_type (not none) or turn them off",
                context.config.path,
            )
        self.size = context.output_size
        self.face_power = float(options.face_style_power)
        self.bg_power = float(options.bg_style_power)
        window = max(3, int(self.size / 11.6))
        self.window = window if window % 2 else window + 1

    def losses(self, view: StepView) -> ExtensionLosses:
        swap, target = view.swapped_face(), view.target("a")
        mask = view.face_mask("a")
        assert mask is not None  # checked when made
        mask = gaussian_blur(mask, self.size // 32)
        terms = {}
        if self.face_power:
            radius = self.size // 16
            terms["face_style"] = (100.0 * self.face_power) * colour_statistics_loss(
                gaussian_blur(swap * mask, radius), gaussian_blur(target * mask, radius)
            )
        if self.bg_power:
            outside = 1.0 - mask
            pred, true = swap * outside, target * outside
            weight = 10.0 * self.bg_power / 100.0
            terms["bg_style"] = weight * dssim(pred, true, self.window) + weight * tf.reduce_mean(
                tf.square(pred - true)
            )
        return ExtensionLosses(generator=terms)

    def describe(self) -> str:
        powers = []
        if self.face_power:
            powers.append(f"face {self.face_power:g}")
        if self.bg_power:
            powers.append(f"background {self.bg_power:g}")
        return (
            f"style losses on the swap ({', '.join(powers)}; window {self.window}, "
            f"blur {max(1, math.floor(self.size / 16))} px)"
        )
