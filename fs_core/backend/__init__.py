"""The one place fs chooses framework-specific code: the implementation for Keras' backend.

The training loop, the losses' callers, the record, the GUI and the plugin packs are written
against Keras and :mod:`fs_core.backend.api`; whatever differs between frameworks (how a step is
compiled and run, how gradients are taken and applied, loss scaling, distribution, summary
writing) lives in one implementation module per Keras backend, ``fs_core.backend.<name>``.
:func:`get` returns the one for ``keras.backend.backend()``; a Keras backend fs has none for
(numpy, openvino) is refused with one line. Which backend a run uses is chosen before Keras is
first imported (:mod:`fs_core.backend.choose`; see ``docs/backends.md``).
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType
from typing import TYPE_CHECKING, cast

from fs_core.backend import tensorflow_guard
from fs_core.errors import FsUserError

if TYPE_CHECKING:
    from fs_core.backend.api import Backend

#: the Keras backends fs has an implementation for
SUPPORTED: tuple[str, ...] = ("tensorflow", "torch", "jax")


def active_name() -> str:
    """The Keras backend this process runs (``KERAS_BACKEND`` or ``~/.keras/keras.json``)."""
    import keras  # noqa: PLC0415 (Keras imports its backend's framework: fs --help starts without it)

    return str(keras.backend.backend())


def get() -> Backend:
    """The implementation for the active Keras backend; another backend is a user error."""
    name = active_name()
    if name in SUPPORTED:
        tensorflow_guard.keep_out(name)  # a torch or JAX process leaves TensorFlow off the GPU
        # the framework is loaded only when used: fs --help starts without any
        return cast("Backend", importlib.import_module(f"fs_core.backend.{name}"))
    raise FsUserError(
        f"Keras backend '{name}' is not supported by fs (supported: {', '.join(SUPPORTED)}); "
        "set KERAS_BACKEND=tensorflow, torch or jax"
    )


def quiet_startup() -> None:
    """Silence the framework's start-up log chatter before anything imports it.

    Runs before Keras is imported (which would load the framework and print), so it decides from
    ``KERAS_BACKEND`` alone: unset means Keras' default, TensorFlow. PyTorch and JAX print nothing
    on import that needs hiding, so for them it does nothing.
    """
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        import_tensorflow_quietly()


def import_tensorflow_quietly() -> ModuleType:
    """TensorFlow, imported without its start-up log chatter (see below); also used to ask it
    about the machine before a backend is chosen.

    TensorFlow's C++ log chatter (start-up notices, grappler "remapper failed" lines) hides the
    status line and reads like a failure; real errors reach fs as Python exceptions anyway.

    Its oneDNN notice is printed before logging is set up, ignoring TF_CPP_MIN_LOG_LEVEL, so the
    import runs with the stderr file descriptor pointed at /dev/null (Python errors still raise).
    It lives here, not in :mod:`fs_core.backend.tensorflow`, whose import would load TensorFlow
    before the descriptor is redirected.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ errors still surface as exceptions
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: PLC0415 (TensorFlow: fs --help starts without it)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return tensorflow
