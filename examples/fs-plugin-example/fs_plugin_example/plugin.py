"""The entry point of fs-plugin-example: the hooks fs calls to learn what this pack provides.

``pyproject.toml`` points the ``fs_core`` entry-point group here. Each hook returns a *new* list of
descriptors; fs validates them and lists them in ``fs plugins`` under this pack's distribution name
and version. Keep this module cheap to import (no model is built here) and free of side effects.
"""

from __future__ import annotations

import fs_core
from fs_core.descriptors import LossDescriptor, ModelDescriptor
from fs_plugin_example import charbonnier, twin


@fs_core.hookimpl
def fs_models() -> list[ModelDescriptor]:
    """The pack's model: name, one help line, config class, build function, freeze/load parts."""
    return [
        ModelDescriptor(
            name=twin.NAME,
            config_class=twin.Twin64Config,
            build=twin.build,
            freeze_parts=("encoder",),
            load_parts=("encoder",),
            help="Compact two-decoder autoencoder, 64 px in and out (example pack).",
        )
    ]


@fs_core.hookimpl
def fs_losses() -> list[LossDescriptor]:
    """The pack's loss: a per-pixel map, usable as the primary loss."""
    return [
        LossDescriptor(
            name=charbonnier.NAME,
            function=charbonnier.charbonnier,
            per_pixel=True,
            help="Charbonnier: sqrt(d^2 + eps^2) - eps, a smooth L1 (example pack).",
        )
    ]
