"""``fs extract`` benchmark (a script, not a test): frames/s at 720p and 1080p for each detector,
and the share of each stage (decode, detect, landmarks, write).

The frames are real: scikit-image's public-domain ``astronaut`` portrait scaled to fill about
half the frame height and moved a little each frame, on a grey canvas, written as PNG frames.
Each run is ``fs_core.extract.run.extract`` on the whole folder (the models already loaded by a
one-frame warm-up), so the numbers are what ``fs extract`` does per frame. dlib runs one frame at
a time on the CPU (the ``dlib-bin`` wheel has no CUDA).

    python bench/bench_extract.py [--frames 12] [--detectors hog,cnn] [--heights 720,1080]
        [--size 512]

Needs ``pip install "fs-core[extract]"`` and scikit-image.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def make_frames(folder: Path, height: int, count: int) -> None:
    """``count`` PNG frames of 16:9 at ``height`` with the portrait in them."""
    from skimage import data

    photo = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    width = height * 16 // 9
    scale = height * 0.5 / photo.shape[0]
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        matrix = np.float32(
            [
                [scale, 0, width * (0.3 + 0.02 * index)],
                [0, scale, height * (0.2 + 0.01 * index)],
            ]
        )
        frame = cv2.warpAffine(
            photo, matrix, (width, height), borderMode=cv2.BORDER_CONSTANT, borderValue=(90,) * 3
        )
        cv2.imwrite(str(folder / f"frame_{index:05d}.png"), frame)


def run_one(frames: Path, out: Path, detector: str, size: int) -> tuple[float, dict, int]:
    from fs_core.extract.run import ExtractRequest, extract, stage_shares

    request = ExtractRequest(
        input=frames,
        output=out,
        alignments=out.parent / f"{out.name}.fsa",
        detector=detector,
        size=size,
        progress=False,
    )
    summary = extract(request)
    rate = summary.processed / max(summary.elapsed, 1e-9)
    return rate, stage_shares(summary), summary.faces


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--detectors", default="hog,cnn")
    parser.add_argument("--heights", default="720,1080")
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for height in (int(value) for value in args.heights.split(",")):
            frames = root / f"frames_{height}"
            make_frames(frames, height, args.frames)
            warm = root / f"warm_{height}"
            make_frames(warm, height, 1)
            for detector in args.detectors.split(","):
                run_one(warm, root / f"w_{height}_{detector}", detector, args.size)  # load models
                start = time.perf_counter()
                rate, shares, faces = run_one(
                    frames, root / f"o_{height}_{detector}", detector, args.size
                )
                wall = time.perf_counter() - start
                stages = ", ".join(f"{stage} {share:.0%}" for stage, share in shares.items())
                print(
                    f"{height}p {detector}: {rate:.2f} frames/s ({args.frames} frames, "
                    f"{faces} faces, {wall:.1f} s with set-up); {stages}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
