"""What a model's build function needs to know beyond its own options.

The global switches that change how layers are made (learn mask, ICNR, conv-aware init, reflect
padding) and the initializer registry are passed to ``build(config, context)`` in a
:class:`BuildContext`, never read from a global.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import keras

from fs_core.errors import FsUserError


@attrs.frozen
class BuildContext:
    learn_mask: bool = False
    icnr_init: bool = False
    conv_aware_init: bool = False
    reflect_padding: bool = False
    initializers: Mapping[str, Any] = attrs.field(factory=dict)

    def _make(self, name: str, **kwargs: Any) -> Any:
        if name not in self.initializers:
            raise FsUserError(f"initializer '{name}' is not installed (see 'fs plugins')")
        return self.initializers[name].make(**kwargs)

    def kernel_initializer(self, requested: Any = None, is_upscale: bool = False) -> Any:
        """The kernel initializer of a convolution, by faceswap's rule (``lib/model/nn_blocks.py``).

        Conv-aware (when on) overrides what the model asked for; otherwise the model's choice, or
        He-uniform when it asked for none. Upscale convolutions are wrapped in ICNR when on.
        """
        if self.conv_aware_init:
            base = self._make("conv_aware")
        elif requested is None:
            base = keras.initializers.HeUniform()
        else:
            base = keras.initializers.get(requested) if isinstance(requested, str) else requested
        if is_upscale and self.icnr_init:
            return self._make("icnr", initializer=base, scale=2)
        return base
