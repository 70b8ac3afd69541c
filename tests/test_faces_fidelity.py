"""Face sets as faceswap leaves them: pre-2.0 (legacy-centred) faces, a header moved after the image
data, and stray images without a header in a folder of extracted faces."""

from __future__ import annotations

import copy
import logging
import struct

import cv2
import numpy as np
import pytest

from fs_core.data.loader import BatchLoader
from fs_core.errors import FsUserError
from fs_core.faces import alignment as al
from fs_core.faces.demo import write_demo_data
from fs_core.faces.faceset import index_faceset
from fs_core.faces.pngmeta import (
    encode_faceswap_png,
    faceswap_metadata_from_bytes,
    read_faceswap_metadata,
    write_faceswap_png,
)
from fs_core.faces.prepare import PrepareSpec, check_faceset, prepare_face
from fs_core.faces.read import read_face

S = 192  # stored face size
P = 64  # training crop size


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder_a, _ = write_demo_data(tmp_path_factory.mktemp("demo"), count=4, size=S, seed=7)
    return sorted(folder_a.glob("*.png"))


def _copy(paths, folder):
    folder.mkdir()
    for path in paths:
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


def _legacy_face(head_path, out_path, version=1.0):
    """Write ``head_path``'s face as faceswap before 2.0 would have: the legacy-centred crop of the
    same frame landmarks (re-cut from the head crop, sub-pixel exact), header version
    ``version``."""
    record = read_face(head_path)
    head = np.vstack([al.aligned_matrix(record.landmarks, S, "head"), [0, 0, 1]])
    legacy = np.vstack([al.aligned_matrix(record.landmarks, S, "legacy"), [0, 0, 1]])
    image = cv2.warpAffine(
        record.image,
        (legacy @ np.linalg.inv(head))[:2],
        (S, S),
        flags=cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REPLICATE,
    )
    metadata = copy.deepcopy(record.metadata)
    metadata["source"]["alignments_version"] = version
    write_faceswap_png(out_path, image, metadata)
    return out_path


# ------------------------------------------------------------------ legacy-centred (version 1.0)


@pytest.mark.parametrize("centering, coverage", [("legacy", 100.0), ("face", 70.0)])
def test_version_1_face_is_read_as_legacy_centred(demo, tmp_path, centering, coverage):
    old = _legacy_face(demo[0], tmp_path / "old_0.png")
    record = read_face(old)
    spec = PrepareSpec(size=P, centering=centering, coverage=coverage)
    from_legacy = prepare_face(record, spec, old)
    from_head = prepare_face(read_face(demo[0]), spec, demo[0])
    # same frame, same training crop: landmarks within a pixel, pixels alike wherever the smaller
    # legacy crop reaches (beyond it the window is black, as in faceswap); read as a head crop,
    # the pixels differ by 35-60 grey levels on average
    assert np.abs(from_legacy.landmarks - from_head.landmarks).max() < 1.0
    inside = from_legacy.image.max(axis=-1) > 0
    assert inside.mean() > 0.9
    difference = np.abs(from_legacy.image.astype(float) - from_head.image.astype(float))[inside]
    assert difference.mean() < 6.0
    assert record.centering == "legacy" and read_face(demo[0]).centering == "head"


def test_legacy_folder_is_indexed_as_legacy(demo, tmp_path, caplog):
    folder = tmp_path / "old"
    folder.mkdir()
    for path in demo[:2]:
        _legacy_face(path, folder / path.name)
    faceset = index_faceset(folder)
    assert faceset.centering == "legacy" and faceset.has_landmarks and len(faceset) == 2
    assert index_faceset(demo[0].parent).centering == "head"
    # a wider centering than the stored crop gets black borders: said once, before training
    with caplog.at_level(logging.WARNING, logger="fs.faces"):
        check_faceset(faceset, PrepareSpec(size=P, centering="legacy"))
        check_faceset(faceset, PrepareSpec(size=P, centering="face", coverage=75.0))
        assert not caplog.records
        check_faceset(faceset, PrepareSpec(size=P, centering="face"))
    assert len(caplog.records) == 1
    assert (
        "1.25x" in caplog.records[0].getMessage() and str(folder) in caplog.records[0].getMessage()
    )


def test_folder_mixing_legacy_and_head_faces_is_refused(demo, tmp_path):
    folder = _copy(demo[:2], tmp_path / "mixed")
    _legacy_face(demo[2], folder / "old_face.png")
    with pytest.raises(FsUserError, match=r"before faceswap 2.0") as info:
        index_faceset(folder)
    assert info.value.path == str(folder)
    message = str(info.value)
    assert "old_face.png" in message and demo[0].name in message and "\n" not in message


@pytest.mark.parametrize("version", ["one", [2.0], True])
def test_alignments_version_that_is_not_a_number_is_named(demo, tmp_path, version):
    path = _legacy_face(demo[0], tmp_path / "odd.png", version=version)
    with pytest.raises(FsUserError) as info:
        read_face(path)
    assert "alignments_version is not a number" in info.value.message
    assert info.value.path == str(path)
    with pytest.raises(FsUserError, match=r"odd.png"):
        index_faceset(tmp_path)
    _legacy_face(demo[0], path, version=10**400)  # absurd, but a number: a current face
    assert read_face(path).centering == "head"


# ------------------------------------------------------------------ header after the image data


def _chunks(data: bytes) -> list[tuple[int, bytes, int]]:
    """(offset, type, total length) of each chunk of a PNG."""
    pos, out = 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        out.append((pos, kind, 12 + length))
        pos += 12 + length
    return out


def _header_after_idat(data: bytes) -> bytes:
    """``data`` with its faceswap iTXt chunk moved from before the first IDAT to just before
    IEND."""
    pos, _, size = next(c for c in _chunks(data) if c[1] == b"iTXt")
    chunk, rest = data[pos : pos + size], data[:pos] + data[pos + size :]
    end = next(c for c in _chunks(rest) if c[1] == b"IEND")[0]
    moved = rest[:end] + chunk + rest[end:]
    kinds = [kind for _, kind, _ in _chunks(moved)]
    assert kinds.index(b"iTXt") > kinds.index(b"IDAT")
    return moved


def test_header_after_idat_is_found(demo, tmp_path):
    data = _header_after_idat(demo[0].read_bytes())
    folder = tmp_path / "moved"
    folder.mkdir()
    path = folder / "moved.png"
    path.write_bytes(data)
    expected = read_faceswap_metadata(demo[0])
    assert read_faceswap_metadata(path) == expected
    assert faceswap_metadata_from_bytes(data, path) == expected
    record = read_face(path)
    assert record.landmarks is not None and record.masks
    faceset = index_faceset(folder)
    assert faceset.has_landmarks and faceset.stored_mask_names == frozenset({"custom_face"})


def test_corrupt_header_after_idat_is_named(tmp_path):
    data = bytearray(
        _header_after_idat(encode_faceswap_png(np.zeros((16, 16, 3), np.uint8), {"source": {}}))
    )
    data[-20] ^= 0x55  # inside the moved iTXt body, before IEND
    path = tmp_path / "bad.png"
    path.write_bytes(bytes(data))
    with pytest.raises(FsUserError) as info:
        read_faceswap_metadata(path)
    assert "CRC" in info.value.message and info.value.path == str(path)


def test_png_cut_after_its_image_data_is_truncated(tmp_path):
    data = encode_faceswap_png(np.zeros((16, 16, 3), np.uint8), {"k": 1})
    path = tmp_path / "cut.png"
    path.write_bytes(_header_after_idat(data)[:-30])
    with pytest.raises(FsUserError) as info:
        read_faceswap_metadata(path)
    assert "truncated" in info.value.message and info.value.path == str(path)


# ------------------------------------------------------------------ stray images


def test_stray_images_in_an_extract_folder_are_skipped_with_a_warning(demo, tmp_path, caplog):
    folder = _copy(demo, tmp_path / "faces")
    cv2.imwrite(str(folder / "stray.jpg"), np.zeros((40, 60, 3), np.uint8))  # not even square
    cv2.imwrite(str(folder / "preview.png"), np.zeros((32, 32, 3), np.uint8))
    (folder / "notes.txt").write_text("not an image: ignored quietly")
    with caplog.at_level(logging.WARNING, logger="fs.faces"):
        faceset = index_faceset(folder)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "stray.jpg" in warnings[0] and "preview.png" in warnings[0]
    assert "notes.txt" not in warnings[0] and str(folder) in warnings[0]
    assert [p.name for p in faceset.paths] == [p.name for p in demo]
    assert {p.name for p in faceset.skipped} == {"stray.jpg", "preview.png"}
    assert faceset.has_landmarks and faceset.stored_mask_names == frozenset({"custom_face"})
    # and training reads on: a batch from the folder, the stray images never opened
    spec = PrepareSpec(size=P, centering="face")
    with BatchLoader.from_facesets(
        faceset, faceset, spec, batch_size=2, input_size=P, output_sizes=[P], workers=0
    ) as batches:
        batch = next(batches)
    assert batch["a"]["input"].shape == (2, P, P, 3)
