"""The entry point of the model pack: the :class:`ModelDescriptor` each architecture module exports.

Registered under the ``fs_core`` entry-point group (see the pack's ``pyproject.toml``). Names are
spelled as faceswap's ``-t/--trainer`` option spells them (``lib/cli/args_train.py``). A new
architecture is a module with a ``DESCRIPTOR`` and one line below.
"""

from __future__ import annotations

import fs_core
from fs_core.descriptors import ModelDescriptor
from fs_plugins_models import (
    dfaker,
    dfl_h128,
    dfl_sae,
    dlight,
    iae,
    lightweight,
    original,
    phaze_a,
    realface,
    unbalanced,
    villain,
)

DESCRIPTORS: tuple[ModelDescriptor, ...] = (
    original.DESCRIPTOR,
    lightweight.DESCRIPTOR,
    iae.DESCRIPTOR,
    dfaker.DESCRIPTOR,
    unbalanced.DESCRIPTOR,
    dfl_h128.DESCRIPTOR,
    dfl_sae.DESCRIPTOR,
    villain.DESCRIPTOR,
    realface.DESCRIPTOR,
    dlight.DESCRIPTOR,
    phaze_a.DESCRIPTOR,
)


@fs_core.hookimpl
def fs_models() -> list[ModelDescriptor]:
    """The architectures of this pack."""
    return list(DESCRIPTORS)
