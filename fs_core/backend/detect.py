"""What each framework fs can train on sees of the machine: installed or not, its version, and the
accelerators it would train on.

Used by ``[global] backend = "auto"`` (:mod:`fs_core.backend.choose`) and by ``fs plugins``. Nothing
here imports Keras (whose first import fixes the process's backend), and a framework is imported
only once it is known to be installed and only to ask about its devices; no GPU memory is taken:
TensorFlow lists its physical devices (which does not initialise them), PyTorch asks CUDA for a
count and names (no context, no allocation), JAX is asked only when a GPU plugin is installed and
then with its memory preallocation off.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import pkgutil
from typing import Any

import attrs

from fs_core.backend import import_tensorflow_quietly

#: the Python module each backend's framework is
MODULES: dict[str, str] = {"tensorflow": "tensorflow", "torch": "torch", "jax": "jax"}
#: the framework's name as people write it
TITLES: dict[str, str] = {"tensorflow": "TensorFlow", "torch": "PyTorch", "jax": "JAX"}


@attrs.frozen
class Framework:
    """One framework as found: ``version`` None when it is not installed; ``devices`` the
    accelerators it sees (``"NVIDIA GeForce RTX 4090 (CUDA)"``), empty on a CPU-only machine;
    ``note`` why the devices were not asked for, where they were not."""

    name: str
    version: str | None
    devices: tuple[str, ...] = ()
    note: str = ""

    @property
    def installed(self) -> bool:
        return self.version is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "installed": self.installed,
            "version": self.version,
            "devices": list(self.devices),
            "note": self.note,
        }


def installed(name: str) -> bool:
    """Whether backend ``name``'s framework can be imported (found, not imported)."""
    try:
        return importlib.util.find_spec(MODULES[name]) is not None
    except (ImportError, ValueError):
        return False


def detect(name: str) -> Framework:
    """Backend ``name``'s framework: installed or not, its version and the accelerators it sees."""
    if not installed(name):
        return Framework(name, None)
    return {"tensorflow": _tensorflow, "torch": _torch, "jax": _jax}[name]()


def accelerators(name: str) -> tuple[str, ...]:
    """The accelerators backend ``name`` sees (none where it is not installed)."""
    return detect(name).devices


def _tensorflow() -> Framework:
    tf = import_tensorflow_quietly()
    devices = []
    for device in tf.config.list_physical_devices("GPU"):  # physical: nothing is initialised
        try:
            details = tf.config.experimental.get_device_details(device)
        except (RuntimeError, ValueError):
            details = {}
        devices.append(str(details.get("device_name", device.name)))
    return Framework("tensorflow", str(tf.__version__), tuple(devices))


def _torch() -> Framework:
    import torch  # noqa: PLC0415 (PyTorch: imported only when asked about)

    devices: tuple[str, ...] = ()
    if torch.cuda.is_available():  # CUDA, or ROCm (HIP answers as torch.cuda)
        kind = "ROCm" if getattr(torch.version, "hip", None) else "CUDA"
        devices = tuple(
            f"{torch.cuda.get_device_name(i)} ({kind})" for i in range(torch.cuda.device_count())
        )
    elif _mps_available(torch):
        devices = ("Apple GPU (MPS)",)
    return Framework("torch", str(torch.__version__), devices)


def _mps_available(torch: Any) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _jax() -> Framework:
    version = _version("jax")
    plugins = _jax_gpu_plugins()
    if not plugins:
        return Framework("jax", version, (), "no JAX GPU plugin installed")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # asking must not take memory
    import jax  # noqa: PLC0415 (JAX: imported only when asked about)

    try:
        found = [device for device in jax.devices() if device.platform != "cpu"]
    except RuntimeError as error:  # a plugin without its driver
        return Framework("jax", version, (), f"GPU plugin {', '.join(plugins)}: {error}")
    return Framework(
        "jax", version, tuple(f"{d.device_kind} ({d.platform.upper()})" for d in found)
    )


def _jax_gpu_plugins() -> list[str]:
    """JAX's installed accelerator plugins (``jax_plugins.xla_cuda12``, ``xla_rocm`` ...)."""
    try:
        spec = importlib.util.find_spec("jax_plugins")
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    return sorted(module.name for module in pkgutil.iter_modules(spec.submodule_search_locations))


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "installed"
