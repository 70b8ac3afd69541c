"""What JAX sees of the machine: GPUs (for the precision choice), its out-of-memory error, its
version and devices (for bug reports), and ``-X`` / ``allow_growth``.

JAX takes 75% of a GPU's memory when it first uses it, unless ``XLA_PYTHON_CLIENT_PREALLOCATE``
is false. fs maps ``[global] allow_growth`` onto that, as it maps it onto TensorFlow's memory
growth (off: the memory is taken at start, as ``docs/configuration.md`` says). TensorFlow is
imported in a JAX process too (Keras seeds it in ``keras.utils.set_random_seed``) but runs nothing
there, so it never takes GPU memory beside JAX's.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import jax

from fs_core.backend.jax.step import DeviceOutOfMemory
from fs_core.errors import FsUserError


def _gpus() -> list[jax.Device]:
    try:
        return list(jax.devices("gpu"))
    except RuntimeError:  # no GPU backend in this jaxlib, or none visible
        return []


def detect_gpus() -> tuple[tuple[str, tuple[int, int] | None], ...]:
    """``(name, compute capability)`` of each GPU JAX will train on; the capability is None
    where JAX does not say (not CUDA)."""
    found = []
    for device in _gpus():
        text = str(getattr(device, "compute_capability", "") or "")
        parts = text.split(".")
        capability = (int(parts[0]), int(parts[1])) if len(parts) == 2 and text else None
        found.append((str(device.device_kind), capability))
    return tuple(found)


def out_of_memory_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean the batch did not fit (the trainer retries with a smaller one):
    the step turns XLA's ``RESOURCE_EXHAUSTED`` into :class:`DeviceOutOfMemory`."""
    return (DeviceOutOfMemory, MemoryError)


def versions() -> str:
    """The framework's name and version, for the debug log."""
    import jaxlib  # noqa: PLC0415 (JAX's runtime, loaded with JAX anyway)

    return f"JAX {jax.__version__} (jaxlib {jaxlib.__version__})"


def physical_devices() -> list[str]:
    """The devices' names, once JAX has started; before, listing them would start JAX before
    ``allow_growth`` is applied, so only that is said."""
    from jax._src import xla_bridge  # noqa: PLC0415 (JAX internals: whether its devices started)

    started = getattr(xla_bridge, "backends_are_initialized", lambda: True)
    if not started():
        return ["(JAX has not started its devices yet)"]
    return [f"{d.platform}:{d.id} {d.device_kind}" for d in jax.devices()]


def configure_devices(exclude_gpus: Sequence[int] = (), allow_growth: bool = False) -> None:
    """``allow_growth``: no preallocation (read when JAX first uses the GPU, which fs train has
    not done yet); ``-X``: JAX selects devices only when it starts (``CUDA_VISIBLE_DEVICES``), so
    it is refused here."""
    if allow_growth:
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if exclude_gpus:
        raise FsUserError(
            "-X/--exclude-gpus is not supported on the JAX backend; hide GPUs with "
            "CUDA_VISIBLE_DEVICES before starting fs instead"
        )
