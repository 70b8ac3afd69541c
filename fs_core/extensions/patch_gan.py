"""Patch GAN (``gan_power``): a U-Net patch discriminator per trained side tells the real targets
from the model's reconstructions (both inside the face mask when training masked), and the model
adds ``gan_power`` times its adversarial loss, as DeepFaceLab's SAEHD does for its src side (fs's
side B; ``gan_sides = "ab"`` adds side A).

Losses, with ``bce`` the mean sigmoid cross-entropy over the two logit maps (centre and full):
discriminator ``0.5 (bce(1, D(real)) + bce(0, D(fake)))`` per map; generator
``gan_power (bce(1, D(fake)_center) + bce(1, D(fake)_full))``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keras import ops

from fs_core.extensions.api import ExtensionContext, ExtensionLosses, StepView, TrainingExtension
from fs_core.extensions.networks import bce, part_optimizer, unet_patch_discriminator


def default_patch_size(output_size: int) -> int:
    """DeepFaceLab's typical patch size: the output size / 8 (at least 3)."""
    return max(3, output_size // 8)


class PatchGan(TrainingExtension):
    def __init__(self, context: ExtensionContext) -> None:
        options = context.options
        size = context.output_size
        self.power = float(options.gan_power)
        self.patch_size = int(options.gan_patch_size) or default_patch_size(size)
        self.dims = int(options.gan_dims)
        self.sides = ("b",) if options.gan_sides == "b" else ("a", "b")
        self._parts = {
            f"discriminator_{side}": unet_patch_discriminator(
                f"discriminator_{side}", size, self.patch_size, self.dims
            )
            for side in self.sides
        }
        self._optimizers = {name: part_optimizer(context) for name in self._parts}

    def parts(self) -> Mapping[str, Any]:
        return self._parts

    def optimizers(self) -> Mapping[str, Any]:
        return self._optimizers

    def losses(self, view: StepView) -> ExtensionLosses:
        generator, own = {}, {}
        for side in self.sides:
            real, fake = view.target(side), view.face(side)
            mask = view.face_mask(side) if view.masked else None
            if mask is not None:
                real, fake = real * mask, fake * mask
            center, full = self._parts[f"discriminator_{side}"](
                ops.concatenate([real, fake], axis=0), training=True
            )
            real_center, fake_center = ops.split(center, 2, axis=0)
            real_full, fake_full = ops.split(full, 2, axis=0)
            generator[f"gan_{side}"] = self.power * (bce(1.0, fake_center) + bce(1.0, fake_full))
            own[f"discriminator_{side}"] = 0.5 * (
                bce(1.0, real_center) + bce(0.0, fake_center)
            ) + 0.5 * (bce(1.0, real_full) + bce(0.0, fake_full))
        return ExtensionLosses(generator=generator, own=own)

    def describe(self) -> str:
        return (
            f"patch GAN on side {' and '.join(s.upper() for s in self.sides)} (power "
            f"{self.power:g}, patch {self.patch_size} px, dims {self.dims})"
        )
