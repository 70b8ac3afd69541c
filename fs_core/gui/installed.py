"""What the installed plugins offer the GUI: model architectures, their config classes, presets.

Loading the plugin registry imports TensorFlow (seconds), so it happens once, on first use, and the
result is kept by the app rather than at module level.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from fs_core import plugin_manager


@attrs.frozen
class Installed:
    #: architecture name -> its ModelDescriptor
    models: Mapping[str, Any]
    #: preset name -> (architecture it belongs to, TOML file)
    presets: Mapping[str, tuple[str, Path]]

    @property
    def config_classes(self) -> dict[str, type]:
        return {name: d.config_class for name, d in self.models.items()}

    @classmethod
    def load(cls) -> Installed:
        registry = plugin_manager.get_registry()
        presets = {
            preset: (name, Path(path))
            for name, descriptor in registry.models.items()
            for preset, path in getattr(descriptor, "presets", {}).items()
        }
        return cls(models=dict(registry.models), presets=presets)


class LazyInstalled:
    """Loads :class:`Installed` on first use, once, whichever request thread asks first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: Installed | None = None

    def get(self) -> Installed:
        with self._lock:
            if self._value is None:
                self._value = Installed.load()
            return self._value
