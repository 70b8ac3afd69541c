"""Face set indexing and the demo data writer."""

from __future__ import annotations

import time
import zlib

import cv2
import numpy as np
import pytest

from fs_core.errors import FsUserError
from fs_core.faces import alignment as al
from fs_core.faces.demo import MARKER, write_demo_data
from fs_core.faces.faceset import FaceSet, index_faceset
from fs_core.faces.pngmeta import read_faceswap_metadata
from fs_core.faces.read import read_face


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    return root, write_demo_data(root, count=5, size=64, seed=1)


def test_demo_folders_and_headers(demo):
    root, (folder_a, folder_b) = demo
    assert (folder_a, folder_b) == (root / "A", root / "B")
    for folder in (folder_a, folder_b):
        paths = sorted(folder.glob("*.png"))
        assert len(paths) == 5
        meta = read_faceswap_metadata(paths[0])
        align = meta["alignments"]
        assert {"x", "y", "w", "h", "landmarks_xy", "mask"} <= set(align)
        assert np.asarray(align["landmarks_xy"]).shape == (68, 2)
        mask = align["mask"]["custom_face"]
        assert mask["stored_size"] == 128 and mask["stored_centering"] == "face"
        assert len(zlib.decompress(mask["mask"])) == 128 * 128
        assert np.asarray(mask["affine_matrix"]).shape == (2, 3)
        source = meta["source"]
        assert source["original_filename"] == paths[0].name
        assert {
            "alignments_version",
            "face_index",
            "source_filename",
            "source_is_video",
            "source_frame_dims",
        } <= set(source)
        record = read_face(paths[0])
        assert record.image.shape == (64, 64, 3)
        # the stored mask matrix is the face-centred alignment of the header's landmarks
        np.testing.assert_allclose(
            mask["affine_matrix"], al.aligned_matrix(record.landmarks, 128, "face"), atol=1e-3
        )


def test_identities_differ_and_images_vary(demo):
    _, (folder_a, folder_b) = demo
    faces_a = [read_face(p).image.astype(float) for p in sorted(folder_a.glob("*.png"))]
    faces_b = [read_face(p).image.astype(float) for p in sorted(folder_b.glob("*.png"))]
    assert np.abs(faces_a[0] - faces_a[1]).mean() > 5  # not the same picture twice

    def skin(image, path):  # mean colour at the nose bridge
        record = read_face(path)
        x, y = al.transform_points(
            record.landmarks, al.aligned_matrix(record.landmarks, 64, "head")
        )[28]
        return image[int(round(y)) - 1 : int(round(y)) + 2, int(round(x)) - 1 : int(round(x)) + 2]

    skin_a = np.mean([skin(im, p).mean() for im, p in zip(faces_a, sorted(folder_a.glob("*.png")))])
    skin_b = np.mean([skin(im, p).mean() for im, p in zip(faces_b, sorted(folder_b.glob("*.png")))])
    assert skin_a - skin_b > 30  # A light, B dark


def test_demo_is_deterministic(tmp_path, demo):
    _, (folder_a, _) = demo
    write_demo_data(tmp_path, count=2, size=64, seed=1)
    first = sorted(folder_a.glob("*.png"))[0]
    again = tmp_path / "A" / first.name
    assert cv2.imread(str(first)).tobytes() == cv2.imread(str(again)).tobytes()


def test_demo_rerun_overwrites_its_own_folders(tmp_path):
    write_demo_data(tmp_path, count=3, size=32)
    write_demo_data(tmp_path, count=2, size=32, seed=4)
    assert len(list((tmp_path / "A").glob("*.png"))) == 2  # the old third face is gone
    assert (tmp_path / "B" / MARKER).is_file()


def test_demo_refuses_foreign_folders(tmp_path):
    (tmp_path / "B").mkdir()
    (tmp_path / "B" / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(FsUserError, match="did not write") as info:
        write_demo_data(tmp_path, count=2, size=32)
    assert info.value.path == str(tmp_path / "B")
    assert not (tmp_path / "A").exists()  # nothing written when either folder is refused
    # a demo folder the user added files to is refused too
    write_demo_data(tmp_path / "x", count=1, size=32)
    (tmp_path / "x" / "A" / "mine.png").write_bytes(b"x")
    with pytest.raises(FsUserError, match="did not write"):
        write_demo_data(tmp_path / "x", count=1, size=32)


def test_demo_speed(tmp_path):
    start = time.perf_counter()
    write_demo_data(tmp_path, count=20, size=256)
    per_face = (time.perf_counter() - start) / 40
    assert per_face < 0.15  # 400 faces in ~15 s on a loaded two-core machine would be 0.0375


def test_index_demo(demo):
    _, (folder_a, _) = demo
    faceset = index_faceset(folder_a)
    assert isinstance(faceset, FaceSet)
    assert len(faceset) == 5 and faceset.has_landmarks
    assert faceset.stored_mask_names == frozenset({"custom_face"})
    assert list(faceset.paths) == sorted(faceset.paths)
    assert faceset.folder == folder_a


def test_index_plain_crops(tmp_path):
    image = np.zeros((16, 16, 3), np.uint8)
    for name in ("b.JPG", "a.png", "c.jpeg"):
        cv2.imwrite(str(tmp_path / name), image)
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / ".hidden.png").write_bytes(b"ignored")
    faceset = index_faceset(tmp_path)
    assert [p.name for p in faceset.paths] == ["a.png", "b.JPG", "c.jpeg"]
    assert not faceset.has_landmarks and faceset.stored_mask_names == frozenset()


def test_index_errors(tmp_path, demo):
    with pytest.raises(FsUserError, match="does not exist") as info:
        index_faceset(tmp_path / "nope")
    assert info.value.path == str(tmp_path / "nope")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(FsUserError, match="not a folder"):
        index_faceset(tmp_path / "file.png")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no faces")
    with pytest.raises(FsUserError, match="no face images") as info:
        index_faceset(empty)
    assert info.value.path == str(empty)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "text.png").write_text("not a png")
    with pytest.raises(FsUserError, match=r"text.png"):
        index_faceset(bad)


def test_index_refuses_plain_crops_mixed_with_extracted_faces(tmp_path, demo):
    """A folder where plain crops outnumber extracted faces is a plain-crop folder: the extracted
    faces in it are a mix-up, refused (a folder of mostly extracted faces skips the plain ones)."""
    _, (folder_a, _) = demo
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for path in sorted(folder_a.glob("*.png"))[:2]:
        (mixed / path.name).write_bytes(path.read_bytes())
    for index in range(3):
        cv2.imwrite(str(mixed / f"plain{index}.png"), np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(FsUserError, match=r"mixes 2 faceswap-extracted.*plain0.png"):
        index_faceset(mixed)
