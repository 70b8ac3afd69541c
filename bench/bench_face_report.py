"""How fast ``fs faces report`` measures two face sets (a script, not a test).

    python bench/bench_face_report.py [--count 10000] [--size 256] [--folder DIR] [--html]

Writes ``count`` demo faces a side with ``fs_core.faces.demo.write_demo_data`` (into ``--folder``
when given, where a later run with the same count and size reuses them: writing 2 x 10,000 faces
takes longer than reporting them), times the whole report as ``fs faces report -A -B`` runs it
(worker processes from 1,000 faces a side), prints faces/s, then times each stage of measuring one
face in this process on a sample, to show where the time goes. The goal: 10,000 faces a side in
under a minute on a 2-core CPU (without --identity, which costs about 0.1 s a face).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from fs_core.extract.sort import pitch_yaw
from fs_core.facereport import metrics
from fs_core.facereport.html import add_thumbnails, render_html
from fs_core.facereport.report import build_report
from fs_core.faces import alignment as al
from fs_core.faces.demo import write_demo_data
from fs_core.faces.faceset import list_images
from fs_core.faces.pngmeta import faceswap_metadata_from_bytes
from fs_core.faces.read import landmarks_from_metadata

SAMPLE = 200


def faces(folder: Path, count: int, size: int) -> tuple[Path, Path]:
    a, b = folder / "A", folder / "B"
    if a.is_dir() and b.is_dir() and all(len(list(f.glob("*.png"))) == count for f in (a, b)):
        print(f"reusing the faces in {folder}")
        return a, b
    started = time.perf_counter()
    result = write_demo_data(folder, count=count, size=size, seed=0, clip_frames=0)
    print(f"wrote 2 x {count} demo faces ({size} px) in {time.perf_counter() - started:.0f} s")
    return result


def stages(paths: list[Path]) -> dict[str, float]:
    """Seconds per stage of measuring ``paths`` one by one in this process."""
    spent = dict.fromkeys(
        ("read file", "header", "decode", "shrink", "sharpness", "phash", "pose", "aligned shape"),
        0.0,
    )

    def timed(name: str, function, *args):
        start = time.perf_counter()
        result = function(*args)
        spent[name] += time.perf_counter() - start
        return result

    for path in paths:
        data = timed("read file", np.fromfile, str(path), np.uint8)
        meta = timed("header", faceswap_metadata_from_bytes, data.tobytes(), path) or {}
        image = timed("decode", cv2.imdecode, data, cv2.IMREAD_COLOR)
        side = (metrics.WORK_SIZE, metrics.WORK_SIZE)
        small = timed("shrink", cv2.resize, image, side, None, 0, 0, cv2.INTER_AREA)
        small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        timed("sharpness", metrics.sharpness, small)
        timed("phash", metrics.perceptual_hash, small)
        landmarks = landmarks_from_metadata(meta, path)
        legacy = timed("aligned shape", al.legacy_matrix, landmarks)
        timed("aligned shape", al.transform_points, al.to_68(landmarks), legacy)
        timed("pose", pitch_yaw, landmarks, legacy)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="faces a side")
    parser.add_argument("--size", type=int, default=256, help="face size in px")
    parser.add_argument("--folder", default=None, help="where the demo faces are (kept)")
    parser.add_argument("--html", action="store_true", help="also time the HTML page")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(args.folder or temp)
        a, b = faces(folder, args.count, args.size)
        started = time.perf_counter()
        report = build_report(a, b, show_progress=True)
        seconds = time.perf_counter() - started
        total = 2 * args.count
        print(
            f"report of 2 x {args.count} faces: {seconds:.1f} s, {total / seconds:.0f} faces/s "
            f"(measuring {report['seconds']['measure']:.1f} s, rules "
            f"{report['seconds']['findings']:.2f} s)"
        )
        if args.html:
            started = time.perf_counter()
            add_thumbnails(report)
            page = render_html(report)
            print(f"HTML page: {time.perf_counter() - started:.1f} s, {len(page) / 1e6:.1f} MB")
        sample = list(list_images(a))[:SAMPLE]
        cpu = time.process_time()
        spent = stages(sample)
        cpu = time.process_time() - cpu
        whole = sum(spent.values())
        print(
            f"one face in one process: {1000 * whole / len(sample):.2f} ms "
            f"({1000 * cpu / len(sample):.2f} ms of CPU time: on a busy machine, the cost "
            f"itself); shares:"
        )
        for name, value in sorted(spent.items(), key=lambda item: -item[1]):
            print(f"  {name:14s} {100 * value / whole:5.1f} %")


if __name__ == "__main__":
    main()
