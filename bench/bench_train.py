"""Training speed benchmark (a script, not a test): examples/s, FLOP/s and utilisation.

For each case (Original at batch 16 and 64, Lightweight and Dfaker at batch 16; float32 and
mixed_bfloat16) it trains on demo data in a fresh subprocess (so peak memory is per case), drops
the warm-up iterations and prints examples per second (one example is one face: an iteration at
batch 16 trains 32), the model's training FLOPs per example (three times the forward pass counted
from the layers; Original 11.4 GFLOP, the unit of faceswap's own 7.16 examples/s), the achieved
FLOP/s, and that as a fraction of the machine's ceiling (a float32 4096x4096 matmul through
tf.function) measured in the same run, and the slowest measured iteration over the median one
(with 200 demo faces per side an epoch ends every 200 / batch iterations, so a loader stall at
epoch boundaries would show there). Optionally (--startup) the time from start to the first
iteration with 10,000 faces, and (--compare) every case also as it ran before the speed changes
of bench/RESULTS.md (Keras' convolution for small maps, Keras' element-wise Adam update).

    python bench/bench_train.py [--cases original:16,lightweight:16] [--iterations 40] [--startup]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CASES = "original:16,original:64,lightweight:16,dfaker:16"


def matmul_ceiling(size: int = 4096, repeats: int = 10, dtype: str = "float32") -> float:
    """FLOP/s of a large matrix product through tf.function (best of a few runs)."""
    import tensorflow as tf

    a = tf.random.normal((size, size), dtype=tf.float32)
    a = tf.cast(a, dtype)
    product = tf.function(lambda x: tf.matmul(x, x))
    product(a).numpy()
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            result = product(a)
        result.numpy()
        best = max(best, 2 * size**3 * repeats / (time.perf_counter() - start))
    return best


def run_case(
    model: str,
    batch: int,
    precision: str,
    iterations: int,
    warmup: int,
    faces: Path,
    baseline: bool = False,
) -> dict:
    """Train in a subprocess; returns its measurements (see :func:`case_main`)."""
    command = [
        sys.executable,
        str(Path(__file__)),
        "--case",
        f"{model}:{batch}:{precision}",
        "--iterations",
        str(iterations),
        "--warmup",
        str(warmup),
        "--faces",
        str(faces),
    ]
    if baseline:
        command.append("--baseline")
    output = subprocess.run(command, check=False, capture_output=True, text=True, timeout=3600)
    lines = [line for line in output.stdout.splitlines() if line.startswith("{")]
    if output.returncode or not lines:
        return {"error": (output.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(lines[-1])


def use_baseline() -> None:
    """Undo the measured speed changes in this process (for --compare): Keras' own convolution
    for every map size and Keras' element-wise Adam update."""
    from fs_core.builtins.optimizers import FusedAdamUpdate
    from fs_plugins_models.layers import Conv2D

    Conv2D.matmul_max_pixels = 0
    FusedAdamUpdate.fused = False


def case_main(spec: str, iterations: int, warmup: int, faces: Path, baseline: bool) -> None:
    """One case, in its own process: train, time each iteration, print a JSON line."""
    import resource

    model_name, batch, precision = spec.split(":")
    sys.path.insert(0, str(HERE))
    from flops import training_flops_per_example

    if baseline:
        use_baseline()

    from fs_core import hookimpl
    from fs_core.plugin_manager import get_registry
    from fs_core.training.run import run_train
    from fs_core.training.session import TrainRequest

    stamps: list[float] = []

    class Timer:
        @hookimpl
        def fs_iteration_end(self, session):
            stamps.append(time.perf_counter())
            if "flops" not in Timer.__dict__:
                Timer.flops = training_flops_per_example(session.model)

    registry = get_registry()
    registry.manager.register(Timer(), "bench_timer")
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "fs.toml"
        config.write_text(f"[global]\nmixed_precision = '{precision}'\n")
        request = TrainRequest(
            input_a=str(faces / "A"),
            input_b=str(faces / "B"),
            model_dir=str(Path(tmp) / "model"),
            model_name=model_name,
            batch_size=int(batch),
            iterations=warmup + iterations,
            save_interval=10**6,
            config_path=str(config),
            seed=0,
        )
        run_train(request, registry, notify=lambda text: None)
    measured = stamps[warmup:]
    seconds = measured[-1] - measured[0]
    rate = (len(measured) - 1) * 2 * int(batch) / seconds  # both sides' faces
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    durations = sorted(b - a for a, b in itertools.pairwise(measured))
    # a loader stall (e.g. at an epoch boundary) shows as one iteration much slower than the rest
    slowest = durations[-1] / durations[len(durations) // 2]
    print(
        json.dumps(
            {
                "examples_per_second": rate,
                "flops_per_example": Timer.flops,
                "peak_gib": peak,
                "slowest_over_median": slowest,
            }
        )
    )


def startup_time(count: int, folder: Path) -> float:
    """Seconds from launching ``fs train`` to its first iteration with ``count`` faces per side."""
    from fs_core.faces.demo import write_demo_data

    if not (folder / "A").exists():
        write_demo_data(folder, count=count, size=128)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fs_core",
                "train",
                "-A",
                str(folder / "A"),
                "-B",
                str(folder / "B"),
                "-m",
                str(Path(tmp) / "m"),
                "-t",
                "original",
                "-b",
                "16",
                "-i",
                "1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for line in process.stdout:
            if "[#000001]" in line:
                elapsed = time.perf_counter() - start
                break
        else:
            elapsed = float("nan")
        process.wait()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--cases", default=DEFAULT_CASES)
    parser.add_argument("--precisions", default="none,mixed_bfloat16")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument(
        "--startup", action="store_true", help="also time start-up with 10,000 faces"
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also run every case as before the speed changes, for the ratio",
    )
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--faces", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.case:
        case_main(args.case, args.iterations, args.warmup, Path(args.faces), args.baseline)
        return
    from fs_core.faces.demo import write_demo_data

    with tempfile.TemporaryDirectory() as tmp:
        faces = Path(tmp) / "demo"
        write_demo_data(faces, count=200, size=256)
        ceiling = matmul_ceiling()
        print(
            f"float32 matmul ceiling: {ceiling / 1e9:.0f} GFLOP/s "
            f"(bar for Original b16: {2 * 7.16 * ceiling / 209e9:.1f} EG/s = 2 x faceswap's 7.16 "
            "at 209 GFLOP/s, scaled to this ceiling)"
        )
        print(
            f"{'case':<37}{'EG/s':>8}{'GFLOP/ex':>10}{'GFLOP/s':>9}{'MFU':>7}{'peak GiB':>10}"
            f"{'max/med it':>12}"
        )
        for case in args.cases.split(","):
            model, batch = case.split(":")
            for precision in args.precisions.split(","):
                rates = {}
                for baseline in (True, False) if args.compare else (False,):
                    result = run_case(
                        model, int(batch), precision, args.iterations, args.warmup, faces, baseline
                    )
                    label = f"{model} b{batch} {precision}" + (" (before)" if baseline else "")
                    if "error" in result:
                        print(f"{label:<37} failed: {result['error']}")
                        continue
                    rates[baseline] = result["examples_per_second"]
                    achieved = result["examples_per_second"] * result["flops_per_example"]
                    print(
                        f"{label:<37}{result['examples_per_second']:>8.2f}"
                        f"{result['flops_per_example'] / 1e9:>10.1f}{achieved / 1e9:>9.0f}"
                        f"{achieved / ceiling:>7.0%}{result['peak_gib']:>10.2f}"
                        f"{result['slowest_over_median']:>12.2f}",
                        flush=True,
                    )
                if len(rates) == 2:
                    print(f"{'':<37}now / before: x{rates[False] / rates[True]:.2f}", flush=True)
        if args.startup:
            print(
                f"start to first iteration, 10,000 faces per side: "
                f"{startup_time(10_000, Path(tmp) / 'many'):.1f} s"
            )


if __name__ == "__main__":
    main()
