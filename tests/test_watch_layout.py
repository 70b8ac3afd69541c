"""The preview grid drawn from synthetic pictures: size, panel order, brackets, overlay, header."""

from __future__ import annotations

import numpy as np
import pytest

from fs_core.errors import FsUserError
from fs_core.preview.faces import pick_evenly, tile_size
from fs_core.preview.layout import (
    PreviewStyle,
    SideImages,
    header,
    make_tile,
    parse_color,
    render_preview,
)

RED = (0, 0, 255)


def _side(
    count: int,
    tile: int,
    out: int,
    values: tuple[int, int, int, int],
    masks=None,
    learned=(None, None),
) -> SideImages:
    """Flat-coloured pictures: tile background, target, reconstruction, swap each one grey level."""
    flat = lambda size, v: np.full((count, size, size, 3), v, np.uint8)  # noqa: E731
    return SideImages(
        tiles=flat(tile, values[0]),
        targets=flat(out, values[1]),
        reconstructions=flat(out, values[2]),
        swaps=flat(out, values[3]),
        masks=masks,
        learned=learned,
    )


def test_grid_size_and_panel_order_without_split():
    style = PreviewStyle(show_mask=False)
    image = render_preview(
        _side(2, 64, 64, (10, 20, 30, 40)), _side(2, 64, 64, (50, 60, 70, 80)), style
    )
    head = int(64 / 4.5)
    assert image.shape == (head + 2 * 64, 6 * 64, 3) and image.dtype == np.uint8
    centres = [int(image[head + 32, 64 * col + 32, 0]) for col in range(6)]
    # A, A > A, A > B, then B, B > B, B > A
    assert centres == [20, 30, 40, 60, 70, 80]
    assert (image[:head] == 255).mean() > 0.8 and (image[:head] < 128).any()  # labels on white


def test_tall_grid_is_split_into_two_halves_side_by_side():
    image = render_preview(
        _side(8, 64, 64, (1, 2, 3, 4)),
        _side(8, 64, 64, (5, 6, 7, 8)),
        PreviewStyle(show_mask=False),
    )
    head = int(64 / 4.5)
    assert image.shape == (head + 4 * 64, 12 * 64, 3)
    assert int(image[head + 32, 6 * 64 + 32, 0]) == 2  # the right half starts with side A again


def test_odd_count_pads_the_second_half():
    image = render_preview(
        _side(7, 64, 64, (1, 2, 3, 4)),
        _side(7, 64, 64, (5, 6, 7, 8)),
        PreviewStyle(show_mask=False),
    )
    head = int(64 / 4.5)
    assert image.shape == (head + 4 * 64, 12 * 64, 3)
    assert int(image[head + 3 * 64 + 32, 6 * 64 + 32].max()) == 0  # the empty slot is black
    assert int(image[head + 2 * 64 + 32, 6 * 64 + 32, 0]) == 2


def test_coverage_brackets_mark_the_corners_of_the_prediction():
    out, tile = 64, tile_size(64, 87.5)
    assert tile > out and (tile - out) % 2 == 0
    background = np.full((tile, tile, 3), 100, np.uint8)
    patch = np.full((out, out, 3), 200, np.uint8)
    cell = make_tile(background, patch, None, PreviewStyle(color=RED))
    offset = (tile - out) // 2
    assert tuple(cell[offset - 1, offset - 1]) == RED  # the corner of the bracket
    assert tuple(cell[offset - 1, offset + out // 4 - 2]) == RED  # along its top arm
    assert tuple(cell[offset - 1, offset + out // 2]) == (100, 100, 100)  # not beyond it
    assert tuple(cell[offset + 5, offset + 5]) == (200, 200, 200)  # the prediction on top
    assert tuple(cell[0, 0]) == (100, 100, 100)
    assert tuple(cell[tile - offset, tile - offset]) == RED  # bottom-right bracket corner


def test_mask_overlay_tints_only_outside_the_mask():
    background = np.full((8, 8, 3), 100, np.uint8)
    mask = np.zeros((8, 8), np.float32)
    mask[:, 4:] = 1.0
    cell = make_tile(background, background, mask, PreviewStyle(opacity=0.5, color=RED))
    assert tuple(cell[0, 0]) == (50, 50, 178)  # 100 * 0.5 + (0, 0, 255) * 0.5
    assert tuple(cell[0, 7]) == (100, 100, 100)
    hidden = make_tile(background, background, mask, PreviewStyle(opacity=0.5, show_mask=False))
    assert (hidden == 100).all()


def test_learned_mask_replaces_the_target_mask_inside_the_prediction():
    tile, out = 12, 8
    side = _side(
        1,
        tile,
        out,
        (100, 100, 100, 100),
        masks=np.ones((1, tile, tile), np.float32),
        learned=(np.zeros((1, out, out), np.float32), None),
    )
    image = render_preview(side, side, PreviewStyle(opacity=1.0, color=RED))
    head = max(8, int(tile / 4.5))
    assert tuple(image[head + 6, 6]) == (100, 100, 100)  # original: inside the target mask
    assert tuple(image[head + 6, tile + 6]) == RED  # A > A: the learned mask is empty
    assert tuple(image[head + 6, 2 * tile + 6]) == (100, 100, 100)  # A > B: no learned mask


def test_header_labels_each_column():
    strip = header(6 * 64, 64, ["A", "A > A", "A > B", "B", "B > B", "B > A"])
    for col in range(6):
        assert (strip[:, col * 64 : (col + 1) * 64] < 128).any()


def test_mask_color_is_checked():
    assert parse_color("#ff8000") == (0, 128, 255)
    with pytest.raises(FsUserError, match="mask_color"):
        parse_color("red")


def test_pick_evenly_spreads_over_the_set():
    paths = [f"{i:02d}.png" for i in range(10)]
    assert pick_evenly(paths, 5) == ["00.png", "02.png", "04.png", "06.png", "08.png"]
    assert pick_evenly(paths[:3], 5) == paths[:3]
