"""Training speed benchmark (a script, not a test): examples/s, FLOP/s and utilisation.

For each case (Original at batch 16 and 64, Lightweight and Dfaker at batch 16; float32 and
mixed_bfloat16) it trains on demo data in a fresh subprocess (so peak memory is per case), drops
the warm-up iterations and prints examples per second (one example is one face: an iteration at
batch 16 trains 32), the model's training FLOPs per example (three times the forward pass counted
from the layers; Original 11.4 GFLOP, the unit of faceswap's own 7.16 examples/s), the achieved
FLOP/s, and that as a fraction of the machine's ceiling (a float32 4096x4096 matmul through
tf.function) measured in the same run, and the slowest measured iteration over the median one
(with 200 demo faces per side an epoch ends every 200 / batch iterations, so a loader stall at
epoch boundaries would show there), and the seconds from the case process's start to its first
finished iteration (imports, model build, first batch, the first step's tracing or compiling; 200
demo faces, so no face-cache cost to speak of). Optionally (--startup) the time from start to
the first iteration with 2 x 10,000 faces, cold (an empty face cache) and warm (the next run over
the same folders), and (--compare) every case also as it ran before the speed changes of
bench/RESULTS.md (Keras' convolution for small maps, Keras' element-wise Adam update).

    python bench/bench_train.py [--cases original:16,lightweight:16] [--iterations 40] [--startup]
    python bench/bench_train.py --cases original:16 --precisions none --backends tensorflow,torch
    python bench/bench_train.py --startup --startup-only [--startup-repeats 3]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import signal
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
    backend: str = "tensorflow",
) -> dict:
    """Train in a subprocess on Keras' ``backend``; returns its measurements (see
    :func:`case_main`)."""
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
    env = {**os.environ, "KERAS_BACKEND": backend}
    output = subprocess.run(
        command, check=False, capture_output=True, text=True, timeout=3600, env=env
    )
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

    process_start = time.perf_counter()

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
                # imports, model build, first batch and the first step's tracing or compiling
                "first_iteration_s": stamps[0] - process_start,
            }
        )
    )


#: start-up is also timed to this iteration: preparing faces in the background slows training
#: until it is done, which a face cache hit avoids
STARTUP_MARK = 20
_ITERATION = re.compile(r"\[#(\d+)\]")


def startup_run(folder: Path, env: dict, until_cached: bool = False) -> tuple[float, float]:
    """Seconds from launching ``fs train -t original -b 16`` on ``folder``'s A and B to its first
    iteration and to iteration :data:`STARTUP_MARK`. ``until_cached``: then keep it training until
    both sides' faces are prepared (and so written to the face cache: Ctrl-C waits for that
    write), and stop it with Ctrl-C."""
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
                str(10**6 if until_cached else STARTUP_MARK),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**env, "PYTHONUNBUFFERED": "1"},
        )
        assert process.stdout is not None
        first: float | None = None
        marked: float | None = None
        sides_done = 0
        for line in process.stdout:  # the status line's carriage returns end lines here too
            found = _ITERATION.search(line)
            if found and first is None:
                first = time.perf_counter() - start
            if found and int(found.group(1)) >= STARTUP_MARK and marked is None:
                marked = time.perf_counter() - start
                if not until_cached:
                    break
            # a side is done when its faces are prepared, or when none needed preparing
            if " prepared in " in line or line.rstrip().endswith("from the face cache)"):
                sides_done += 1
            if until_cached and marked is not None and sides_done == 2:
                process.send_signal(signal.SIGINT)  # saves, writes what is left, and exits
                break
        for _ in process.stdout:
            pass
        process.wait()
    return (float("nan") if first is None else first), (float("nan") if marked is None else marked)


def startup_times(count: int, folder: Path, repeats: int) -> list[dict[str, tuple[float, float]]]:
    """Start-up with ``count`` faces per side, ``repeats`` times: ``cold`` with an empty face cache
    (a fresh ``FS_FACE_CACHE``; the run then trains until every face is prepared and cached),
    ``warm`` the next run over the same folders; each (first iteration, iteration
    :data:`STARTUP_MARK`) in seconds from launch. The files stay in the page cache throughout
    (they were just written or read), so cold means "nothing prepared", not "nothing read from
    the disk yet"."""
    from fs_core.faces.demo import write_demo_data

    if not (folder / "A").exists():
        write_demo_data(folder, count=count, size=128)
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "FS_FACE_CACHE": cache}
            cold = startup_run(folder, env, until_cached=True)
            warm = startup_run(folder, env)
        times.append({"cold": cold, "warm": warm})
    return times


def report_startup(args: argparse.Namespace, default_folder: Path) -> None:
    folder = Path(args.startup_faces) if args.startup_faces else default_folder
    times = startup_times(10_000, folder, args.startup_repeats)
    for number, run in enumerate(times, 1):
        print(
            f"2 x 10,000 faces, run {number}: first iteration cold {run['cold'][0]:.1f} s, "
            f"warm {run['warm'][0]:.1f} s; iteration {STARTUP_MARK} cold {run['cold'][1]:.1f} s, "
            f"warm {run['warm'][1]:.1f} s",
            flush=True,
        )

    def median(kind: str, which: int) -> float:
        values = sorted(run[kind][which] for run in times)
        return values[len(values) // 2]

    print(
        f"median: first iteration cold {median('cold', 0):.1f} s, warm {median('warm', 0):.1f} s; "
        f"iteration {STARTUP_MARK} cold {median('cold', 1):.1f} s, warm {median('warm', 1):.1f} s"
    )


def report_ratios(rates: dict[tuple[bool, str], float], backends: list[str]) -> None:
    """now / before per backend (--compare), then each other backend / the first."""
    for backend in backends:
        if (True, backend) in rates and (False, backend) in rates:
            ratio = rates[False, backend] / rates[True, backend]
            print(f"{'':<37}now / before{f' [{backend}]' * (len(backends) > 1)}: x{ratio:.2f}")
    first = backends[0]
    for backend in backends[1:]:
        if (False, first) in rates and (False, backend) in rates:
            ratio = rates[False, backend] / rates[False, first]
            print(f"{'':<37}{backend} / {first}: x{ratio:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--cases", default=DEFAULT_CASES)
    parser.add_argument("--precisions", default="none,mixed_bfloat16")
    parser.add_argument(
        "--backends",
        default="tensorflow",
        help="Keras backends to train each case on, alternating (e.g. tensorflow,torch)",
    )
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument(
        "--startup",
        action="store_true",
        help="also time start-up with 2 x 10,000 faces: cold (empty face cache) and warm",
    )
    parser.add_argument(
        "--startup-repeats", type=int, default=3, help="cold + warm pairs timed (median printed)"
    )
    parser.add_argument(
        "--startup-only", action="store_true", help="time start-up only (no training cases)"
    )
    parser.add_argument(
        "--startup-faces",
        metavar="DIR",
        help="the 2 x 10,000 faces (DIR/A, DIR/B; written there when missing, else in a "
        "temporary folder)",
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
    if args.startup_only:
        with tempfile.TemporaryDirectory() as tmp:
            report_startup(args, Path(tmp) / "many")
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
            f"{'max/med it':>12}{'1st it s':>10}"
        )
        for case in [] if args.startup_only else args.cases.split(","):
            model, batch = case.split(":")
            for precision in args.precisions.split(","):
                rates = {}
                runs = itertools.product(
                    (True, False) if args.compare else (False,), args.backends.split(",")
                )
                for baseline, backend in runs:
                    result = run_case(
                        model,
                        int(batch),
                        precision,
                        args.iterations,
                        args.warmup,
                        faces,
                        baseline,
                        backend,
                    )
                    label = f"{model} b{batch} {precision}" + (" (before)" if baseline else "")
                    label += f" [{backend}]" if backend != "tensorflow" else ""
                    if "error" in result:
                        print(f"{label:<37} failed: {result['error']}")
                        continue
                    rates[baseline, backend] = result["examples_per_second"]
                    achieved = result["examples_per_second"] * result["flops_per_example"]
                    print(
                        f"{label:<37}{result['examples_per_second']:>8.2f}"
                        f"{result['flops_per_example'] / 1e9:>10.1f}{achieved / 1e9:>9.0f}"
                        f"{achieved / ceiling:>7.0%}{result['peak_gib']:>10.2f}"
                        f"{result['slowest_over_median']:>12.2f}"
                        f"{result['first_iteration_s']:>10.1f}",
                        flush=True,
                    )
                report_ratios(rates, args.backends.split(","))
        if args.startup:
            report_startup(args, Path(tmp) / "many")


if __name__ == "__main__":
    main()
