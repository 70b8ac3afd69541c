"""The built-in training-step extensions, registered like any pack's (docs/quality-tools.md)."""

from __future__ import annotations

from fs_core.descriptors import TrainingExtensionDescriptor
from fs_core.extensions.lr_dropout import LrDropout
from fs_core.extensions.patch_gan import PatchGan
from fs_core.extensions.style import StyleLosses
from fs_core.extensions.true_face import TrueFace
from fs_core.hookspecs import hookimpl


@hookimpl
def fs_training_extensions() -> list[TrainingExtensionDescriptor]:
    return [
        TrainingExtensionDescriptor(
            name="patch_gan",
            help="U-Net patch discriminator on side B (or both sides) ([training_step] gan_*)",
            make=PatchGan,
            enabled=lambda config: config.training_step.gan_power > 0,
            order=10,
        ),
        TrainingExtensionDescriptor(
            name="true_face",
            help="code discriminator pushing A's encoder code toward B's (true_face_power)",
            make=TrueFace,
            enabled=lambda config: config.training_step.true_face_power > 0,
            needs={"code"},
            order=20,
        ),
        TrainingExtensionDescriptor(
            name="style",
            help="the swap's face colours and background toward side A's (face/bg_style_power)",
            make=StyleLosses,
            enabled=lambda config: (
                config.training_step.face_style_power > 0 or config.training_step.bg_style_power > 0
            ),
            needs={"swap"},
            order=30,
        ),
        TrainingExtensionDescriptor(
            name="lr_dropout",
            help="drops each weight's update with probability lr_dropout",
            make=LrDropout,
            enabled=lambda config: config.training_step.lr_dropout > 0,
            order=90,
        ),
    ]
