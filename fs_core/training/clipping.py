"""Gradient clipping for the train step: the options' clipper, from the active backend.

The clipper (none, norm, global_norm, value or AutoClip) is called inside the traced train step on
the *unscaled* gradients (after mixed-precision loss-scale division), just before the optimizer
step, as faceswap's ``lib/training/optimizer.py`` and ``lib/model/autoclip.py``; it owns state
(AutoClip's history of gradient norms), so the backend makes it (for TensorFlow:
:class:`fs_core.backend.tensorflow.clipping.GradientClipper`).
"""

from __future__ import annotations

from typing import Any

from fs_core import backend


def make_gradient_clipper(options: Any) -> Any:
    """The clipper that ``[global] gradient_clipping``, ``clipping_value`` and ``autoclip_history``
    ask for (``options`` is a :class:`fs_core.config.sections.GlobalOptions`); create it under the
    strategy scope that owns the model."""
    return backend.get().gradient_clipper(
        options.gradient_clipping, options.clipping_value, options.autoclip_history
    )
