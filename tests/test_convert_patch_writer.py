"""The patch writer (``-w patch``): each swapped face with the matrix that puts it back, as PNG
(the matrix in a ``faceswap`` iTXt chunk) or TIFF (in the ImageDescription tag), as faceswap's
patch writer stores them."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from PIL import Image

from fs_core.config.sections import ConvertOptions
from fs_core.convert.tiffmeta import DESCRIPTION_TAG, add_description, read_description
from fs_core.convert.types import SourceInfo
from fs_core.convert.writers import PatchWriter, patch_done_keys
from fs_core.errors import FsUserError

SIZE = 32
WIDTH, HEIGHT = 640, 480
SOURCE = SourceInfo(Path("clip"), False, None, 2, WIDTH, HEIGHT)
KEY = "clip_000123.png"
STEM = "clip_00.000122"


def _patch() -> np.ndarray:
    ramp = np.linspace(0.0, 1.0, SIZE * SIZE * 4, dtype=np.float32).reshape(SIZE, SIZE, 4)
    return ramp[::-1] * 1.1 - 0.05  # some values outside 0-1, clipped when written


def _matrix() -> np.ndarray:
    """Frame -> patch: a face about 64 px across at (300, 200), turned by 0.2 rad."""
    scale, angle = SIZE / 64.0, 0.2
    rotation = scale * np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    return np.hstack([rotation, (-rotation @ [300.0, 200.0] + SIZE / 2)[:, None]])


def _png_text(data: bytes) -> bytes:
    """The text of the ``faceswap`` iTXt chunk (keyword, five zero bytes, text)."""
    pos = 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"iTXt" and body.startswith(b"faceswap\x00"):
            return body[len(b"faceswap") + 5 :]
        pos += 12 + length
    raise AssertionError("no faceswap iTXt chunk")


def _write(out: Path, patch_format: str, patches) -> PatchWriter:
    out.mkdir(exist_ok=True)
    writer = PatchWriter(out, SOURCE, ConvertOptions(writer="patch", patch_format=patch_format))
    writer.write_patches(0, KEY, (WIDTH, HEIGHT), patches, SIZE)
    writer.close()
    return writer


@pytest.mark.parametrize("patch_format, extension", [("png", ".png"), ("tiff", ".tiff")])
def test_patch_pixels_and_matrix(tmp_path, patch_format, extension):
    _write(tmp_path, patch_format, [(_patch(), _matrix())])
    path = tmp_path / f"{STEM}{extension}"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    data = path.read_bytes()
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    expected = (np.clip(_patch(), 0.0, 1.0) * 65535.0).astype(np.uint16)
    assert pixels.dtype == np.uint16
    np.testing.assert_array_equal(pixels, expected)
    text = _png_text(data) if extension == ".png" else read_description(data)
    meta = json.loads(text.decode("ascii"))
    assert set(meta) == {"transform_matrix", "roi"}
    # faceswap's default origin, bottom-left: the translation is where the patch's bottom-left
    # corner lands in the frame, y measured up from the frame's bottom
    to_frame = np.linalg.inv(np.vstack([_matrix(), [0.0, 0.0, 1.0]]))
    corner = to_frame @ [0.0, SIZE, 1.0]
    matrix = np.asarray(meta["transform_matrix"])
    np.testing.assert_allclose(matrix[:2, 2], [corner[0], HEIGHT - corner[1]], atol=1e-3)
    np.testing.assert_allclose(meta["roi"][0], matrix[:2, 2], atol=1e-3)


def test_tiff_carries_the_png_content(tmp_path):
    """Same pixels, same matrix text; the TIFF's description is read by an independent reader
    (Pillow) and holds the text exactly, without a terminating NUL (as faceswap writes it)."""
    _write(tmp_path / "png", "png", [(_patch(), _matrix())])
    _write(tmp_path / "tiff", "tiff", [(_patch(), _matrix())])
    png = (tmp_path / "png" / f"{STEM}.png").read_bytes()
    tiff = (tmp_path / "tiff" / f"{STEM}.tiff").read_bytes()
    assert tiff[:4] == b"II*\x00"
    decode = lambda data: cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)  # noqa: E731
    np.testing.assert_array_equal(decode(png), decode(tiff))
    assert read_description(tiff) == _png_text(png)
    with Image.open(io.BytesIO(tiff)) as image:
        assert image.tag_v2[DESCRIPTION_TAG] == _png_text(png).decode("ascii")
    assert not read_description(tiff).endswith(b"\x00")


def test_blank_frame_and_resume_by_format(tmp_path):
    _write(tmp_path, "tiff", [])
    blank = tmp_path / f"{STEM}.tiff"
    data = blank.read_bytes()
    assert not cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED).any()
    meta = json.loads(read_description(data))
    # the identity, its translation moved to the bottom-left origin (as faceswap writes it)
    np.testing.assert_allclose(
        meta["transform_matrix"], [[1, 0, 0], [0, 1, HEIGHT - SIZE], [0, 0, 1]]
    )
    keys = [KEY, "clip_000124.png"]
    tiff = ConvertOptions(writer="patch", patch_format="tiff")
    png = ConvertOptions(writer="patch", patch_format="png")
    assert patch_done_keys(tmp_path, SOURCE, tiff, keys) == {KEY}
    assert patch_done_keys(tmp_path, SOURCE, png, keys) == set()


def test_unknown_patch_format_is_refused(tmp_path):
    with pytest.raises(FsUserError, match="unknown patch_format 'jpg'"):
        PatchWriter(tmp_path, SOURCE, SimpleNamespace(patch_format="jpg"))


def test_description_is_replaced_and_keeps_the_image():
    image = (np.arange(8 * 8 * 3) % 251).astype(np.uint8).reshape(8, 8, 3)
    data = cv2.imencode(".tif", image)[1].tobytes()
    assert read_description(data) is None
    once = add_description(data, b'{"a": 1}')
    twice = add_description(once, b"xy")  # short: stored in the entry itself
    assert read_description(once) == b'{"a": 1}' and read_description(twice) == b"xy"
    for tagged in (once, twice):
        np.testing.assert_array_equal(
            cv2.imdecode(np.frombuffer(tagged, np.uint8), cv2.IMREAD_UNCHANGED), image
        )
    with Image.open(io.BytesIO(twice)) as opened:
        assert list(opened.tag_v2).count(DESCRIPTION_TAG) == 1
    with pytest.raises(ValueError, match="not a TIFF"):
        add_description(b"\x89PNG\r\n\x1a\n" + bytes(20), b"x")
