"""Keeping TensorFlow out of a process that trains or runs a model on PyTorch or JAX.

Only one framework may own the GPU: TensorFlow takes (nearly) all of a GPU's memory as soon as it
initialises its devices, so a TensorFlow that wakes up in a torch or JAX process would starve the
framework doing the work. Nothing fs runs there needs TensorFlow, but Keras asks for it whenever
it is installed (its serializer checks values against TensorFlow's types; ``set_random_seed``
seeds it), which imports it. Two measures, for a process whose Keras backend is torch or jax:

* :func:`keep_keras_off_tensorflow`: Keras' lazy handle on TensorFlow answers "not installed", so
  Keras never imports it for those checks (nothing in such a process holds TensorFlow values).
* :func:`hide_gpus_on_import`: the backstop. Whatever still imports TensorFlow (a plugin, a
  library) gets it with every GPU hidden (``tf.config.set_visible_devices([], "GPU")`` right
  after its import, before anything can initialise its devices), so it never takes GPU memory.

Neither imports TensorFlow. :func:`fs_core.backend.get` applies both whenever the active backend
is torch or jax: every use of a model (training, previews, swap, convert) asks it for the backend
first, in the ``fs`` command or in a program running fs in-process. Commands that only ask the
frameworks about the machine (``fs plugins``, ``fs train``'s ``auto``) do not go through it, so
TensorFlow still reports its GPUs there.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

LOG = logging.getLogger("fs")

#: the Keras backends whose processes keep TensorFlow off the GPU
OTHER_BACKENDS: tuple[str, ...] = ("torch", "jax")


def hide_gpus(tensorflow: Any) -> None:
    """Make every GPU invisible to an imported TensorFlow; too late (its devices already
    initialised) is logged, not raised: the run goes on."""
    try:
        tensorflow.config.set_visible_devices([], "GPU")
    except (RuntimeError, ValueError, AttributeError) as error:
        LOG.debug("could not hide the GPUs from TensorFlow: %s", error)


class _HidingLoader(importlib.abc.Loader):
    """TensorFlow's own loader, then :func:`hide_gpus` on the fresh module."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        hide_gpus(module)


class HideGpusOnImport(importlib.abc.MetaPathFinder):
    """A ``sys.meta_path`` finder that finds ``tensorflow`` as the others would and wraps its
    loader (any other module: not found here, the next finder looks)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "tensorflow":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _HidingLoader(spec.loader)
                return spec
        return None


def hide_gpus_on_import() -> None:
    """TensorFlow, whenever it is imported in this process, sees no GPU (at once if it already
    was imported). Installing twice installs once."""
    imported = sys.modules.get("tensorflow")
    if imported is not None:
        hide_gpus(imported)
        return
    if not any(isinstance(finder, HideGpusOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, HideGpusOnImport())


def keep_keras_off_tensorflow() -> None:
    """Keras' lazy TensorFlow module reports TensorFlow as not installed (see the module
    docstring). Keras has no public switch for it; if its internals change, TensorFlow may be
    imported again, still without GPUs (:func:`hide_gpus_on_import`)."""
    try:
        from keras.src.utils import module_utils  # noqa: PLC0415 (Keras imports its framework: fs --help starts without it)
    except ImportError:
        return
    lazy = getattr(module_utils, "tensorflow", None)
    if lazy is not None and getattr(lazy, "module", None) is None and hasattr(lazy, "_available"):
        lazy._available = False


def keep_out(backend_name: str) -> None:
    """Both measures, for a process running ``backend_name`` (nothing for TensorFlow)."""
    if backend_name in OTHER_BACKENDS:
        hide_gpus_on_import()
        keep_keras_off_tensorflow()
