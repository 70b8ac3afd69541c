"""Soak benchmark (a script, not a test): does a long training run hold its memory, open files,
threads and disk?

Trains a model (default Lightweight, batch 4) on demo data for ``--iterations`` (default 10,000) in
this process, through the same ``run_train`` the ``fs train`` command uses, with every built-in
plugin on: status line, TensorBoard logs, the training record that ``fs gui`` reads (events,
previews at saves), saves, backups (``[global] backup_keep``) and snapshots every
``--snapshot-interval`` iterations (default 100) with retention (``[global] snapshot_keep``). A
lifecycle-hook plugin, registered on the registry like any pack, samples every ``--every``
iterations:

* the resident memory (VmRSS from /proc/self/status; psutil is not needed), and the C heap's
  live bytes and the free bytes its allocator holds (glibc's mallinfo2: a leak grows the first,
  the allocator's fragmentation only the second; training hands free heap pages back after each
  save, see fs_core.training.heap),
* the open file descriptors (/proc/self/fd),
* the process's OS threads (Threads from /proc/self/status), and the live Python threads, of which
  the batch loader's workers (named ``fs-loader``),
* the disk used by the model: its saved files, backups, TensorBoard logs and training record, and
  the snapshot folders beside it (with their count).

It prints the samples, then start / middle / end figures, the slope of memory over the second half
of the run, from the first sample after the first save on (least squares, MiB per 1000 iterations;
the first half holds the warm-up: graph tracing, caches, allocator pools; the first save allocates
its buffers once), and exits 1 when the slope exceeds ``--max-slope``, when open files or thread
counts grow in the second half (a leak of files, loader workers or TensorFlow's threads), or when
the snapshots and backups outgrow their retention settings (more of them than kept, or more disk
than the saved files plus the kept generations, each at most the largest copy, plus one save in
progress). TensorBoard logs grow with the iterations by design (a few bytes per scalar); they and
the training record are reported apart and not judged.

    python bench/soak.py [--iterations 10000] [--batch-size 4] [--every 100] [--model lightweight]
        [--snapshot-interval 100] [--snapshot-keep 5] [--backup-keep 3]
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
from fs_core.training.heap import heap_usage

MIB = 1024 * 1024


def open_files() -> int:
    """Open file descriptors of this process."""
    return len(os.listdir("/proc/self/fd"))


def disk_use(model_dir: Path) -> dict[str, float]:
    """MiB the model takes, by part, and its snapshot count (see the module docstring)."""
    from fs_core.folder.retention import folder_size
    from fs_core.folder.snapshots import list_snapshots

    mib = 1024 * 1024
    parts = {"saved": 0.0, "backups": 0.0, "logs": 0.0, "record": 0.0}
    if model_dir.is_dir():
        for entry in model_dir.iterdir():
            key = entry.name if entry.name in parts else "saved"
            parts[key] += folder_size(entry) / mib
    from fs_core.folder.backups import list_backups

    snapshots = list_snapshots(model_dir)
    parts["snapshots"] = sum(folder_size(g.path) for g in snapshots) / mib
    parts["snapshot_count"] = len(snapshots)
    parts["backup_count"] = len(list_backups(model_dir))
    # the largest single copy of the model: what each kept generation costs at most
    parts["largest"] = max(
        [folder_size(g.path) / mib for g in snapshots + list_backups(model_dir)] + [parts["saved"]]
    )
    return parts


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

    def __init__(self, every: int, model_dir: Path) -> None:
        self.every = every
        self.model_dir = model_dir
        self.samples: list[dict] = []
        self.started = time.monotonic()

    def sample(self, iteration: int) -> None:
        status = proc_status()
        heap = heap_usage()
        names = [t.name for t in threading.enumerate()]
        disk = disk_use(self.model_dir)
        self.samples.append(
            {
                "iteration": iteration,
                "seconds": time.monotonic() - self.started,
                "rss_mib": status["VmRSS"] / 1024,
                "heap_mib": heap.in_use / MIB if heap else float("nan"),
                "heap_free_mib": heap.held_free / MIB if heap else float("nan"),
                "open_files": open_files(),
                "os_threads": status["Threads"],
                "py_threads": len(names),
                "loader_threads": sum(n.startswith("fs-loader") for n in names),
                "disk": disk,
                "kept_mib": disk["saved"] + disk["backups"] + disk["snapshots"],
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


def slope_per_1000(samples: list[dict], key: str = "rss_mib") -> float:
    """Least-squares slope of ``key`` (MiB; RSS unless told) over iterations, times 1000."""
    x = np.array([s["iteration"] for s in samples], float)
    y = np.array([s[key] for s in samples], float)
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
    print(
        f"\n{'iter':>7} {'sec':>8} {'RSS MiB':>9} {'heap MiB':>9} {'free MiB':>9} {'files':>6} "
        f"{'OS thr':>7} {'py thr':>7} "
        f"{'loader':>7} {'kept MiB':>9} {'logs MiB':>9} {'snaps':>6}"
    )
    for s in samples:
        print(
            f"{s['iteration']:>7} {s['seconds']:>8.1f} {s['rss_mib']:>9.1f} {s['heap_mib']:>9.1f} "
            f"{s['heap_free_mib']:>9.1f} {s['open_files']:>6} "
            f"{s['os_threads']:>7} {s['py_threads']:>7} {s['loader_threads']:>7} "
            f"{s['kept_mib']:>9.1f} {s['disk']['logs']:>9.2f} {s['disk']['snapshot_count']:>6}"
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
    if not np.isnan(window[-1]["heap_mib"]):
        heap_slope = slope_per_1000(window, "heap_mib")
        print(
            f"C heap in use (live allocations), same iterations: {heap_slope:+.2f} "
            f"MiB per 1000 iterations ({window[0]['heap_mib']:.1f} -> {window[-1]['heap_mib']:.1f} "
            f"MiB); held free by the allocator {window[0]['heap_free_mib']:.1f} -> "
            f"{window[-1]['heap_free_mib']:.1f} MiB"
        )
    print(
        f"OS threads: first half max {max(s['os_threads'] for s in first)}, second half max "
        f"{max(s['os_threads'] for s in half)} (growth {grown:+d}); "
        f"loader threads max {loader_max} "
        f"(limit {workers_limit})"
    )
    ok = slope <= max_slope and grown <= 0 and loader_max <= workers_limit
    return ok


def report_flat(samples: list[dict], snapshot_keep: int, backup_keep: int) -> bool:
    """Start / middle / end figures, and whether open files and the kept disk stay flat."""
    middle = samples[len(samples) // 2]
    print(
        f"\n{'':>7} {'iter':>7} {'RSS MiB':>9} {'files':>6} {'OS thr':>7} {'saved MiB':>10} "
        f"{'backups':>8} {'snaps MiB':>10} {'snaps':>6} {'logs MiB':>9} {'record':>7}"
    )
    for name, s in (("start", samples[0]), ("middle", middle), ("end", samples[-1])):
        d = s["disk"]
        print(
            f"{name:>7} {s['iteration']:>7} {s['rss_mib']:>9.1f} {s['open_files']:>6} "
            f"{s['os_threads']:>7} {d['saved']:>10.1f} {d['backups']:>8.1f} "
            f"{d['snapshots']:>10.1f} {d['snapshot_count']:>6} {d['logs']:>9.2f} "
            f"{d['record']:>7.2f}"
        )
    half, first = samples[len(samples) // 2 :], samples[: len(samples) // 2] or samples
    files_grown = max(s["open_files"] for s in half) - max(s["open_files"] for s in first)
    most_snapshots = max(s["disk"]["snapshot_count"] for s in samples)
    most_backups = max(s["disk"]["backup_count"] for s in samples)
    largest = max(s["disk"]["largest"] for s in samples)
    # the saved files plus every kept generation, each at most the largest copy seen, and the
    # temporary copy of a save in progress
    generations = backup_keep + (snapshot_keep or most_snapshots)
    bound = (2 + generations) * largest * 1.02
    most_kept = max(s["kept_mib"] for s in samples)
    counts_ok = most_backups <= backup_keep and (
        snapshot_keep == 0 or most_snapshots <= snapshot_keep
    )
    kept_ok = counts_ok and most_kept <= bound
    print(
        f"open files: first half max {max(s['open_files'] for s in first)}, second half max "
        f"{max(s['open_files'] for s in half)} (growth {files_grown:+d})"
    )
    print(
        f"snapshots at most {most_snapshots} (snapshot_keep {snapshot_keep}), backups at most "
        f"{most_backups} (backup_keep {backup_keep}); kept on disk (saved files, backups, "
        f"snapshots) at most {most_kept:.1f} MiB, bound {bound:.1f} MiB "
        f"((2 + {generations}) x the largest copy, {largest:.1f} MiB); second half "
        f"{min(s['kept_mib'] for s in half):.1f} to {max(s['kept_mib'] for s in half):.1f} MiB"
    )
    print(
        f"TensorBoard logs {samples[0]['disk']['logs']:.2f} -> {samples[-1]['disk']['logs']:.2f} "
        f"MiB, training record {samples[0]['disk']['record']:.2f} -> "
        f"{samples[-1]['disk']['record']:.2f} MiB (logs grow by design; not judged)"
    )
    return files_grown <= 0 and kept_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--every", type=int, default=100, help="sample every K iterations")
    parser.add_argument("--model", default="lightweight")
    parser.add_argument("--save-interval", type=int, default=250)
    parser.add_argument("--faces", type=int, default=32, help="demo faces per side")
    parser.add_argument("--snapshot-interval", type=int, default=100, help="-I (0: none)")
    parser.add_argument("--snapshot-keep", type=int, default=5, help="[global] snapshot_keep")
    parser.add_argument("--backup-keep", type=int, default=3, help="[global] backup_keep")
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
    model_dir = work / f"model_{os.getpid()}"
    config = work / "soak.toml"
    config.write_text(
        f"[global]\nsnapshot_keep = {args.snapshot_keep}\nbackup_keep = {args.backup_keep}\n"
    )
    sampler = Sampler(args.every, model_dir)
    registry = load_registry(extra_plugins={"soak_sampler": sampler})
    request = TrainRequest(
        input_a=str(faces / "A"),
        input_b=str(faces / "B"),
        model_dir=str(model_dir),
        config_path=str(config),
        snapshot_interval=args.snapshot_interval,
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
        f"{args.save_interval}, snapshot every {args.snapshot_interval} (keep "
        f"{args.snapshot_keep}), backups kept {args.backup_keep}, TensorBoard "
        f"{'off' if args.no_logs else 'on'}, training record on; sampling every {args.every}; "
        f"work folder {work}",
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
    samples = sampler.samples[:-1]
    memory_ok = report(samples, args.max_slope, args.workers_limit, args.save_interval)
    flat_ok = report_flat(samples, args.snapshot_keep, args.backup_keep)
    ok = memory_ok and flat_ok and loader_left == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
