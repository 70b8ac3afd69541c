"""The one place fs chooses framework-specific code: the implementation for Keras' backend.

The training loop, the losses' callers, the record, the GUI and the plugin packs are written
against Keras and :mod:`fs_core.backend.api`; whatever differs between frameworks (how a step is
compiled and run, how gradients are taken and applied, loss scaling, distribution, summary
writing) lives in one implementation module per Keras backend. :func:`get` returns the one for
``keras.backend.backend()``; TensorFlow and torch exist so far, and any other backend is refused
with one line (see ``docs/backends.md``).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from fs_core.errors import FsUserError

if TYPE_CHECKING:
    from fs_core.backend.api import Backend

#: the Keras backends fs has an implementation for
SUPPORTED: tuple[str, ...] = ("tensorflow", "torch")


def active_name() -> str:
    """The Keras backend this process runs (``KERAS_BACKEND`` or ``~/.keras/keras.json``)."""
    import keras  # noqa: PLC0415 (Keras imports its backend's framework: fs --help starts without it)

    return str(keras.backend.backend())


def get() -> Backend:
    """The implementation for the active Keras backend; another backend is a user error."""
    name = active_name()
    if name == "tensorflow":
        from fs_core.backend import tensorflow  # noqa: PLC0415 (TensorFlow: loaded only when used)

        return tensorflow
    if name == "torch":
        from fs_core.backend import torch  # noqa: PLC0415 (torch: loaded only when used)

        return torch
    raise FsUserError(
        f"Keras backend '{name}' is not supported by fs yet (supported: {', '.join(SUPPORTED)}); "
        "set KERAS_BACKEND=tensorflow"
    )


def quiet_startup() -> None:
    """Silence the framework's start-up log chatter before anything imports it.

    Runs before Keras is imported (which would load the framework and print), so it decides from
    ``KERAS_BACKEND`` alone: unset means Keras' default, TensorFlow.
    """
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        _quiet_tensorflow()


def _quiet_tensorflow() -> None:
    """TensorFlow's C++ log chatter (start-up notices, grappler "remapper failed" lines) hides the
    status line and reads like a failure; real errors reach fs as Python exceptions anyway.

    Its oneDNN notice is printed before logging is set up, ignoring TF_CPP_MIN_LOG_LEVEL, so the
    import runs with the stderr file descriptor pointed at /dev/null (Python errors still raise).
    It lives here, not in :mod:`fs_core.backend.tensorflow`, whose import would load TensorFlow
    before the descriptor is redirected.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ errors still surface as exceptions
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401, PLC0415 (TensorFlow: fs --help starts without it)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
