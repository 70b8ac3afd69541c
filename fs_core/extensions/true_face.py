"""True face (``true_face_power``): a code discriminator tells side B's encoder codes (label 1)
from side A's (label 0), and the encoder is pushed, with weight ``true_face_power``, to make A's
code look like B's, so B's decoder sees codes like its own when it swaps A's faces.

DeepFaceLab's SAEHD labels the other way round (its dst, fs's A, as the real class, pushing its
src codes, fs's B, toward dst); fs follows the direction its issue asks for. Needs the shared code:
only models whose encoder output feeds both decoders (:mod:`fs_core.extensions.forward`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keras import ops

from fs_core.extensions.api import ExtensionContext, ExtensionLosses, StepView, TrainingExtension
from fs_core.extensions.forward import shared_code_parts
from fs_core.extensions.networks import bce, code_discriminator, part_optimizer

PART = "code_discriminator"


class TrueFace(TrainingExtension):
    def __init__(self, context: ExtensionContext) -> None:
        self.power = float(context.options.true_face_power)
        shared = shared_code_parts(context.built)
        assert shared is not None  # make_forward refused the model before
        code_shape = tuple(int(d) for d in shared.encoder.outputs[0].shape[1:])
        self._parts = {PART: code_discriminator(PART, code_shape)}
        self._optimizers = {PART: part_optimizer(context)}

    def parts(self) -> Mapping[str, Any]:
        return self._parts

    def optimizers(self) -> Mapping[str, Any]:
        return self._optimizers

    def losses(self, view: StepView) -> ExtensionLosses:
        assert view.code is not None  # declared needs={"code"}
        logits = self._parts[PART](
            ops.concatenate([view.code["a"], view.code["b"]], axis=0), training=True
        )
        code_a, code_b = ops.split(logits, 2, axis=0)
        return ExtensionLosses(
            generator={"true_face": self.power * bce(1.0, code_a)},
            own={PART: 0.5 * (bce(1.0, code_b) + bce(0.0, code_a))},
        )

    def describe(self) -> str:
        return f"true face (power {self.power:g})"
