"""What PyTorch sees of the machine and how fs places work on it: GPUs (CUDA, ROCm, Apple's MPS)
for the precision choice, ``-X``, the ``-d`` strategy, the out-of-memory error, the version.

``-d default`` is one device, Keras' (the first visible GPU, else the CPU); ``-d ddp`` is
:mod:`fs_core.backend.torch.distribute`'s. The others (``-d mirrored``, ``central-storage``,
``multi-worker``) are ``tf.distribute``'s, and are refused with one line before anything is built.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from fs_core.backend.torch import distribute
from fs_core.errors import FsUserError


def _mps() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def detect_gpus() -> tuple[tuple[str, tuple[int, int] | None], ...]:
    """``(name, compute capability)`` of each GPU torch will train on; the capability is None
    where it is not CUDA's (ROCm, MPS)."""
    found: list[tuple[str, tuple[int, int] | None]] = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            major, minor = torch.cuda.get_device_capability(index)
            capability = (int(major), int(minor)) if torch.version.cuda else None
            found.append((torch.cuda.get_device_name(index), capability))
    elif _mps():
        found.append(("Apple MPS", None))
    return tuple(found)


def out_of_memory_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean the batch did not fit (the trainer retries with a smaller one)."""
    error = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    return (error, MemoryError)


def versions() -> str:
    """The framework's name and version, for the debug log."""
    text = f"PyTorch {torch.__version__}"
    if torch.version.cuda:
        text += f" (CUDA {torch.version.cuda})"
    elif getattr(torch.version, "hip", None):
        text += f" (ROCm {torch.version.hip})"
    return text


def physical_devices() -> list[str]:
    """The devices' names (the CPU, then each GPU)."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [
            f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())
        ]
    elif _mps():
        names.append("mps")
    return names


def configure_devices(exclude_gpus: Sequence[int] = (), allow_growth: bool = False) -> None:
    """Hide GPUs by index (``-X``); ``allow_growth`` is what torch's allocator always does.

    GPUs are hidden the CUDA way (``CUDA_VISIBLE_DEVICES``, read when CUDA starts), so it works
    only before the first GPU operation of the process; after that, or when it would hide every
    GPU after Keras has chosen one, it is refused rather than ignored.
    """
    if not exclude_gpus:
        return
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    missing = [i for i in exclude_gpus if i >= count]
    if missing:
        raise FsUserError(
            f"-X/--exclude-gpus: no GPU {', '.join(map(str, missing))} "
            f"(this machine shows {count} GPU{'s' if count != 1 else ''})"
        )
    keep = [index for index in range(count) if index not in exclude_gpus]
    if torch.cuda.is_initialized() or not keep:
        raise FsUserError(
            "-X/--exclude-gpus on the torch backend must leave a GPU and be set before CUDA "
            "starts; set CUDA_VISIBLE_DEVICES before running fs instead"
        )
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = (
        [part.strip() for part in visible.split(",")] if visible else [str(i) for i in range(count)]
    )
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(ids[index].strip() for index in keep)


def _keras_device() -> str:
    import keras  # noqa: PLC0415 (devices stays importable before Keras picks its device)

    return str(keras.ops.convert_to_tensor(0.0).device)


def make_strategy(name: str) -> tuple[Any, int, int]:
    """The strategy for ``-d NAME``, this worker's index and the worker count: ``default`` (one
    device) or ``ddp`` (:mod:`fs_core.backend.torch.distribute`)."""
    return distribute.make_strategy(name, _keras_device)
