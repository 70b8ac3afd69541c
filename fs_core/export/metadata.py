"""What an exported file says about the model it holds.

The consuming tool (DeepFaceLive, FaceFusion, a script) aligns faces itself, so the file must say
which crop the model was trained on (centering, coverage, vertical offset), its sizes, colour order
and value range; these go into the ONNX ``metadata_props`` as strings (the format has no other
types) and into the command's message.
"""

from __future__ import annotations

from typing import Any

from fs_core.version import __version__


def crop_of(trained: Any) -> dict[str, Any]:
    """The crop the model expects: centering, coverage (percent) and vertical offset (percent)."""
    g = trained.config.global_
    return {
        "centering": str(g.centering),
        "coverage": float(g.coverage),
        "vertical_offset": float(g.vertical_offset),
    }


def describe(
    trained: Any, direction: str, fmt: str, precision: str, mask: str, batch: int | None
) -> dict[str, str]:
    """The metadata properties of an export (every value a string, as ONNX stores them)."""
    built = trained.built
    crop = crop_of(trained)
    values: dict[str, Any] = {
        "architecture": built.name,
        "centering": crop["centering"],
        "coverage": crop["coverage"],
        "vertical_offset": crop["vertical_offset"],
        "input_size": int(built.input_size),
        "output_size": int(max(built.output_sizes)),
        "color_order": "BGR",  # the file's; an RGB-trained model is turned at its ends
        "trained_color_order": str(built.descriptor.color_order).upper(),
        "value_range": "0-1",
        "layout": "NHWC",
        "fs_version": __version__,
        "iterations": int(trained.state.iterations),
        "direction": direction,
        "format": fmt,
        "precision": precision,
        "mask": mask,
        "batch": "dynamic" if batch is None else str(batch),
    }
    return {key: str(value) for key, value in values.items()}


def crop_line(trained: Any) -> str:
    """One phrase for the command's message: the crop a consuming tool must cut faces with."""
    crop = crop_of(trained)
    size = int(trained.built.input_size)
    return (
        f"expects {size}x{size} faces cut with centering '{crop['centering']}', coverage "
        f"{crop['coverage']:g}%, vertical offset {crop['vertical_offset']:g}%"
    )
