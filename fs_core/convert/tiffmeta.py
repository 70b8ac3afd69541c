"""A text in a TIFF's ImageDescription tag (270): where faceswap's patch writer stores a patch's
matrix when it writes TIFF.

OpenCV writes no ImageDescription, so the tag is added to the encoded bytes afterwards. faceswap
splices a 12-byte entry into OpenCV's directory and shifts the offsets after it; fs instead leaves
every original byte where it is and appends a copy of the first directory with the new entry (the
header then points at the copy), so nothing the encoder laid out has to move. The text is
stored as faceswap stores it: ASCII type, its count the text's length (no NUL terminator, which
faceswap's reader would hand to its JSON parser), so faceswap's reader and any TIFF reader see the
same value.
"""

from __future__ import annotations

import struct

DESCRIPTION_TAG = 270
_ASCII = 2
_CLASSIC_TIFF = 42
_ENTRY = 12


def _layout(data: bytes) -> tuple[str, int]:
    """(struct byte-order prefix, first directory offset) of a classic TIFF; ValueError else."""
    if data[:2] == b"II":
        order = "<"
    elif data[:2] == b"MM":
        order = ">"
    else:
        raise ValueError("not a TIFF file (no II/MM byte-order mark)")
    version, first = struct.unpack(order + "HI", data[2:8])
    if version != _CLASSIC_TIFF:
        raise ValueError(f"only classic TIFF (version 42) is supported, got version {version}")
    if not 8 <= first <= len(data) - 2:
        raise ValueError(f"the first directory offset {first} lies outside the file")
    return order, first


def _entries(data: bytes, order: str, first: int) -> tuple[list[bytes], int]:
    """The first directory's raw 12-byte entries and its next-directory offset."""
    (count,) = struct.unpack(order + "H", data[first : first + 2])
    end = first + 2 + count * _ENTRY
    if end + 4 > len(data):
        raise ValueError("the first directory runs past the end of the file")
    entries = [data[first + 2 + i * _ENTRY : first + 2 + (i + 1) * _ENTRY] for i in range(count)]
    (following,) = struct.unpack(order + "I", data[end : end + 4])
    return entries, following


def _tag(entry: bytes, order: str) -> int:
    return int(struct.unpack(order + "H", entry[:2])[0])


def add_description(data: bytes, text: bytes) -> bytes:
    """``data`` (an encoded TIFF) with ``text`` as the first image's ImageDescription, replacing
    any it had."""
    order, first = _layout(data)
    entries, following = _entries(data, order, first)
    kept = [entry for entry in entries if _tag(entry, order) != DESCRIPTION_TAG]
    out = bytearray(data)
    if len(text) > 4:
        out += b"\x00" * (len(out) % 2)  # word-aligned, as TIFF asks of offsets
        value = struct.pack(order + "I", len(out))
        out += text
    else:
        value = text.ljust(4, b"\x00")
    entry = struct.pack(order + "HHI", DESCRIPTION_TAG, _ASCII, len(text)) + value
    ordered = sorted([*kept, entry], key=lambda item: _tag(item, order))
    out += b"\x00" * (len(out) % 2)
    directory = len(out)
    out += struct.pack(order + "H", len(ordered)) + b"".join(ordered)
    out += struct.pack(order + "I", following)
    out[4:8] = struct.pack(order + "I", directory)
    return bytes(out)


def read_description(data: bytes) -> bytes | None:
    """The first image's ImageDescription bytes (as stored, up to its count), or None."""
    order, first = _layout(data)
    entries, _ = _entries(data, order, first)
    for entry in entries:
        tag, kind, count = struct.unpack(order + "HHI", entry[:8])
        if tag != DESCRIPTION_TAG or kind != _ASCII:
            continue
        if count <= 4:
            return entry[8 : 8 + count]
        (offset,) = struct.unpack(order + "I", entry[8:12])
        if offset + count > len(data):
            raise ValueError("the ImageDescription runs past the end of the file")
        return data[offset : offset + count]
    return None
