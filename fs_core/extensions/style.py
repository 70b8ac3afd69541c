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

from keras import ops

from fs_core import backend
from fs_core.errors import FsUserError
from fs_core.extensions.api import ExtensionContext, ExtensionLosses, StepView, TrainingExtension


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
        implementation = backend.get()
        mask = implementation.gaussian_blur(mask, self.size // 32)
        terms = {}
        if self.face_power:
            radius = self.size // 16
            terms["face_style"] = (100.0 * self.face_power) * implementation.colour_statistics_loss(
                implementation.gaussian_blur(swap * mask, radius),
                implementation.gaussian_blur(target * mask, radius),
            )
        if self.bg_power:
            outside = 1.0 - mask
            pred, true = swap * outside, target * outside
            weight = 10.0 * self.bg_power / 100.0
            terms["bg_style"] = weight * implementation.dssim(
                pred, true, self.window
            ) + weight * ops.mean(ops.square(pred - true))
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
