"""Each training face's loss, kept while training so the faces the model cannot learn stand out.

The compiled step already computes every face's loss before taking the batch mean; asked to
(``per_face``), it returns those values too (:data:`fs_core.losses.compose.PER_FACE_KEYS`), and the
loader says which faces the batch held (``BatchLoader.last_faces``). A :class:`FaceLossTracker`
per session folds them into one moving average per face, in NumPy arrays of the side's size, with
no file I/O until a save writes the table into the record (:mod:`fs_core.record.face_losses`).

One augmented sample is noisy, so a face's number is a moving average over the times it was drawn
(weight :data:`EMA_WEIGHT` for the newest): with the default sampler each face is drawn once per
pass over its side, so it spans the last few passes.

Off (``[global] track_face_loss = false``, or without the training record that would hold it), and
off under a distribution strategy other than ``default``: every value the step returns is reduced
across replicas (their mean) before the loop sees it, which would mix different faces' losses,
and each worker's loader draws its own faces.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from keras import ops

from fs_core.losses.compose import PER_FACE_KEYS
from fs_core.record import face_losses as table_format
from fs_core.record.face_losses import FaceLosses, SideFaceLosses

#: the newest sample's weight in a face's moving average
EMA_WEIGHT = 0.3


class FaceLossTracker:
    """Both sides' tables, updated after each step and written at each save."""

    def __init__(self, sides: Mapping[str, SideFaceLosses], weight: float = EMA_WEIGHT) -> None:
        self.sides = dict(sides)
        self.weight = float(weight)

    @classmethod
    def for_faces(
        cls, faces: Mapping[str, Any], model_dir: str | Path | None = None
    ) -> FaceLossTracker:
        """Tables for the face sets ``faces`` (side -> ``FaceSet``), carrying on from the table
        in ``model_dir``'s record where a side trains on the same folder: a face keeps its
        average by file name (faces added since start fresh, removed ones are dropped)."""
        saved = table_format.read(model_dir) if model_dir is not None else None
        sides = {}
        for side, faceset in faces.items():
            folder = str(Path(faceset.folder).resolve())
            names = [Path(path).name for path in faceset.paths]
            table = SideFaceLosses.empty(folder, names)
            before = saved.sides.get(side) if saved is not None else None
            if before is not None and before.folder == folder:
                _carry_over(before, table)
            sides[side] = table
        return cls(sides)

    def update(
        self, faces: Mapping[str, np.ndarray], losses: Mapping[str, Any], iteration: int
    ) -> None:
        """Fold one step's per-face ``losses`` (side -> (N,)) into the faces at the indices
        ``faces`` (side -> (N,)). A step whose values are not all finite is skipped whole."""
        values = {side: np.asarray(losses[side], np.float64).reshape(-1) for side in faces}
        if not all(np.isfinite(v).all() for v in values.values()):
            return
        for side, indices in faces.items():
            table = self.sides[side]
            for index, value in zip(np.asarray(indices, np.int64), values[side]):
                if table.seen[index]:
                    table.ema[index] += self.weight * (value - table.ema[index])
                else:
                    table.ema[index] = value
                table.seen[index] += 1
                table.last_seen[index] = iteration

    def table(self, iteration: int) -> FaceLosses:
        return FaceLosses(iteration=int(iteration), sides=self.sides)

    def save(self, model_dir: str | Path, iteration: int) -> None:
        """Write the tables into the model's record (at a save)."""
        table_format.write(model_dir, self.table(iteration))


def split_results(results: dict) -> tuple[dict, dict[str, Any] | None]:
    """The step's results without the per-face losses, and those (side -> values) or None when
    the step did not return them."""
    if PER_FACE_KEYS["a"] not in results:
        return results, None
    rest = {k: v for k, v in results.items() if k not in PER_FACE_KEYS.values()}
    return rest, {side: ops.convert_to_numpy(results[key]) for side, key in PER_FACE_KEYS.items()}


def tracking_refusal(options: Any, distribution_name: str) -> str | None:
    """Why per-face losses are not tracked this session (a line to print; "" when off with
    nothing to say), or None when they are."""
    if not getattr(options, "track_face_loss", True) or not getattr(
        options, "training_record", True
    ):
        return ""
    if distribution_name != "default":
        return (
            f"Per-face losses are not tracked under -d {distribution_name}: the step returns "
            "the replicas' mean of every value, which would mix different faces"
        )
    return None


def _carry_over(before: SideFaceLosses, table: SideFaceLosses) -> None:
    position = {str(name): i for i, name in enumerate(before.names)}
    for index, name in enumerate(table.names):
        old = position.get(str(name))
        if old is not None:
            table.ema[index] = before.ema[old]
            table.seen[index] = before.seen[old]
            table.last_seen[index] = before.last_seen[old]
