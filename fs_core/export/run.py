"""``fs export`` end to end: check the options and the output, load the model, write the format,
and say what was written (the command only parses and prints)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fs_core.errors import FsUserError
from fs_core.export import memory_warning, require_converter
from fs_core.export.dfm import SOFT_MASK_WARNING, export_dfm
from fs_core.export.metadata import crop_line
from fs_core.export.onnx import check_output, export_onnx
from fs_core.export.savedmodel import check_output_folder, export
from fs_core.inference.trained import load_trained, swap_side


def check_options(fmt: str, precision: str, batch: int | None) -> None:
    """Refuse combinations no format can honour, before the model is loaded."""
    if fmt == "savedmodel" and precision != "float32":
        raise FsUserError("--precision float16 applies to --format onnx and dfm")
    if fmt == "dfm" and batch not in (None, 1):
        raise FsUserError(f"a DFM has batch 1 (DeepFaceLive's loader); --batch {batch} given")


def export_model(
    model_dir: str,
    out: Path,
    *,
    fmt: str,
    direction: str,
    precision: str,
    batch: int | None,
    registry: Any,
    warn: Callable[[str], None],
) -> str:
    """Export one swap direction of the model in ``model_dir`` to ``out``; returns the line that
    says what was written. ``warn`` receives warnings (a machine that looks too small, a model
    without a learned mask exported as a DFM)."""
    swap_side(direction)
    check_options(fmt, precision, batch)
    if fmt == "savedmodel":
        check_output_folder(out)
    else:
        require_converter(fmt)

        check_output(out)
    trained = load_trained(model_dir, registry)
    name = trained.built.name
    if fmt == "savedmodel":
        export(trained, out, direction, batch)
        return f"Exported '{name}' ({direction}) as a SavedModel in {out}; it {crop_line(trained)}"
    warning = memory_warning(int(trained.built.model.count_params()))
    if warning:
        warn(f"{model_dir}: {warning}")
    if fmt == "onnx":
        done = export_onnx(trained, out, direction, precision, batch)
    else:
        if not trained.built.learn_mask:
            warn(f"{model_dir}: {SOFT_MASK_WARNING}")
        done = export_dfm(trained, out, direction, precision)
    return (
        f"Exported '{name}' ({direction}, {precision}) as {fmt.upper()} "
        f"{done.path} ({done.size_bytes / 2**20:.1f} MiB; outputs {', '.join(done.outputs)}; "
        f"max difference from Keras {done.max_difference:.2g}); it {crop_line(trained)}"
    )
