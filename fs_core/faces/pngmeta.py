"""The faceswap alignment header inside a face PNG (faceswap's ``lib/image.py`` writes it).

faceswap stores each extracted face's alignment data in one ``iTXt`` chunk with keyword
``faceswap``, which it writes before the first ``IDAT``. The PNG specification lets an iTXt chunk
stand anywhere between IHDR and IEND, and some re-encoders and optimisers move text chunks after the
image data, so the reader looks for it up to ``IEND``. The payload is ``str(dict)`` of a Python
literal (it holds ``bytes`` values), so it is parsed with :func:`ast.literal_eval`, never ``eval``.

Reading walks the chunk headers only, seeking over every chunk body but the iTXt ones (an unbuffered
handle, so a skipped IDAT is never read from disk), so a face set of thousands of images can be
indexed without decoding a single pixel; a faceswap face, whose header comes first, is read no
further than its header. Any defect a user's
file can have (not a PNG, truncated, bad CRC, a payload that is not a dict literal) becomes an
:class:`~fs_core.errors.FsUserError` naming the file; nothing else escapes for bad input.
"""

from __future__ import annotations

import ast
import io
import os
import struct
import threading
import zlib
from typing import Any, BinaryIO

import cv2
import numpy as np

from fs_core.atomic import atomic_write_bytes
from fs_core.errors import FsUserError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
KEYWORD = b"faceswap"
# keyword NUL, compression flag 0, compression method 0, empty language tag NUL, empty
# translated keyword NUL: what faceswap writes between the keyword and the payload.
_ITXT_PREFIX = KEYWORD + b"\x00" * 5
_MAX_CHUNK = 2**31 - 1  # the PNG specification's limit on a chunk's length
_MAX_PAYLOAD = (
    64 * 2**20
)  # a header larger than this is not a face header (and could exhaust memory)


def _chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, body and the CRC over type + body."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _read_exact(handle: BinaryIO, count: int, path: str | os.PathLike | None) -> bytes:
    """``count`` bytes from ``handle`` (an unbuffered file may return fewer per call: keep
    reading)."""
    data = handle.read(count)
    while data is not None and 0 < len(data) < count:
        more = handle.read(count - len(data))
        if not more:
            break
        data += more
    if data is None or len(data) != count:
        raise FsUserError(
            "the PNG file is truncated (it ends inside a chunk, before its IEND chunk)", path
        )
    return data


def _itxt_text(body: bytes, path: str | os.PathLike | None) -> bytes:
    """The text of the ``faceswap`` iTXt chunk ``body`` (decompressed if it is compressed)."""
    _keyword, _sep, rest = body.partition(b"\x00")
    if len(rest) < 2:
        raise FsUserError(
            "the faceswap header chunk (iTXt) is malformed: it stops after the keyword", path
        )
    compressed, method, rest = rest[0], rest[1], rest[2:]
    _language, sep1, rest = rest.partition(b"\x00")
    _translated, sep2, text = rest.partition(b"\x00")
    if not (sep1 and sep2):
        raise FsUserError(
            "the faceswap header chunk (iTXt) is malformed: missing language or "
            "translated-keyword fields",
            path,
        )
    if compressed == 0:
        return text
    if compressed != 1 or method != 0:
        raise FsUserError(
            f"the faceswap header chunk uses an unknown compression ({compressed}, {method})", path
        )
    try:
        decomp = zlib.decompressobj()
        text = decomp.decompress(text, _MAX_PAYLOAD + 1)
    except zlib.error as err:
        raise FsUserError(
            f"the faceswap header chunk is corrupt: cannot decompress it ({err})", path
        ) from err
    if len(text) > _MAX_PAYLOAD:
        raise FsUserError("the faceswap header is too large to be a face header", path)
    return text


#: CPython 3.11 before 3.11.8 (gh-106905) can raise "SystemError: AST constructor recursion depth
#: mismatch" when two threads build ASTs at once, as the face cache's reader threads do. Parsing
#: holds the GIL anyway, so taking turns costs nothing.
_LITERAL_EVAL_LOCK = threading.Lock()


def _parse_payload(text: bytes, path: str | os.PathLike | None) -> dict:
    try:
        source = text.decode("utf-8")
    except UnicodeDecodeError as err:
        raise FsUserError(
            f"the faceswap header is not UTF-8 text ({err.reason} at byte {err.start})", path
        ) from err
    if "\x00" in source:
        raise FsUserError("the faceswap header contains NUL characters; it is corrupt", path)
    try:
        with _LITERAL_EVAL_LOCK:
            value = ast.literal_eval(source)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError) as err:
        kind = type(err).__name__
        raise FsUserError(
            f"the faceswap header is not a valid Python literal ({kind}); the file "
            "is corrupt or was not written by faceswap",
            path,
        ) from err
    if not isinstance(value, dict):
        raise FsUserError(
            f"the faceswap header holds a {type(value).__name__}, expected a dict", path
        )
    return value


def read_faceswap_metadata(path: str | os.PathLike) -> dict | None:
    """The faceswap header dict of the PNG at ``path``, or None when it has none.

    Walks the chunks up to IEND (or the faceswap chunk) without reading pixels. Raises FsUserError
    when the file is not a PNG, is truncated, has a bad CRC on the faceswap chunk, or its payload
    is not a dict literal.
    """
    try:
        handle = open(path, "rb", buffering=0)
    except OSError as err:
        raise FsUserError(f"cannot read the file: {err.strerror or err}", path) from err
    with handle:
        return _scan(handle, path)


def faceswap_metadata_from_bytes(data: bytes, path: str | os.PathLike | None = None) -> dict | None:
    """As :func:`read_faceswap_metadata`, for PNG bytes already in memory (``path`` names them)."""
    return _scan(io.BytesIO(data), path)


def _scan(handle: BinaryIO, path: str | os.PathLike | None) -> dict | None:
    """Walk the chunks of the PNG in ``handle`` up to IEND; return the faceswap dict (or None)."""
    if handle.read(8) != PNG_SIGNATURE:
        raise FsUserError("not a PNG file (the PNG signature is missing)", path)
    first = True
    while True:
        header = _read_exact(handle, 8, path)
        length, kind = struct.unpack(">I4s", header)
        if length > _MAX_CHUNK or not kind.isalpha():
            raise FsUserError("the PNG file is corrupt: a chunk header is invalid", path)
        if first and kind != b"IHDR":
            raise FsUserError("the PNG file is corrupt: it does not start with an IHDR chunk", path)
        first = False
        if kind == b"IEND":
            return None
        if kind != b"iTXt" or length > _MAX_PAYLOAD:
            handle.seek(length + 4, os.SEEK_CUR)  # body and CRC, unread (IDAT included)
            continue
        body = _read_exact(handle, length, path)
        (crc,) = struct.unpack(">I", _read_exact(handle, 4, path))
        if not body.startswith(KEYWORD + b"\x00"):
            continue  # some other tool's iTXt chunk
        if zlib.crc32(kind + body) != crc:
            raise FsUserError("the faceswap header chunk is corrupt (CRC mismatch)", path)
        text = _itxt_text(body, path)
        return _parse_payload(text, path)


def _literal(value: Any) -> Any:
    """``value`` with numpy arrays and scalars turned into plain Python, so ``str()`` is a literal.

    numpy 2 prints scalars as ``np.float32(1.0)``, which no literal parser reads back.
    """
    if isinstance(value, dict):
        return {_literal(key): _literal(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        items = [_literal(item) for item in value]
        return items if isinstance(value, list) else tuple(items)
    return value


def encode_faceswap_png(image_bgr: np.ndarray, metadata: dict) -> bytes:
    """PNG bytes of ``image_bgr`` with ``metadata`` in a ``faceswap`` iTXt chunk before the IDAT."""
    ok, encoded = cv2.imencode(".png", image_bgr)
    if not ok:  # pragma: no cover - cv2 only fails on arrays it cannot store (a programming error)
        raise ValueError(f"cv2 could not encode an image of shape {image_bgr.shape} as PNG")
    data = encoded.tobytes()
    pos = 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            break
        pos += 12 + length
    else:  # pragma: no cover - every PNG cv2 writes has an IDAT
        raise ValueError("cv2 wrote a PNG without IDAT")
    payload = str(_literal(metadata)).encode("utf-8")
    return data[:pos] + _chunk(b"iTXt", _ITXT_PREFIX + payload) + data[pos:]


def write_faceswap_png(path: str | os.PathLike, image_bgr: np.ndarray, metadata: dict) -> None:
    """Write a faceswap-style face PNG (image + header) atomically."""
    atomic_write_bytes(path, encode_faceswap_png(image_bgr, metadata))
