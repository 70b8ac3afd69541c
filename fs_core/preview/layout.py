"""The preview grid, laid out as faceswap's (``lib/training/preview.py``).

Each row shows one face: for side A the original, A > A (decoder A's reconstruction) and A > B
(the swap through decoder B); side B's triple (B, B > B, B > A) sits beside it. A tile is the
coverage-100 crop with the prediction pasted in its centre; when coverage is under 100 % thin
brackets in the mask colour mark the corners of the area the model sees. With a mask in use, the
area outside it is tinted. A white header names the columns; a grid taller than wide is split in
two halves placed side by side, so it fits a screen.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs
import cv2
import numpy as np

from fs_core.errors import FsUserError

LABELS = {"a": ("A", "A > A", "A > B"), "b": ("B", "B > B", "B > A")}
COLUMNS = 6


def parse_color(text: str) -> tuple[int, int, int]:
    """``#rrggbb`` -> a BGR tuple; anything else is a user error naming the option."""
    if not isinstance(text, str) or not re.fullmatch(r"#[0-9a-fA-F]{6}", text.strip()):
        raise FsUserError(f"[augmentation] mask_color: {text!r} is not a colour like #ff0000")
    value = text.strip()[1:]
    red, green, blue = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return blue, green, red


@attrs.frozen
class PreviewStyle:
    """How the grid is drawn: overlay ``opacity`` (0-1), ``color`` (BGR), ``show_mask``."""

    opacity: float = 0.3
    color: tuple[int, int, int] = (0, 0, 255)
    show_mask: bool = True


@attrs.frozen
class SideImages:
    """One side's pictures. ``tiles``: uint8 (N, T, T, 3) BGR backgrounds (coverage-100 crops).
    ``targets``: uint8 (N, O, O, 3) the training crops at output size (what the original column
    shows in the coverage box). ``reconstructions``/``swaps``: uint8 (N, O, O, 3) BGR predictions.
    ``masks``: float (N, T, T) target face masks or None; ``learned``: float (N, O, O) masks for the
    reconstruction and the swap, each None when the model learns no mask."""

    tiles: np.ndarray
    targets: np.ndarray
    reconstructions: np.ndarray
    swaps: np.ndarray
    masks: np.ndarray | None = None
    learned: tuple[np.ndarray | None, np.ndarray | None] = (None, None)


def _paste_centre(tile: np.ndarray, patch: np.ndarray) -> np.ndarray:
    out = tile.copy()
    offset = (tile.shape[0] - patch.shape[0]) // 2
    out[offset : offset + patch.shape[0], offset : offset + patch.shape[1]] = patch
    return out


def _brackets(tile: np.ndarray, patch: int, color: tuple[int, int, int]) -> np.ndarray:
    """Paint four squares of side patch/4 from 1 px outside each corner of the coverage box; the
    prediction pasted over them leaves 1 px L-shaped corner brackets."""
    out = tile.copy()
    size = tile.shape[0]
    offset = (size - patch) // 2
    side = max(2, patch // 4)
    low, high = offset - 1, offset + patch + 1
    for y0 in (low, high - side):
        for x0 in (low, high - side):
            out[max(y0, 0) : min(y0 + side, size), max(x0, 0) : min(x0 + side, size)] = color
    return out


def _overlay(tile: np.ndarray, mask: np.ndarray, style: PreviewStyle) -> np.ndarray:
    """tile * (1 - o(1 - m)) + colour * o(1 - m): the area outside the mask is tinted."""
    weight = style.opacity * (1.0 - np.clip(mask, 0.0, 1.0))[..., None]
    color = np.asarray(style.color, np.float32)
    mixed = tile.astype(np.float32) * (1.0 - weight) + color * weight
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def make_tile(
    background: np.ndarray, patch: np.ndarray, mask: np.ndarray | None, style: PreviewStyle
) -> np.ndarray:
    """One tile: ``patch`` in the centre of ``background`` with brackets when it is smaller, and the
    mask overlay when ``mask`` (at tile size) is given and ``style.show_mask``."""
    tile = background
    if background.shape[0] > patch.shape[0]:
        tile = _brackets(background, patch.shape[0], style.color)
    tile = _paste_centre(tile, patch)
    if mask is not None and style.show_mask:
        tile = _overlay(tile, mask, style)
    return tile


def _tile_mask(target: np.ndarray | None, learned: np.ndarray | None) -> np.ndarray | None:
    """The target mask, with the learned mask in the centre for a prediction column."""
    if target is None:
        return learned
    if learned is None:
        return target
    return _paste_centre(target, learned.astype(np.float32))


def side_rows(side: SideImages, style: PreviewStyle) -> np.ndarray:
    """(N, T, 3T, 3): each face's (original, reconstruction, swap) tiles side by side."""
    rows = []
    for index in range(len(side.tiles)):
        target = None if side.masks is None else side.masks[index]
        cells = [make_tile(side.tiles[index], side.targets[index], target, style)]
        for predictions, learned in (
            (side.reconstructions, side.learned[0]),
            (side.swaps, side.learned[1]),
        ):
            mask = _tile_mask(target, None if learned is None else learned[index])
            cells.append(make_tile(side.tiles[index], predictions[index], mask, style))
        rows.append(np.concatenate(cells, axis=1))
    return np.stack(rows)


def header(width: int, tile: int, labels: Sequence[str]) -> np.ndarray:
    """A white strip (height tile/4.5) with each column's label centred in black."""
    height = max(8, int(tile / 4.5))
    strip = np.full((height, width, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = max(0.25, height / 30.0)
    thickness = 1
    for index, label in enumerate(labels):
        (text_w, text_h), _ = cv2.getTextSize(label, font, scale, thickness)
        x = index * tile + max(0, (tile - text_w) // 2)
        y = (height + text_h) // 2
        cv2.putText(strip, label, (x, y), font, scale, (0, 0, 0), thickness, cv2.LINE_AA)
    return strip


def _with_header(grid: np.ndarray, tile: int) -> np.ndarray:
    labels = LABELS["a"] + LABELS["b"]
    return np.concatenate([header(grid.shape[1], tile, labels), grid], axis=0)


def render_preview(side_a: SideImages, side_b: SideImages, style: PreviewStyle) -> np.ndarray:
    """The whole preview as uint8 BGR. Rows pair face i of A with face i of B; a side with fewer
    faces is padded with black tiles."""
    rows_a, rows_b = side_rows(side_a, style), side_rows(side_b, style)
    if rows_a.shape[1:] != rows_b.shape[1:]:
        raise ValueError(
            f"sides have different tile sizes: {rows_a.shape[1:]} and {rows_b.shape[1:]}"
        )
    count = max(len(rows_a), len(rows_b))

    def pad(rows: np.ndarray) -> np.ndarray:
        if len(rows) >= count:
            return rows
        return np.concatenate([rows, np.zeros((count - len(rows),) + rows.shape[1:], np.uint8)])

    rows = np.concatenate([pad(rows_a), pad(rows_b)], axis=2)  # (N, T, 6T, 3)
    tile = rows.shape[1]
    grid = rows.reshape(-1, rows.shape[2], 3)
    full = _with_header(grid, tile)
    if full.shape[0] <= full.shape[1] or count < 2:
        return full
    half = (count + 1) // 2
    first = rows[:half].reshape(-1, rows.shape[2], 3)
    second = rows[half:].reshape(-1, rows.shape[2], 3)
    if second.shape[0] < first.shape[0]:
        filler = np.zeros((first.shape[0] - second.shape[0], rows.shape[2], 3), np.uint8)
        second = np.concatenate([second, filler], axis=0)
    return np.concatenate([_with_header(first, tile), _with_header(second, tile)], axis=1)
