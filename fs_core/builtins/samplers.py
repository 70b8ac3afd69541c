"""The built-in samplers, registered through the ``fs_samplers`` hook like any plugin's.

``epoch`` (the default): shuffled passes over each side's faces. ``uniform_yaw``
(``[augmentation] uniform_yaw = true``, DeepFaceLab's option of that name): faces drawn evenly
across yaw bins computed from the landmarks, so profiles come up as often as frontal faces.
"""

from __future__ import annotations

from typing import Any

import fs_core
from fs_core.data.sampler import BinnedSampler, EpochSampler, Sampler, SamplerInputs
from fs_core.data.yaw import yaw_bins, yaw_degrees
from fs_core.descriptors import SamplerDescriptor


def make_epoch(inputs: SamplerInputs) -> Sampler:
    return EpochSampler(inputs.count, inputs.rng)


def make_uniform_yaw(inputs: SamplerInputs) -> Sampler:
    assert inputs.landmarks is not None  # needs_landmarks: the loader refuses faces without
    bins = yaw_bins(yaw_degrees(inputs.landmarks), int(inputs.options.uniform_yaw_bins))
    return BinnedSampler(bins, inputs.rng)


def _uniform_yaw_on(options: Any) -> bool:
    return bool(getattr(options, "uniform_yaw", False))


@fs_core.hookimpl
def fs_samplers() -> list[SamplerDescriptor]:
    return [
        SamplerDescriptor(
            name="epoch",
            make=make_epoch,
            help="Shuffled passes over each side's faces (the default).",
        ),
        SamplerDescriptor(
            name="uniform_yaw",
            make=make_uniform_yaw,
            needs_landmarks=True,
            enabled=_uniform_yaw_on,
            help="Faces drawn evenly across yaw bins from the landmarks (uniform_yaw).",
        ),
    ]
