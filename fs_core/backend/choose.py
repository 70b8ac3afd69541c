"""Choosing the Keras backend a run trains on, before Keras is first imported.

Keras fixes its backend when it is first imported (``KERAS_BACKEND``), and ``fs train`` imports it
early (the plugin registry imports the packs, which import Keras). So the choice is made first, in
three steps that import no Keras:

1. :func:`asked_backend`: what was asked: ``fs train --backend NAME``, else the ``-C`` file's
   ``[global] backend`` (read with tomllib alone: the full configuration needs the registry), else
   ``auto``. A backend that is not installed stops here with one line naming its extra.
2. :func:`resolve`: ``auto`` made a backend (:func:`auto_choice`), with why.
3. :func:`activate`: ``KERAS_BACKEND`` set for this process and the processes it starts (the GUI's
   trainer, convert workers); where Keras was already imported with another backend (a caller
   running fs in-process), one line says so instead of training on the wrong one.

``auto`` is a pure function of what was detected (:func:`auto_choice`), so tests can feed it any
machine; :mod:`fs_core.backend.detect` is the part that looks at the real one.
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Callable, MutableMapping
from pathlib import Path

import attrs

from fs_core.backend import SUPPORTED
from fs_core.backend import detect as detection
from fs_core.errors import FsUserError

#: the values of ``[global] backend`` and ``fs train --backend``
OPTION_VALUES: tuple[str, ...] = ("auto", *SUPPORTED)
#: ``auto`` on a machine without a GPU for TensorFlow or PyTorch: the fastest first. Measured with
#: a plain Keras training step of Original at batch 16 on a 2-core AMD EPYC: TensorFlow 2.32 s,
#: JAX 2.45 s, PyTorch 2.98 s.
CPU_ORDER: tuple[str, ...] = ("tensorflow", "jax", "torch")
#: how to install each backend's framework
INSTALL: dict[str, str] = {
    "tensorflow": "pip install tensorflow",
    "torch": 'pip install "fs-core[torch]"',
    "jax": 'pip install "fs-core[jax]"',
}


@attrs.frozen
class BackendAsked:
    """What a run asked for: ``asked`` (auto or a backend) and ``source`` (where it was said)."""

    asked: str
    source: str


@attrs.frozen
class BackendChoice:
    """The backend a run trains on (``name``), ``asked`` (auto or a backend) and ``why``."""

    asked: str
    name: str
    why: str

    def describe(self) -> str:
        """The line printed at start."""
        if self.asked == "auto":
            return f"Backend: {self.name} (auto: {self.why})"
        return f"Backend: {self.name} ({self.why})"

    def to_record(self) -> dict[str, str]:
        """The session record's ``backend`` entry."""
        return {"name": self.name, "why": self.why}


def asked_backend(
    flag: str | None,
    config_path: str | os.PathLike | None,
    installed: Callable[[str], bool] | None = None,
) -> BackendAsked:
    """What was asked: the flag wins over the file, the file over ``auto``. A value that is not a
    backend, or a backend that is not installed, is an FsUserError of one line."""
    if flag is not None:
        asked, path = BackendAsked(flag, f"--backend {flag}"), None
    else:
        value, path = config_backend(config_path), config_path
        asked = BackendAsked("auto", "default") if value is None else _from_file(value)
    if asked.asked not in OPTION_VALUES:
        where = "--backend" if flag is not None else "[global] backend"
        raise FsUserError(
            f"{where} must be one of {', '.join(OPTION_VALUES)}; got {asked.asked!r}", path
        )
    if asked.asked != "auto" and not (installed or detection.installed)(asked.asked):
        raise FsUserError(not_installed(asked.asked))
    return asked


#: ``-d`` strategies that one backend alone runs: ``auto`` takes it for them
STRATEGY_BACKEND: dict[str, str] = {"ddp": "torch"}


def for_strategy(
    asked: BackendAsked,
    strategy: str,
    environ: MutableMapping[str, str] | None = None,
    installed: Callable[[str], bool] | None = None,
) -> BackendAsked:
    """``auto`` under a strategy one backend alone runs (``-d ddp``: torch) is that backend,
    unless ``KERAS_BACKEND`` names one (then the strategy's own check says what to use). Its
    framework missing is one line."""
    needed = STRATEGY_BACKEND.get(strategy)
    environ = os.environ if environ is None else environ
    if asked.asked != "auto" or needed is None or environ.get("KERAS_BACKEND"):
        return asked
    if not (installed or detection.installed)(needed):
        raise FsUserError(f"-d {strategy} trains on {needed}: " + not_installed(needed))
    return BackendAsked(needed, f"-d {strategy}")


def _from_file(value: object) -> BackendAsked:
    return BackendAsked(str(value), f"[global] backend = {value}")


def config_backend(config_path: str | os.PathLike | None) -> object:
    """The ``-C`` file's ``[global] backend``, or None where it is not set. A file that cannot be
    read or parsed counts as not set: loading the full configuration reports it, in one line."""
    if config_path is None:
        return None
    try:
        with open(Path(config_path), "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    table = data.get("global")
    return table.get("backend") if isinstance(table, dict) else None


def not_installed(name: str) -> str:
    """The one line for a backend whose framework is missing."""
    return f"backend '{name}' is not installed: {INSTALL[name]}"


def resolve(
    asked: BackendAsked,
    environ: MutableMapping[str, str] | None = None,
    *,
    keras_backend: Callable[[], str | None] | None = None,
    accelerators: Callable[[str], tuple[str, ...]] | None = None,
    installed: Callable[[str], bool] | None = None,
) -> BackendChoice:
    """The backend to train on (``environ``, ``keras_backend``, ``accelerators`` and
    ``installed``: the real process and machine unless a test gives its own). A named one is taken
    as asked. ``auto`` keeps the backend Keras already runs in this process, else honours
    ``KERAS_BACKEND`` (a user who set it meant it), else picks by the machine
    (:func:`auto_choice`)."""
    if asked.asked != "auto":
        return BackendChoice(asked.asked, asked.asked, asked.source)
    environ = os.environ if environ is None else environ
    installed = installed or detection.installed
    running = (keras_backend or imported_keras_backend)()
    if running is not None:
        return BackendChoice("auto", running, "Keras was already imported with it in this process")
    preset = environ.get("KERAS_BACKEND")
    if preset:
        if preset not in SUPPORTED:
            raise FsUserError(
                f"KERAS_BACKEND={preset} is not a backend fs supports "
                f"({', '.join(SUPPORTED)}); unset it or set one of them"
            )
        if not installed(preset):
            raise FsUserError(not_installed(preset) + f" (KERAS_BACKEND={preset})")
        return BackendChoice("auto", preset, f"KERAS_BACKEND={preset}")
    return auto_choice(accelerators or detection.accelerators, installed)


def auto_choice(
    accelerators: Callable[[str], tuple[str, ...]], installed: Callable[[str], bool]
) -> BackendChoice:
    """``auto`` for a machine where ``installed(name)`` says which frameworks exist and
    ``accelerators(name)`` which GPUs each sees (asked only in order, and only as far as needed).

    TensorFlow seeing a GPU: tensorflow. Else PyTorch seeing CUDA, ROCm or MPS: torch. Else the
    backend measured fastest on CPUs (:data:`CPU_ORDER`) that is installed.
    """
    tensorflow = installed("tensorflow")
    gpus = accelerators("tensorflow") if tensorflow else ()
    if gpus:
        return BackendChoice("auto", "tensorflow", f"TensorFlow sees {', '.join(gpus)}")
    torch = installed("torch")
    devices = accelerators("torch") if torch else ()
    if devices:
        why = f"PyTorch sees {', '.join(devices)}"
        if tensorflow:
            why += "; TensorFlow sees no GPU"
        return BackendChoice("auto", "torch", why)
    known = {"tensorflow": tensorflow, "torch": torch}
    for name in CPU_ORDER:
        if known[name] if name in known else installed(name):
            fastest = "the fastest" if name == CPU_ORDER[0] else "the fastest installed"
            return BackendChoice(
                "auto", name, f"no GPU for TensorFlow or PyTorch; {name} is {fastest} on CPUs"
            )
    raise FsUserError(
        "no Keras backend is installed: pip install tensorflow (or fs-core[torch], fs-core[jax])"
    )


def imported_keras_backend() -> str | None:
    """The backend of the Keras this process already imported, or None where it has not."""
    keras = sys.modules.get("keras")
    backend = getattr(keras, "backend", None)
    if backend is None:
        return None
    return str(backend.backend())


def activate(
    choice: BackendChoice,
    environ: MutableMapping[str, str] | None = None,
    *,
    keras_backend: Callable[[], str | None] | None = None,
) -> None:
    """Make ``choice`` this process's Keras backend (and its child processes'), before Keras is
    imported; where Keras already runs another backend, an FsUserError says so in one line."""
    environ = os.environ if environ is None else environ
    running = (keras_backend or imported_keras_backend)()
    if running is not None and running != choice.name:
        raise FsUserError(
            f"Keras was already imported with backend '{running}' in this process; "
            f"training on {choice.name} needs a new process (KERAS_BACKEND={choice.name})"
        )
    environ["KERAS_BACKEND"] = choice.name


def choose_backend(flag: str | None, config_path: str | os.PathLike | None) -> BackendChoice:
    """Ask, resolve and activate in one call (for callers that have nothing to do in between)."""
    choice = resolve(asked_backend(flag, config_path))
    activate(choice)
    return choice


def choose_tensorflow(
    environ: MutableMapping[str, str] | None = None,
    *,
    keras_backend: Callable[[], str | None] | None = None,
    installed: Callable[[str], bool] | None = None,
) -> None:
    """TensorFlow for ``fs export``, whatever ``KERAS_BACKEND`` says, before Keras is imported.

    SavedModel, ONNX (through tf2onnx) and DFM are made from a TensorFlow model, so exporting runs
    on TensorFlow whichever backend trained the model (the weights file is the same). Export is
    its own process: a ``KERAS_BACKEND=torch`` left in the environment for training is overridden
    here. TensorFlow not installed, or Keras already running another backend in this process, is
    one line."""
    environ = os.environ if environ is None else environ
    if not (installed or detection.installed)("tensorflow"):
        raise FsUserError(
            "exporting needs TensorFlow whichever backend trained the model (SavedModel, ONNX "
            f"and DFM are made from a TensorFlow model), and it is not installed: "
            f"{INSTALL['tensorflow']}"
        )
    running = (keras_backend or imported_keras_backend)()
    if running is not None and running != "tensorflow":
        raise FsUserError(
            f"Keras was already imported with backend '{running}' in this process; exporting "
            "needs TensorFlow, in a new process (KERAS_BACKEND=tensorflow)"
        )
    environ["KERAS_BACKEND"] = "tensorflow"
