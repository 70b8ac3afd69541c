"""Which compute precision a run trains in, and why.

``[global] mixed_precision = "auto"`` picks the precision the hardware runs fastest without hurting
training, and every run says what it picked and why (printed at start, kept in the session record):

- **A GPU** with tensor cores (compute capability 7.0 or newer): ``mixed_float16`` with loss
  scaling. float16 keeps three more mantissa bits than bfloat16 and runs on the same tensor
  cores; loss scaling keeps its small gradients from underflowing. Several GPUs: the oldest one
  decides.
- **Older GPUs** (no tensor cores): float32; their float16 is no faster, often slower.
- **A CPU with AMX** (``amx_bf16`` in ``/proc/cpuinfo``): ``mixed_bfloat16``. On such a CPU
  TensorFlow ran a bf16 matmul 4x and a strided 5x5 convolution 7.8x faster than float32, and
  Original trained 2.5x faster. bfloat16 has float32's range, so it needs no loss scaling.
- **Any other CPU**: float32. ``avx512_bf16`` alone is not enough: without AMX the bf16 dot product
  does not outrun two float32 FMA ports (measured: a bf16 matmul at about half the float32 speed).

The choice is a pure function of what was detected (:func:`choose_precision`), so tests can feed it
any machine; :func:`detect_hardware` is the only part that looks at the real one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import attrs

Policy = Literal["float32", "mixed_float16", "mixed_bfloat16"]

#: Compute capability from which NVIDIA GPUs have tensor cores for float16 (Volta).
TENSOR_CORE_CAPABILITY = (7, 0)
CPUINFO = Path("/proc/cpuinfo")
#: the option's values that name a policy themselves
EXPLICIT: dict[str, Policy] = {
    "none": "float32",
    "mixed_float16": "mixed_float16",
    "mixed_bfloat16": "mixed_bfloat16",
}


@attrs.frozen
class Gpu:
    """A visible GPU as TensorFlow describes it."""

    name: str
    compute_capability: tuple[int, int] | None  # None where TensorFlow does not say (not CUDA)


@attrs.frozen
class Hardware:
    """What the precision choice depends on."""

    cpu_flags: frozenset[str]
    gpus: tuple[Gpu, ...] = ()


@attrs.frozen
class PrecisionChoice:
    """The policy a run trains with; ``asked`` is the option's value, ``reason`` one line."""

    asked: str
    policy: Policy
    reason: str

    def describe(self) -> str:
        """The line printed at start."""
        if self.asked == "auto":
            return f"Precision: {self.policy} (auto: {self.reason})"
        return f"Precision: {self.policy} ({self.reason})"

    def to_record(self) -> dict[str, str]:
        """The session record's ``precision`` entry."""
        return {"asked": self.asked, "used": self.policy, "reason": self.reason}


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``); empty where that file does not exist."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86 / Arm
            return frozenset(value.split())
    return frozenset()


def detect_gpus() -> tuple[Gpu, ...]:
    """The GPUs the framework will train on (after ``-X`` hid any), with their compute
    capability."""
    from fs_core import backend  # noqa: PLC0415 (TensorFlow: training.precision loads without it)

    return tuple(Gpu(name, capability) for name, capability in backend.get().detect_gpus())


def detect_hardware() -> Hardware:
    return Hardware(cpu_flags=cpu_flags(), gpus=detect_gpus())


def choose_precision(asked: str, hardware: Hardware) -> PrecisionChoice:
    """The policy for the option value ``asked`` ("auto", "none", "mixed_float16", ...)."""
    explicit = EXPLICIT.get(asked)
    if explicit is not None:
        return PrecisionChoice(asked, explicit, f"mixed_precision = {asked}")
    if asked != "auto":
        raise ValueError(f"unknown mixed_precision {asked!r}")  # the config's choices prevent it
    if hardware.gpus:
        return _choose_for_gpus(hardware.gpus)
    return _choose_for_cpu(hardware.cpu_flags)


def _choose_for_gpus(gpus: Sequence[Gpu]) -> PrecisionChoice:
    capabilities = [gpu.compute_capability for gpu in gpus]
    names = ", ".join(sorted({gpu.name for gpu in gpus}))
    if any(capability is None for capability in capabilities):
        return PrecisionChoice("auto", "float32", f"GPU {names}: compute capability unknown")
    oldest = min(capability for capability in capabilities if capability is not None)
    shown = f"{oldest[0]}.{oldest[1]}"
    if oldest >= TENSOR_CORE_CAPABILITY:
        return PrecisionChoice(
            "auto",
            "mixed_float16",
            f"GPU {names} (compute capability {shown}) has float16 tensor cores; loss scaling on",
        )
    return PrecisionChoice(
        "auto",
        "float32",
        f"GPU {names} (compute capability {shown}) has no tensor cores",
    )


def _choose_for_cpu(flags: frozenset[str]) -> PrecisionChoice:
    if "amx_bf16" in flags:
        return PrecisionChoice("auto", "mixed_bfloat16", "CPU has AMX (amx_bf16)")
    if "avx512_bf16" in flags:
        return PrecisionChoice(
            "auto", "float32", "CPU has avx512_bf16 but no AMX: bfloat16 would be slower"
        )
    return PrecisionChoice("auto", "float32", "CPU without AMX")
