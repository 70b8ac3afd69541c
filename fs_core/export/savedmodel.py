"""The swap direction of a trained model as a TensorFlow SavedModel.

The SavedModel has one serving signature, ``serving_default``, taking ``faces``: float32 NHWC
(any batch unless one was fixed, the model's input size, 3 channels in the model's colour order,
values in [0, 1]) and returning ``face`` (the swapped faces at the largest output size) and, for a
model that learns a mask, ``mask`` (N, S, S, 1). It loads with ``tf.saved_model.load`` anywhere
TensorFlow runs, without fs. ``fs_export.toml`` beside it records the sizes, colour order, crop
and direction.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import tomli_w
from tqdm import tqdm

from fs_core.errors import FsUserError
from fs_core.export.metadata import crop_of
from fs_core.inference.trained import swap_side

INFO_FILE = "fs_export.toml"


def check_output_folder(out: Path) -> None:
    """The SavedModel goes into a new or empty folder whose nearest existing parent is a folder."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FsUserError("the output exists and is not an empty folder; choose a new folder", out)
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise FsUserError("is a file, not a folder", parent)
            break


def make_module(built: Any, direction: str, batch: int | None = None) -> Any:
    """A ``tf.Module`` holding the model, whose ``serve`` runs faces through one decoder."""
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow: export.savedmodel loads without it)

    side = swap_side(direction)
    per_side = built.outputs_per_side
    start = 0 if side == "a" else per_side
    face_index = start + len(built.output_sizes) - 1
    mask_index = start + per_side - 1 if built.learn_mask else None
    size = built.input_size

    class SwapModule(tf.Module):
        def __init__(self, model: Any) -> None:
            super().__init__(name="fs_swap")
            self.model = model

        @tf.function(
            input_signature=[tf.TensorSpec([batch, size, size, 3], tf.float32, name="faces")]
        )
        def serve(self, faces):
            outputs = self.model([faces, faces], training=False)
            outputs = [tf.cast(o, tf.float32) for o in tf.nest.flatten(outputs)]
            result = {"face": outputs[face_index]}
            if mask_index is not None:
                result["mask"] = outputs[mask_index]
            return result

    return SwapModule(built.model)


def export(trained: Any, out: str | Path, direction: str, batch: int | None = None) -> Path:
    """Write the SavedModel into ``out`` (built in a temporary folder beside it, then renamed)."""
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow: export.savedmodel loads without it)

    out = Path(out)
    check_output_folder(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as error:
        raise FsUserError(f"cannot write here: {error.strerror or error}", out.parent) from None
    built = trained.built
    try:
        with tqdm(total=3, desc="Exporting", unit="step", file=sys.stderr, leave=False) as bar:
            module = make_module(built, direction, batch)
            concrete = module.serve.get_concrete_function()
            bar.update()
            tf.saved_model.save(module, str(temp), signatures={"serving_default": concrete})
            bar.update()
            info = {
                "model": built.name,
                "direction": direction,
                "input_size": built.input_size,
                "output_size": max(built.output_sizes),
                "learn_mask": built.learn_mask,
                "color_order": built.descriptor.color_order,
                "value_range": [0.0, 1.0],
                "iterations": trained.state.iterations,
                "signature": "serving_default",
                "input": "faces",
                "outputs": ["face", "mask"] if built.learn_mask else ["face"],
                **crop_of(trained),
            }
            (temp / INFO_FILE).write_bytes(tomli_w.dumps(info).encode())
            if out.exists():
                out.rmdir()
            temp.rename(out)
            bar.update()
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return out
