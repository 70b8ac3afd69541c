"""The faces a preview shows: a fixed handful per side, prepared once, never augmented.

Each face is prepared twice from the same file: the training crop (the model's input and the
target its output is compared with) and, when ``coverage`` is under 100 %, the coverage-100 crop
that the preview tile shows around the prediction, so the user sees what the model does *not*
cover. The face mask comes along when training uses one (penalized loss or a learned mask), for
the overlay.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import attrs
import numpy as np

from fs_core.faces.prepare import LANDMARK_MASKS, PrepareSpec, prepare_face
from fs_core.faces.read import read_face


@attrs.frozen
class PreviewFaces:
    """One side's preview faces.

    ``crops``: uint8 (N, P, P, 3) BGR, the training crop at process size. ``tiles``: uint8
    (N, T, T, 3) BGR, what a tile shows behind the prediction: the coverage-100 crop when coverage
    is under 100 %, else the training crop, at tile size T. ``masks``: float32 (N, T, T) in [0, 1],
    the face mask at tile size, or None when no mask is in use. ``paths`` names the faces.
    """

    crops: np.ndarray
    tiles: np.ndarray
    masks: np.ndarray | None
    paths: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.crops.shape[0])


def pick_evenly(paths: Sequence[os.PathLike | str], count: int) -> list[str]:
    """``count`` paths spread evenly over the sorted list (all of them when there are fewer), so a
    preview shows the range of a set rather than its first few frames."""
    names = [os.fspath(p) for p in paths]
    if len(names) <= count:
        return names
    step = len(names) / count
    return [names[int(i * step)] for i in range(count)]


def tile_size(output_size: int, coverage: float) -> int:
    """The tile size T that holds the coverage-100 crop with an ``output_size`` prediction in its
    centre; an even margin so the prediction sits exactly in the middle."""
    if coverage >= 100.0:
        return int(output_size)
    full = int(math.ceil(output_size * 100.0 / coverage))
    return full + (full - output_size) % 2


def preview_spec(
    spec: PrepareSpec,
    with_mask: bool,
    has_landmarks: bool,
    stored_masks: frozenset = frozenset(),
    has_features: bool = True,
) -> PrepareSpec:
    """The training ``spec`` asking only for the face mask, and only when these faces can give it
    (a timelapse folder of plain crops has no landmarks for an ``extended`` mask, nor has one of
    4-point faces, whose landmarks locate no features: ``has_features`` False)."""
    drawn = spec.mask_type in LANDMARK_MASKS and has_features
    can_mask = spec.mask_type == "none" or (
        has_landmarks and (drawn or spec.mask_type in stored_masks)
    )
    names = ("face",) if with_mask and can_mask and spec.mask_type != "none" else ()
    return attrs.evolve(spec, mask_names=names)


def load_preview_faces(paths: Sequence[str], spec: PrepareSpec, output_size: int) -> PreviewFaces:
    """Prepare ``paths`` with ``spec`` (see :func:`preview_spec`) for tiles around ``output_size``
    predictions. Errors from reading or preparing a face are FsUserError naming it."""
    size = tile_size(output_size, spec.coverage)
    full_spec = (
        attrs.evolve(spec, size=size, coverage=100.0)
        if size != output_size
        else attrs.evolve(spec, size=size)
    )
    crops, tiles, masks = [], [], []
    for path in paths:
        record = read_face(path)
        crops.append(prepare_face(record, attrs.evolve(spec, mask_names=()), path).image)
        full = prepare_face(record, full_spec, path)
        tiles.append(full.image)
        if full.masks is not None:
            masks.append(full.masks[..., 0].astype(np.float32) / 255.0)
    return PreviewFaces(
        crops=np.stack(crops),
        tiles=np.stack(tiles),
        masks=np.stack(masks) if masks else None,
        paths=tuple(paths),
    )
