"""What TensorFlow sees of the machine: GPUs (for the precision choice), its out-of-memory error,
its version and devices (for bug reports)."""

from __future__ import annotations

import tensorflow as tf


def detect_gpus() -> tuple[tuple[str, tuple[int, int] | None], ...]:
    """``(name, compute capability)`` of each GPU TensorFlow will train on (after ``-X`` hid any);
    the capability is None where TensorFlow does not say (not CUDA)."""
    found = []
    for device in tf.config.get_visible_devices("GPU"):
        try:
            details = tf.config.experimental.get_device_details(device)
        except (RuntimeError, ValueError):
            details = {}
        capability = details.get("compute_capability")
        found.append(
            (
                str(details.get("device_name", device.name)),
                tuple(capability) if capability else None,
            )
        )
    return tuple(found)


def out_of_memory_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean the batch did not fit (the trainer retries with a smaller one)."""
    return (tf.errors.ResourceExhaustedError, MemoryError)


def versions() -> str:
    """The framework's name and version, for the debug log."""
    return f"TensorFlow {tf.__version__}"


def physical_devices() -> list[str]:
    """The physical devices' names; physical, not logical: listing logical devices would
    initialise them before -X and allow_growth are applied."""
    return [d.name for d in tf.config.list_physical_devices()]
