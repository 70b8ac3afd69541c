"""Exporting a trained model for the tools that run swaps: SavedModel, ONNX and DeepFaceLive's DFM.

:mod:`.savedmodel` needs only TensorFlow. :mod:`.onnx` and :mod:`.dfm` convert through Keras'
ONNX export (tf2onnx underneath) and check the file with onnxruntime, which live in the optional
``export`` extra so that training installs stay small; :func:`require_converter` says which extra
to install when they are missing.
"""

from __future__ import annotations

import importlib.util

from fs_core.errors import FsUserError

FORMATS = ("savedmodel", "onnx", "dfm")
PRECISIONS = ("float32", "float16")
#: the distributions the ONNX formats import, as (import name, distribution)
CONVERTER_MODULES = (
    ("tf2onnx", "tf2onnx"),
    ("onnx", "onnx"),
    ("onnxruntime", "onnxruntime"),
    ("onnxconverter_common", "onnxconverter-common"),
)


def missing_converter() -> list[str]:
    """The converter distributions that are not installed (empty when ONNX export can run)."""
    return [dist for module, dist in CONVERTER_MODULES if importlib.util.find_spec(module) is None]


def require_converter(fmt: str) -> None:
    """Stop with one line naming the extra when the ONNX tools are missing."""
    missing = missing_converter()
    if missing:
        raise FsUserError(
            f"--format {fmt} needs the export extra ({', '.join(missing)} not installed): "
            'pip install "fs-core[export]"'
        )


#: bytes an export process peaks at per parameter, roughly (model, tf2onnx and the onnxruntime
#: check together: Original 3.5 GiB for 94 M, IAE 5.4 GiB for 143 M, RealFace 7.9 GiB for 269 M)
CONVERTER_BYTES_PER_PARAMETER = 45


def memory_warning(parameters: int) -> str | None:
    """A warning when the conversion likely needs more memory than is available (the system
    kills a process that runs out, with no message of fs's), else None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            fields = dict(line.split(":", 1) for line in handle if ":" in line)
        available = int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None
    needed = parameters * CONVERTER_BYTES_PER_PARAMETER
    if needed <= available:
        return None
    return (
        f"converting {parameters / 1e6:.0f} M parameters needs about {needed / 2**30:.0f} GiB or "
        f"more; {available / 2**30:.0f} GiB available: it may be killed (export on a bigger "
        "machine)"
    )
