"""``fs sort``: each method puts a folder of faces in the order it promises (known head turns of
the demo clip, known blur, known colours, two identities), files keep their bytes (and so their
headers), nothing is overwritten, and a sort stopped halfway is finished by the next one."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from fs_core.cli.main import main
from fs_core.extract import sort as sorting
from fs_core.faces.demo import write_demo_data
from fs_core.faces.pngmeta import encode_faceswap_png, read_faceswap_metadata
from fs_core.faces.read import read_face

CLIP = 9


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, Path]:
    """Demo faces: A's 9 are cut from the clip, which turns the head steadily from one side to
    the other, so their clip frame numbers give their yaw order."""
    return write_demo_data(tmp_path_factory.mktemp("demo"), count=CLIP, size=64, clip_frames=CLIP)


def _digests(folder: Path) -> dict[str, str]:
    return {
        hashlib.sha256(path.read_bytes()).hexdigest(): path.name
        for path in folder.iterdir()
        if path.is_file() and not path.name.startswith(".")
    }


def _sorted_names(folder: Path) -> list[str]:
    names = sorted(path.name for path in folder.glob("*.png"))
    assert all(re.match(r"^\d{6}_", name) for name in names), names
    return names


def test_yaw_orders_the_turning_head_and_keeps_every_byte(demo, tmp_path, capsys):
    faces = tmp_path / "a"
    faces.mkdir()
    for path in demo[0].iterdir():
        if path.suffix == ".png":
            (faces / path.name).write_bytes(path.read_bytes())
    before = _digests(faces)
    assert main(["sort", "-i", str(faces), "-s", "yaw"]) == 0
    assert f"{CLIP} faces sorted by yaw and renamed" in capsys.readouterr().out
    after = _digests(faces)
    assert set(after) == set(before)  # the same bytes, only renamed
    frames = [
        read_faceswap_metadata(faces / name)["source"]["source_filename"]
        for name in _sorted_names(faces)
    ]
    numbers = [int(re.search(r"(\d+)\.png$", name).group(1)) for name in frames]
    assert numbers in (sorted(numbers), sorted(numbers, reverse=True)), numbers
    # sorting again replaces the rank instead of stacking a second one
    assert main(["sort", "-i", str(faces), "-s", "pitch"]) == 0
    assert not [name for name in _sorted_names(faces) if re.match(r"^\d{6}_\d{6}_", name)]


def _variants(demo, folder: Path, make) -> list[str]:
    """Copies of one demo face changed by ``make(image, index)``, named in a shuffled order;
    returns the names in the order the change grows."""
    source = sorted(demo[1].glob("*.png"))[0]
    record = read_face(source)
    folder.mkdir()
    names = []
    for index, label in enumerate(["d", "a", "e", "b", "f", "c"]):
        name = f"{label}.png"
        data = encode_faceswap_png(make(record.image, index), record.metadata)
        (folder / name).write_bytes(data)
        names.append(name)
    return names


def test_blur_puts_the_sharpest_first(demo, tmp_path):
    def blurred(image, index):
        return cv2.GaussianBlur(image, (0, 0), 0.3 + index) if index else image

    names = _variants(demo, tmp_path / "f", blurred)
    out = tmp_path / "out"
    assert main(["sort", "-i", str(tmp_path / "f"), "-o", str(out), "-s", "blur"]) == 0
    assert [name.split("_", 1)[1] for name in _sorted_names(out)] == names
    assert not list((tmp_path / "f").glob("*.png"))  # moved


def test_hist_chains_similar_colours_together(demo, tmp_path):
    def tinted(image, index):
        out = image.astype(np.int16)
        out[..., 2 if index % 2 else 0] += 90 + 5 * index  # red or blue, alternating
        return np.clip(out, 0, 255).astype(np.uint8)

    names = _variants(demo, tmp_path / "f", tinted)
    assert main(["sort", "-i", str(tmp_path / "f"), "-s", "hist", "-k"]) == 0
    order = [name.split("_", 1)[1] for name in _sorted_names(tmp_path / "f" / "sorted")]
    reds = [names.index(name) % 2 for name in order]
    assert reds in ([0, 0, 0, 1, 1, 1], [1, 1, 1, 0, 0, 0]), order
    assert len(list((tmp_path / "f").glob("*.png"))) == 6  # -k: the originals stay


def test_face_groups_each_person(demo, tmp_path):
    pytest.importorskip("dlib", reason='sorting by face needs "fs-core[extract]"')
    folder = tmp_path / "f"
    folder.mkdir()
    a_faces, b_faces = sorted(demo[0].glob("*.png"))[:3], sorted(demo[1].glob("*.png"))[:3]
    for index, (a, b) in enumerate(zip(a_faces, b_faces)):
        (folder / f"{2 * index}_a.png").write_bytes(a.read_bytes())
        (folder / f"{2 * index + 1}_b.png").write_bytes(b.read_bytes())
    assert main(["sort", "-i", str(folder), "-s", "face"]) == 0
    people = [name.rsplit("_", 1)[1][0] for name in _sorted_names(folder)]
    assert people in (list("aaabbb"), list("bbbaaa")), people


def test_a_sort_stopped_halfway_is_finished_by_the_next(demo, tmp_path, monkeypatch):
    folder = tmp_path / "f"
    folder.mkdir()
    for path in sorted(demo[1].glob("*.png"))[:5]:
        (folder / path.name).write_bytes(path.read_bytes())
    before = _digests(folder)
    calls = {"n": 0}
    real = os.rename

    def stop_on_third(src, dst):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        real(src, dst)

    monkeypatch.setattr(sorting.os, "rename", stop_on_third)
    with pytest.raises(KeyboardInterrupt):
        sorting.sort_faces(folder, "blur")
    monkeypatch.undo()
    assert (folder / sorting.JOURNAL).exists()
    assert main(["sort", "-i", str(folder), "-s", "hist"]) == 0
    assert not (folder / sorting.JOURNAL).exists()
    assert set(_digests(folder)) == set(before)  # every face there, each once
    assert len(_sorted_names(folder)) == 5


def test_a_name_taken_in_the_output_stops_before_anything_moves(demo, tmp_path, capsys):
    folder = tmp_path / "f"
    folder.mkdir()
    for path in sorted(demo[1].glob("*.png"))[:3]:
        (folder / path.name).write_bytes(path.read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    first = sorted(folder.iterdir())[0].name
    for rank in range(3):  # whichever face comes first, one target name is taken
        (out / f"{rank:06d}_{first}").write_bytes(b"someone else's file")
    before = _digests(folder)
    assert main(["sort", "-i", str(folder), "-o", str(out), "-s", "blur"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already exists" in err, err
    assert _digests(folder) == before


def test_faces_without_landmarks_cannot_sort_by_yaw(tmp_path, capsys):
    folder = tmp_path / "plain"
    folder.mkdir()
    cv2.imwrite(str(folder / "crop.png"), np.full((64, 64, 3), 128, np.uint8))
    assert main(["sort", "-i", str(folder), "-s", "yaw"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "landmarks" in err and "crop.png" in err, err
