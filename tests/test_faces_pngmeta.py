"""The faceswap PNG header: round trip, absence, corruption, and a fuzz of the reader."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fs_core.errors import FsUserError
from fs_core.faces.pngmeta import (
    encode_faceswap_png,
    faceswap_metadata_from_bytes,
    read_faceswap_metadata,
    write_faceswap_png,
)

META = {
    "alignments": {
        "x": 10,
        "y": 12,
        "w": 40,
        "h": 44,
        "landmarks_xy": [[float(i), float(i) * 0.5 + 0.25] for i in range(68)],
        "mask": {
            "custom_face": {
                "mask": zlib.compress(bytes(range(256)) * 64),
                "affine_matrix": [[0.5, 0.0, 3.0], [0.0, 0.5, -1.5]],
                "interpolator": 3,
                "stored_size": 128,
                "stored_centering": "face",
            }
        },
        "identity": {},
    },
    "source": {
        "alignments_version": 2.4,
        "original_filename": "frame_0.png",
        "face_index": 0,
        "source_filename": "frame.png",
        "source_is_video": False,
        "source_frame_dims": [480, 640],
    },
}


def _image(size=16):
    return np.random.default_rng(1).integers(0, 255, (size, size, 3), dtype=np.uint8)


def _chunks(data: bytes):
    """(offset, type, body) for each chunk of a PNG."""
    pos, out = 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        out.append((pos, kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def test_round_trip(tmp_path):
    path = tmp_path / "face.png"
    image = _image()
    write_faceswap_png(path, image, META)
    assert read_faceswap_metadata(path) == META
    assert np.array_equal(cv2.imread(str(path)), image)  # pixels untouched by the extra chunk
    assert [p.name for p in tmp_path.iterdir()] == ["face.png"]  # no temporary file left


def test_chunk_layout_is_faceswaps():
    data = encode_faceswap_png(_image(), {"a": 1})
    kinds = [kind for _, kind, _ in _chunks(data)]
    assert kinds.index(b"iTXt") == kinds.index(b"IDAT") - 1
    body = next(body for _, kind, body in _chunks(data) if kind == b"iTXt")
    assert body == b"faceswap" + b"\x00" * 5 + b"{'a': 1}"


def test_numpy_values_are_written_as_plain_literals():
    meta = {"v": np.float32(1.5), "a": np.arange(3, dtype=np.int64), "t": (np.int32(2),)}
    assert faceswap_metadata_from_bytes(encode_faceswap_png(_image(), meta)) == {
        "v": 1.5,
        "a": [0, 1, 2],
        "t": (2,),
    }


def test_png_without_header_gives_none(tmp_path):
    path = tmp_path / "plain.png"
    cv2.imwrite(str(path), _image())
    assert read_faceswap_metadata(path) is None


def test_other_itxt_chunks_are_skipped():
    data = encode_faceswap_png(_image(), {"k": "v"})
    other = b"Comment\x00\x00\x00\x00\x00hello"
    chunk = (
        struct.pack(">I", len(other))
        + b"iTXt"
        + other
        + struct.pack(">I", zlib.crc32(b"iTXt" + other))
    )
    first_idat_less = _chunks(data)[1][0]  # right after IHDR
    data = data[:first_idat_less] + chunk + data[first_idat_less:]
    assert faceswap_metadata_from_bytes(data) == {"k": "v"}


def _with_body(data: bytes, new_body: bytes, fix_crc: bool) -> bytes:
    pos, _, body = next(c for c in _chunks(data) if c[1] == b"iTXt")
    crc = zlib.crc32(b"iTXt" + new_body) if fix_crc else zlib.crc32(b"iTXt" + body)
    chunk = struct.pack(">I", len(new_body)) + b"iTXt" + new_body + struct.pack(">I", crc)
    return data[:pos] + chunk + data[pos + 12 + len(body) :]


def test_corrupted_chunk_raises(tmp_path):
    data = encode_faceswap_png(_image(), META)
    _, _, body = next(c for c in _chunks(data) if c[1] == b"iTXt")
    flipped = bytearray(body)
    flipped[40] ^= 0x55
    path = tmp_path / "bad.png"
    path.write_bytes(_with_body(data, bytes(flipped), fix_crc=False))
    with pytest.raises(FsUserError, match="CRC") as info:
        read_faceswap_metadata(path)
    assert info.value.path == str(path)


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"{'a': 1", "literal"),
        (b"__import__('os')", "literal"),
        (b"[1, 2]", "expected a dict"),
        (b"\xff\xfe{}", "UTF-8"),
    ],
)
def test_bad_payload_raises(tmp_path, payload, message):
    data = _with_body(encode_faceswap_png(_image(), {}), b"faceswap" + b"\x00" * 5 + payload, True)
    path = tmp_path / "bad.png"
    path.write_bytes(data)
    with pytest.raises(FsUserError, match=message):
        read_faceswap_metadata(path)


def test_not_a_png_and_truncated(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("hello, not an image")
    with pytest.raises(FsUserError, match="not a PNG") as info:
        read_faceswap_metadata(text)
    assert "notes.png" in str(info.value)
    data = encode_faceswap_png(_image(), META)
    cut = tmp_path / "cut.png"
    cut.write_bytes(data[:60])
    with pytest.raises(FsUserError, match="truncated"):
        read_faceswap_metadata(cut)
    with pytest.raises(FsUserError, match="cannot read"):
        read_faceswap_metadata(tmp_path / "missing.png")


_VALID = encode_faceswap_png(_image(8), META)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data):
    for blob in (data, b"\x89PNG\r\n\x1a\n" + data):
        try:
            result = faceswap_metadata_from_bytes(blob, "fuzz.png")
        except FsUserError:
            continue
        assert result is None or isinstance(result, dict)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), max_size=6),
    st.integers(0, len(_VALID)),
)
def test_fuzz_mutated_png(mutations, cut):
    data = bytearray(_VALID[:cut] if cut > 8 else _VALID)
    for pos, value in mutations:
        if pos < len(data):
            data[pos] = value
    try:
        result = faceswap_metadata_from_bytes(bytes(data), "fuzz.png")
    except FsUserError:
        return
    assert result is None or isinstance(result, dict)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutated_payload(data):
    payload = bytearray(str(META).encode())
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["set", "delete", "insert"]))
        pos = data.draw(st.integers(0, len(payload) - 1))
        if op == "set":
            payload[pos] = data.draw(st.integers(0, 255))
        elif op == "delete":
            del payload[pos]
        else:
            payload[pos:pos] = data.draw(st.binary(min_size=1, max_size=4))
    blob = _with_body(_VALID, b"faceswap" + b"\x00" * 5 + bytes(payload), fix_crc=True)
    try:
        result = faceswap_metadata_from_bytes(blob, "fuzz.png")
    except FsUserError:
        return
    assert isinstance(result, dict)
