"""fs: a plugin-based engine for training face-swap models.

The public Python API is small: :func:`plugins`, :func:`build_model`, :func:`read_face` and the
:data:`hookimpl` marker plugins use; docs/plugins.md §8 lists what stays stable for packs.
Everything else is internal.
"""

from __future__ import annotations

from fs_core.errors import FsUserError
from fs_core.hookspecs import hookimpl
from fs_core.version import __version__


def plugins(disabled=None):
    """The plugin registry, loaded once per process (see :mod:`fs_core.plugin_manager`)."""
    from fs_core.plugin_manager import get_registry  # noqa: PLC0415 (cycle: fs_core <-> plugin_manager)

    return get_registry(disabled)


def build_model(name: str, options=None, **context):
    """Build model ``name`` with ``options`` (its config keys; defaults for the rest)."""
    from fs_core.model.build import build_model as _build  # noqa: PLC0415 (TensorFlow: fs_core loads without it)

    return _build(name, options, **context)


def read_face(path):
    """Read a face image: (image BGR uint8, landmarks 68×2, 98×2 or 4×2 or None, masks by name,
    metadata)."""
    from fs_core.faces.read import read_face as _read  # noqa: PLC0415 (OpenCV: fs_core loads without it)

    return _read(path)


__all__ = ["FsUserError", "__version__", "build_model", "hookimpl", "plugins", "read_face"]
