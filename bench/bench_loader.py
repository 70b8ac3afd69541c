"""How many faces per second the training loader delivers (a script, not a test).

    python bench/bench_loader.py [--batch-size 16] [--workers 2] [--seconds 5] [--synthetic]

Measures the BatchLoader alone, with every built-in augmentation on (colour, affine, flip, grid
warp), and again with warp-to-landmarks instead of the grid warp, for a 64 px and a 128 px model
(input = output size, masks face/eye/mouth as the default penalized loss asks). Faces come from
``fs_core.faces.demo.write_demo_data`` (decoded and cached once, as in training) unless
``--synthetic`` is given or the faces package is missing. Faces/s counts both sides; CPU ms per
face (all threads) is the cost the loader takes from the train step on shared cores, and depends
less than faces/s on what else the machine is running.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from fs_core.augment.builtin import fs_augmenters
from fs_core.config.sections import AugmentationOptions
from fs_core.data.cache import FaceCache
from fs_core.data.loader import BatchLoader
from fs_core.data.synthetic import synthetic_prepare

MASKS = ("face", "eye", "mouth")


def caches(size: int, count: int, synthetic: bool, folder: str) -> tuple[FaceCache, FaceCache, str]:
    if not synthetic:
        try:
            from fs_core.data.cache import default_prepare
            from fs_core.faces.demo import write_demo_data
            from fs_core.faces.faceset import index_faceset
            from fs_core.faces.prepare import PrepareSpec
        except ImportError:
            synthetic = True
    if synthetic:
        return (
            FaceCache(
                [f"a{i}" for i in range(count)],
                size,
                synthetic_prepare(size, MASKS, seed=1),
                mask_names=MASKS,
            ),
            FaceCache(
                [f"b{i}" for i in range(count)],
                size,
                synthetic_prepare(size, MASKS, seed=2),
                mask_names=MASKS,
            ),
            "synthetic faces",
        )
    folders = write_demo_data(folder, count=count, size=256)
    start = time.perf_counter()
    prepare = default_prepare(PrepareSpec(size=size, mask_type="extended", mask_names=MASKS))
    made = [
        FaceCache(index_faceset(f).paths, size, prepare, mask_names=MASKS, source=f)
        for f in folders
    ]
    return made[0], made[1], f"demo faces (256 px PNGs) in {time.perf_counter() - start:.1f} s"


def measure(
    cache_a: FaceCache,
    cache_b: FaceCache,
    size: int,
    options: AugmentationOptions,
    batch_size: int,
    workers: int,
    seconds: float,
) -> tuple[float, float]:
    """(faces per second of wall time, CPU milliseconds per face over all threads)."""
    with BatchLoader(
        cache_a,
        cache_b,
        batch_size=batch_size,
        input_size=size,
        output_sizes=[size],
        augmenters=fs_augmenters(),
        options=options,
        seed=0,
        workers=workers,
    ) as loader:
        next(loader)  # threads started, first batches queued
        start, cpu, batches = time.perf_counter(), time.process_time(), 0
        while time.perf_counter() - start < seconds:
            next(loader)
            batches += 1
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    faces = 2 * batch_size * batches
    return faces / elapsed, 1000 * cpu / faces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--faces", type=int, default=100, help="faces per side")
    parser.add_argument("--synthetic", action="store_true", help="skip the demo PNGs")
    args = parser.parse_args()
    runs = (
        ("all augmentations (grid warp)", AugmentationOptions()),
        ("all augmentations, warp to landmarks", AugmentationOptions(warp_to_landmarks=True)),
    )
    with tempfile.TemporaryDirectory() as folder:
        for size in (64, 128):
            cache_a, cache_b, what = caches(size, args.faces, args.synthetic, f"{folder}/{size}")
            print(f"{size} px: cached 2 x {len(cache_a)} {what}")
            for label, options in runs:
                rate, cost = measure(
                    cache_a, cache_b, size, options, args.batch_size, args.workers, args.seconds
                )
                print(
                    f"  {label:38s} {rate:6.0f} faces/s  {cost:5.2f} CPU ms/face  (batch "
                    f"{args.batch_size} per side, {args.workers} worker threads)"
                )


if __name__ == "__main__":
    main()
