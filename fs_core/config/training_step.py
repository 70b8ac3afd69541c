"""``[training_step]``: what the training-step extensions add (DeepFaceLab's quality tools).

A section of its own rather than more ``[global]`` keys: these options belong to one feature (the
extensions of :mod:`fs_core.extensions`), all of them are changeable from session to session
(a GAN is turned on late in training, as DeepFaceLab users do), and each session records them with
its other changeable options. Every one is off by default, and with all of them off the step is
exactly faceswap's. Ranges follow DeepFaceLab's SAEHD trainer; DeepFaceLab's *src* is fs's side B
and its *dst* side A.
"""

from __future__ import annotations

from typing import Any

import attrs

from fs_core.config.options import option


def _names(value: Any) -> tuple[str, ...]:
    """One extension name or a list of them, as a tuple."""
    if isinstance(value, str):
        return (value,) if value else ()
    return tuple(value)


def _check_names(instance: Any, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
    for name in value:
        if not isinstance(name, str) or not name.strip() or name.strip() != name:
            raise ValueError(f"must be a list of extension names, got {list(value)!r}")


@attrs.define
class TrainingStepOptions:
    gan_power: float = option(
        0.0,
        "Patch GAN: weight of the adversarial loss on side B's reconstructions (0: off; typical "
        "0.1, turned on once the faces are trained well). A U-Net patch discriminator, a part "
        "named discriminator_b, is trained beside the model.",
        min=0.0,
        max=5.0,
    )
    gan_patch_size: int = option(
        0,
        "Patch GAN: the receptive field of the discriminator in pixels (0: the output size / 8).",
        min=0,
        max=640,
    )
    gan_dims: int = option(
        16, "Patch GAN: channels of the discriminator's first layer.", min=4, max=512
    )
    gan_sides: str = option(
        "b",
        "Patch GAN: b (side B, the face put in, as DeepFaceLab) or ab (a discriminator per side).",
        choices=("b", "ab"),
    )
    true_face_power: float = option(
        0.0,
        "True face: weight of a code discriminator's loss that pushes side A's encoder code "
        "toward side B's, for likeness in the swap (0: off; typical 0.01). Only models whose "
        "encoder output feeds both decoders (see docs/quality-tools.md).",
        min=0.0,
        max=1.0,
    )
    lr_dropout: float = option(
        0.0,
        "LR dropout: the chance that each weight's update is dropped in a step (0: off; e.g. 0.3, "
        "late in training, for sharpness). Works with every optimizer.",
        min=0.0,
        max=0.9,
    )
    face_style_power: float = option(
        0.0,
        "Face style: pulls the swapped face's (A through decoder B) colour statistics inside the "
        "mask toward side A's face, in percent (0: off; DeepFaceLab's scale, e.g. 10).",
        min=0.0,
        max=100.0,
    )
    bg_style_power: float = option(
        0.0,
        "Background style: pulls the swapped face's background (outside the mask) toward side "
        "A's, in percent (0: off; DeepFaceLab's scale, e.g. 10).",
        min=0.0,
        max=100.0,
    )
    extensions: tuple[str, ...] = option(
        (),
        "Training-step extensions of installed packs to turn on, by name (see 'fs plugins', "
        "kind training_extension); the built-ins above are turned on by their own options.",
        converter=_names,
        validator=_check_names,
    )
