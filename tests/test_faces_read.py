"""Reading faces: faceswap PNGs, plain crops, and every kind of bad file named in the error."""

from __future__ import annotations

import zlib

import cv2
import numpy as np
import pytest

import fs_core
from fs_core.errors import FsUserError
from fs_core.faces.pngmeta import encode_faceswap_png, write_faceswap_png
from fs_core.faces.read import FaceRecord, read_face


def _image(height=24, width=24, channels=3):
    shape = (height, width) if channels == 1 else (height, width, channels)
    return np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)


def _meta(points=68, mask_size=8):
    mask = np.arange(mask_size * mask_size, dtype=np.uint8).reshape(mask_size, mask_size)
    return {
        "alignments": {
            "x": 0,
            "y": 0,
            "w": 10,
            "h": 10,
            "landmarks_xy": [[float(i), float(2 * i)] for i in range(points)],
            "mask": {
                "custom_face": {
                    "mask": zlib.compress(mask.tobytes()),
                    "affine_matrix": [[1.0, 0, 0], [0, 1.0, 0]],
                    "interpolator": 3,
                    "stored_size": mask_size,
                    "stored_centering": "face",
                }
            },
        },
        "source": {"original_filename": "x_0.png"},
    }


def test_faceswap_png(tmp_path):
    path = tmp_path / "face.png"
    image = _image()
    write_faceswap_png(path, image, _meta())
    record = fs_core.read_face(path)
    assert isinstance(record, FaceRecord)
    assert record.image.dtype == np.uint8 and np.array_equal(record.image, image)
    assert record.landmarks.dtype == np.float32 and record.landmarks.shape == (68, 2)
    assert record.landmarks[5].tolist() == [5.0, 10.0]
    assert list(record.masks) == ["custom_face"]
    assert record.masks["custom_face"].shape == (8, 8)
    assert record.masks["custom_face"][1, 2] == 10
    assert record.metadata["source"]["original_filename"] == "x_0.png"


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_plain_crop(tmp_path, suffix):
    path = tmp_path / f"plain{suffix}"
    cv2.imwrite(str(path), _image())
    record = read_face(path)
    assert record.image.shape == (24, 24, 3)
    assert record.landmarks is None and record.masks == {} and record.metadata == {}


def _expect(path, pattern):
    with pytest.raises(FsUserError, match=pattern) as info:
        read_face(path)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)


def test_truncated_png(tmp_path):
    data = encode_faceswap_png(_image(64, 64), _meta())
    for cut in (len(data) - 20, len(data) // 2, 40):
        path = tmp_path / f"cut{cut}.png"
        path.write_bytes(data[:cut])
        _expect(path, "truncated")


def test_truncated_jpeg(tmp_path):
    _ok, data = cv2.imencode(".jpg", _image(64, 64))
    path = tmp_path / "cut.jpg"
    path.write_bytes(data.tobytes()[:-300])
    _expect(path, "truncated")


def test_text_file_named_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n")
    _expect(path, "not a readable image")


def test_empty_and_missing(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    _expect(path, "empty")
    _expect(tmp_path / "missing.png", "cannot read")


@pytest.mark.parametrize("channels, word", [(1, "grayscale"), (4, "alpha")])
def test_wrong_channels(tmp_path, channels, word):
    path = tmp_path / f"c{channels}.png"
    cv2.imwrite(str(path), _image(channels=channels))
    _expect(path, word)


def test_sixteen_bit(tmp_path):
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), (_image().astype(np.uint16) * 257))
    _expect(path, "8-bit")


def test_non_square(tmp_path):
    path = tmp_path / "wide.png"
    cv2.imwrite(str(path), _image(24, 30))
    _expect(path, "square")


def test_bad_header_contents(tmp_path):
    path = tmp_path / "few.png"
    write_faceswap_png(path, _image(), _meta(points=51))
    _expect(path, "51-point landmarks; fs reads 68-, 98- and 4-point")
    meta = _meta()
    meta["alignments"]["mask"]["custom_face"]["mask"] = b"not zlib"
    write_faceswap_png(path, _image(), meta)
    _expect(path, "custom_face")
    meta = _meta()
    meta["alignments"]["mask"]["custom_face"]["stored_size"] = 9
    write_faceswap_png(path, _image(), meta)
    _expect(path, "9x9")
