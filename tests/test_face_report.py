"""``fs faces report``: synthetic face sets with known defects, each found; the clean demo set
flags little (the stated false-positive rate); the CLI's one-line errors.

The sets are fs's demo faces, small (64 px, a hundred and some a side, no clip), written once per
module; the defects are made here: exact and near copies, blurred faces, landmarks moved in the
header, a B side with every face turned one way removed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from fs_core.cli.main import main
from fs_core.extract.sort import pitch_yaw
from fs_core.facereport import findings as fd
from fs_core.facereport.report import build_report, identity_available
from fs_core.faces.pngmeta import encode_faceswap_png
from fs_core.faces.read import read_face

COUNT = 120
SIZE = 64
#: the clean demo set: no finding may flag more than this share of a side's faces
FALSE_POSITIVE_RATE = 0.02


def _write(path: Path, image: np.ndarray, metadata: dict) -> None:
    path.write_bytes(encode_faceswap_png(image, metadata))


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> dict[str, Path]:
    from fs_core.faces.demo import write_demo_data

    root = tmp_path_factory.mktemp("facereport")
    a0, _b0 = write_demo_data(root / "s0", count=COUNT, size=SIZE, seed=0, clip_frames=0)
    a1, _b1 = write_demo_data(root / "s1", count=COUNT, size=SIZE, seed=1, clip_frames=0)
    defect = root / "defect"
    shutil.copytree(a0, defect)
    names = sorted(p.name for p in defect.glob("*.png"))
    shutil.copy(defect / names[3], defect / "dup_exact.png")
    face = read_face(defect / names[5])
    rng = np.random.default_rng(0)
    near = np.clip(face.image * 1.03 + rng.normal(0, 2, face.image.shape), 0, 255)
    _write(defect / "dup_near.png", near.astype(np.uint8), face.metadata)
    for index in (7, 9):  # blurred in place: the same face, out of focus
        face = read_face(defect / names[index])
        _write(defect / names[index], cv2.GaussianBlur(face.image, (0, 0), 1.6), face.metadata)
    for index in (11, 13):  # the eyes' landmarks slid down the face, in the header only
        face = read_face(defect / names[index])
        points = np.array(face.metadata["alignments"]["landmarks_xy"])
        width = np.ptp(points[:, 0])
        points[36:48, 1] += 0.25 * width
        face.metadata["alignments"]["landmarks_xy"] = points.tolist()
        _write(defect / names[index], face.image, face.metadata)
    turned = root / "turned_left"  # seed 1's faces, without any turned right (yaw > 0)
    turned.mkdir()
    for path in sorted(a1.glob("*.png")):
        if pitch_yaw(read_face(path).landmarks)[1] <= 0:
            shutil.copy(path, turned / path.name)
    plain = root / "plain"
    plain.mkdir()
    for path in sorted(a0.glob("*.png"))[:10]:
        cv2.imwrite(str(plain / (path.stem + ".jpg")), read_face(path).image)
    return {"a0": a0, "a1": a1, "defect": defect, "turned": turned, "plain": plain, "names": names}  # type: ignore[dict-item]


def _finding(report: dict, kind: str, side: str = "A") -> dict | None:
    return next((f for f in report["findings"] if f["kind"] == kind and f["side"] == side), None)


def _names(finding: dict | None) -> set[str]:
    if finding is None:
        return set()
    return {face["name"] for group in finding["groups"] for face in group["faces"]}


def test_clean_sets_flag_few_faces(sets):
    report = build_report(sets["a0"], sets["a1"])
    assert _finding(report, "pose_gap", "B") is None
    for finding in report["findings"]:
        assert finding["kind"] in ("duplicates", "alignment"), finding["title"]
        assert finding["count"] <= FALSE_POSITIVE_RATE * COUNT, finding
    assert [side["with_landmarks"] for side in report["sides"]] == [COUNT, COUNT]


def test_injected_defects_are_found(sets):
    report = build_report(sets["defect"])
    names = sets["names"]
    assert _names(_finding(report, "blurred")) >= {names[7], names[9]}
    groups = [
        {face["name"] for face in group["faces"]}
        for group in _finding(report, "duplicates")["groups"]
    ]  # type: ignore[index]
    assert any({"dup_exact.png", names[3]} <= group for group in groups)
    assert any({"dup_near.png", names[5]} <= group for group in groups)
    alignment = _finding(report, "alignment")
    assert _names(alignment) >= {names[11], names[13]}
    assert alignment["count"] <= 2 + FALSE_POSITIVE_RATE * COUNT  # type: ignore[index]
    assert any("pose gaps need two sides" in note for note in report["notes"])


def test_pose_gap_where_b_lacks_a_yaw_range(sets):
    report = build_report(sets["a0"], sets["turned"])
    gap = _finding(report, "pose_gap", "B")
    assert gap is not None
    zero = fd.YAW_EDGES.index(0.0)
    assert all(group["cell"][1] >= zero for group in gap["groups"])
    examples = [face for group in gap["groups"] for face in group["faces"]]
    assert examples and all(face["value"] > 0 for face in examples)
    assert all(Path(face["path"]).parent == sets["a0"] for face in examples)
    assert report["sides"][1]["pose"]["gaps"] == [group["cell"] for group in gap["groups"]]


def test_plain_crops_skip_the_landmark_parts(sets):
    report = build_report(sets["plain"])
    assert report["sides"][0]["pose"] is None
    assert any("pose coverage and alignment were not checked" in n for n in report["notes"])


def test_hamming_pairs_match_a_brute_force_count():
    rng = np.random.default_rng(1)
    hashes = rng.integers(0, 2**63, (300, 4), dtype=np.uint64)
    hashes[50] = hashes[10] ^ np.uint64(0b111)  # 3 bits apart
    hashes[200] = hashes[10]
    bits = np.unpackbits(hashes.view(np.uint8), axis=1).astype(np.int32)
    brute = {
        (i, j) for i in range(300) for j in range(i + 1, 300) if (bits[i] != bits[j]).sum() <= 14
    }
    found = {tuple(map(int, p)) for p in fd.hamming_pairs(hashes, 14, block=64)}
    assert found == brute == {(10, 50), (10, 200), (50, 200)}
    assert fd.clusters(300, np.array([[1, 2], [2, 3], [7, 8]])) == [[1, 2, 3], [7, 8]]


def test_cli_writes_summary_html_and_json(sets, tmp_path, capsys):
    html_file, json_file = tmp_path / "r.html", tmp_path / "r.json"
    argv = [
        "faces",
        "report",
        "-A",
        str(sets["defect"]),
        "-o",
        str(html_file),
        "--json",
        str(json_file),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "A blurred faces: 2 faces" in out and "dup_exact.png" in out
    data = json.loads(json_file.read_text())
    assert {f["kind"] for f in data["findings"]} >= {"blurred", "duplicates", "alignment"}
    page = html_file.read_text()
    assert "data:image/jpeg;base64," in page and "dup_near.png" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "missing", "the face folder does not exist"),
        (lambda p: p, "the folder holds no face images"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, capsys, make, message):
    assert main(["faces", "report", "-A", str(make(tmp_path))]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("fs faces: error: ") and message in err and "\n" not in err


def test_cli_refuses_an_output_in_a_missing_folder(sets, tmp_path, capsys):
    argv = ["faces", "report", "-A", str(sets["plain"]), "-o", str(tmp_path / "no" / "r.html")]
    assert main(argv) == 1
    assert "-o: the folder to write into does not exist" in capsys.readouterr().err


def test_identity_without_the_extract_extra_is_one_line(sets, capsys, monkeypatch):
    monkeypatch.setattr("fs_core.facereport.report.identity_available", lambda: False)
    assert main(["faces", "report", "-A", str(sets["plain"]), "--identity"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("fs faces: error: ") and "fs-core[extract]" in err and "\n" not in err


def test_unreadable_file_is_listed_not_fatal(sets, tmp_path):
    folder = tmp_path / "faces"
    shutil.copytree(sets["plain"], folder)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    report = build_report(folder)
    assert _names(_finding(report, "unreadable")) == {"broken.jpg"}


@pytest.mark.slow
@pytest.mark.skipif(not identity_available(), reason="needs the extract extra (dlib)")
def test_identity_outliers_find_the_other_person(sets, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for path in sorted(sets["a0"].glob("*.png"))[:30]:
        shutil.copy(path, folder / path.name)
    for path in sorted((sets["a0"].parent / "B").glob("*.png"))[:2]:
        shutil.copy(path, folder / path.name)
    report = build_report(folder, identity=True)
    assert _names(_finding(report, "identity")) == {"demo_b_0000_0.png", "demo_b_0001_0.png"}
