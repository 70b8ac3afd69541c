"""Soak benchmark (a script, not a test): does a long training run hold its memory and threads?

Trains a model (default Lightweight) on demo data for ``--iterations`` (default 2000) in this
process, through the same ``run_train`` the ``fs train`` command uses, with every built-in plugin on
(status line, TensorBoard logs, saves and backups). A lifecycle-hook plugin, registered on the
registry like any pack, samples every ``--every`` iterations:

* the resident memory (VmRSS from /proc/self/status; psutil is not needed),
* the process's OS threads (Threads from /proc/self/status), and the live Python threads, of which
  the batch loader's workers (named ``fs-loader``).

It prints the samples, then the slope of memory over the second half of the run, from the first
sample after the first save on (least squares, MiB per 1000 iterations; the first half holds the
warm-up: graph tracing, caches, allocator pools; the first save allocates its buffers once), and
the thread counts, and exits 1 when the slope exceeds ``--max-slope`` or the thread counts grow
in the second half (a leak of loader workers or of TensorFlow's threads).

    python bench/soak.py [--iterations 2000] [--batch-size 4] [--every 50] [--model lightweight]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fs_core.hookspecs import hookimpl


def proc_status() -> dict[str, int]:
    """VmRSS (KiB) and Threads of this process, from /proc/self/status."""
    values = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                values[key] = int(rest.split()[0])
    return values


class Sampler:
    """The lifecycle-hook plugin: one sample at the start and every ``every`` iterations."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.samples: list[dict] = []
        self.started = time.monotonic()

    def sample(self, iteration: int) -> None:
        status = proc_status()
        names = [t.name for t in threading.enumerate()]
        self.samples.append(
            {
                "iteration": iteration,
                "seconds": time.monotonic() - self.started,
                "rss_mib": status["VmRSS"] / 1024,
                "os_threads": status["Threads"],
                "py_threads": len(names),
                "loader_threads": sum(n.startswith("fs-loader") for n in names),
            }
        )

    # hooks (the names and arguments of fs_core.hookspecs)
    @hookimpl
    def fs_train_start(self, session) -> None:
        self.started = time.monotonic()

    @hookimpl
    def fs_iteration_end(self, session, iteration: int, losses) -> None:
        local = session.session_iterations
        if local == 1 or local % self.every == 0:
            self.sample(local)


def slope_per_1000(samples: list[dict]) -> float:
    """Least-squares slope of RSS (MiB) over iterations, times 1000."""
    x = np.array([s["iteration"] for s in samples], float)
    y = np.array([s["rss_mib"] for s in samples], float)
    if len(x) < 2 or np.ptp(x) == 0:
        return 0.0
    return float(np.polyfit(x, y, 1)[0] * 1000)


def steady_window(samples: list[dict], save_interval: int) -> list[dict]:
    """The samples the memory slope is judged on: the second half of the run, and nothing before
    the first save has been followed by a sample (a first save allocates its buffers once, which
    is a step, not a leak). At least three samples."""
    last = samples[-1]["iteration"]
    start = max(last / 2, min(save_interval, last) + 1)
    window = [s for s in samples if s["iteration"] >= start]
    return window if len(window) >= 3 else samples[-3:]


def report(samples: list[dict], max_slope: float, workers_limit: int, save_interval: int) -> bool:
    print(f"\n{'iter':>7} {'sec':>8} {'RSS MiB':>9} {'OS thr':>7} {'py thr':>7} {'loader':>7}")
    for s in samples:
        print(
            f"{s['iteration']:>7} {s['seconds']:>8.1f} {s['rss_mib']:>9.1f} {s['os_threads']:>7} "
            f"{s['py_threads']:>7} {s['loader_threads']:>7}"
        )
    half = samples[len(samples) // 2 :]
    first = samples[: len(samples) // 2] or samples
    window = steady_window(samples, save_interval)
    slope = slope_per_1000(window)
    total = slope_per_1000(samples)
    grown = max(s["os_threads"] for s in half) - max(s["os_threads"] for s in first)
    loader_max = max(s["loader_threads"] for s in samples)
    print(
        f"\nRSS: start {samples[0]['rss_mib']:.1f} MiB, end {samples[-1]['rss_mib']:.1f} MiB, "
        f"peak {max(s['rss_mib'] for s in samples):.1f} MiB"
    )
    print(
        f"RSS slope, iterations {window[0]['iteration']}-{window[-1]['iteration']}: {slope:+.2f} "
        f"MiB per 1000 iterations (second half {slope_per_1000(half):+.2f}, "
        f"whole run {total:+.2f}); "
        f"limit {max_slope:g}"
    )
    print(
        f"OS threads: first half max {max(s['os_threads'] for s in first)}, second half max "
        f"{max(s['os_threads'] for s in half)} (growth {grown:+d}); "
        f"loader threads max {loader_max} "
        f"(limit {workers_limit})"
    )
    ok = slope <= max_slope and grown <= 0 and loader_max <= workers_limit
    print("PASS" if ok else "FAIL")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--every", type=int, default=50, help="sample every K iterations")
    parser.add_argument("--model", default="lightweight")
    parser.add_argument("--save-interval", type=int, default=250)
    parser.add_argument("--faces", type=int, default=32, help="demo faces per side")
    parser.add_argument(
        "--max-slope",
        type=float,
        default=5.0,
        help="largest acceptable RSS growth, MiB per 1000 iterations (second half)",
    )
    parser.add_argument(
        "--workers-limit",
        type=int,
        default=2,
        help="most loader threads allowed (the loader's default worker count)",
    )
    parser.add_argument("--no-logs", action="store_true", help="without TensorBoard logs")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR (kept) instead of a temp folder")
    args = parser.parse_args(argv)
    if args.iterations < 4 * args.every:
        parser.error("--iterations should be at least 4 x --every for a slope")

    from fs_core.faces.demo import write_demo_data
    from fs_core.plugin_manager import load_registry
    from fs_core.training.run import run_train
    from fs_core.training.session import TrainRequest

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fs_soak_"))
    work.mkdir(parents=True, exist_ok=True)
    faces = work / "faces"
    if not (faces / "A").is_dir():
        write_demo_data(faces, count=args.faces, size=128)
    sampler = Sampler(args.every)
    registry = load_registry(extra_plugins={"soak_sampler": sampler})
    request = TrainRequest(
        input_a=str(faces / "A"),
        input_b=str(faces / "B"),
        model_dir=str(work / f"model_{os.getpid()}"),
        model_name=args.model,
        batch_size=args.batch_size,
        iterations=args.iterations,
        save_interval=args.save_interval,
        no_logs=args.no_logs,
        seed=0,
        status_every=10.0,
    )
    print(
        f"Soak: {args.model}, batch {args.batch_size}, {args.iterations} iterations, save every "
        f"{args.save_interval}, sampling every {args.every}; work folder {work}",
        flush=True,
    )
    started = time.monotonic()
    reason = run_train(request, registry, notify=lambda text: None)
    sampler.sample(args.iterations)  # after the exit save and the loader's shutdown
    sampler.samples[-1]["iteration"] = args.iterations
    print(f"\nstopped: {reason} after {time.monotonic() - started:.0f} s")
    threads_after = proc_status()["Threads"]
    loader_left = sum(t.name.startswith("fs-loader") for t in threading.enumerate())
    print(f"after training: {threads_after} OS threads, {loader_left} loader threads alive")
    ok = (
        report(sampler.samples[:-1], args.max_slope, args.workers_limit, args.save_interval)
        and loader_left == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
