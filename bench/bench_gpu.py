"""GPU benchmark (a script, not a test): fs's models trained under Keras 3's JAX backend on the GPU,
against the GPU's own matrix-product ceiling, and fs's data loader against the rates they need.

    KERAS_BACKEND=jax python bench/bench_gpu.py --out DIR [--budget-s 360] [--quick]

What it measures and why this way: the lent GPU machine has JAX but no TensorFlow, so fs's
TensorFlow training engine cannot run there. fs's models are Keras 3 and build unchanged under
JAX, so each case builds the model exactly as ``fs train`` does and trains it with a jitted JAX
step that mirrors ``fs_core.training.step`` (see ``gpu_step.py``), with fs's default loss
(``gpu_loss.py``, checked against the real loss plugins by ``tests/test_bench_gpu_loss.py``) and
optimizer. So the figures are for fs's architectures under XLA on that GPU, not for ``fs train``.

In order, within ``--budget-s`` (cases that would not fit are skipped with a note):

1. the machine: CPU model and flags (AMX, avx512_bf16), cores, GPU(s), versions;
2. the GPU's matrix-product ceiling, measured in the same run: an N×N product (N = 8192) in
   float32 at JAX's "highest" precision (true float32) and at its default precision (which lets
   XLA use TF32 tensor cores on the GPU; the float32 training runs at that default), in bfloat16
   and in float16; median of 5 timings after warm-up, each timing long enough to swamp launch cost;
3. each case (model:batch:precision, one process each so peak GPU memory is the case's own):
   compile time, first step, examples/s (one example = one face: a step at batch 16 trains 32) as
   fs's loop would see them and as the GPU runs them back to back, GFLOP per example
   (``flops.py``), TFLOP/s and MFU against the matching ceiling (float32 against the default-
   precision float32 ceiling, and the highest-precision one; bf16 and f16 against theirs), peak
   GPU memory;
4. fs's loader (``fs_core.data.loader.BatchLoader``, every default augmentation, demo faces) with
   1, 2, 4, 8 and 16 worker threads, faces/s and CPU ms per face, beside the faces/s each case
   consumes.

It writes ``results.json`` and ``results.md`` to ``--out`` and prints progress as it goes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from gpu_data import face_caches, loader_rate, save_pool
from gpu_report import add_rates, markdown, write_results

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SOURCE_PATHS = (ROOT, ROOT / "fs_plugins_models", ROOT / "fs_plugins_losses", HERE)

#: in priority order: what is skipped when the budget runs out is the end of the list
DEFAULT_RUNS = (
    "original:16:float32,original:16:mixed_bfloat16,original:16:mixed_float16,"
    "original:64:float32,original:64:mixed_bfloat16,dfaker:16:float32,dfaker:16:mixed_bfloat16,"
    "original:64:mixed_float16,dfaker:16:mixed_float16,original:16:float32_highest,"
    "original:16:float32:nojit"
)
QUICK_RUNS = (
    "original:2:float32,original:2:mixed_bfloat16,original:2:mixed_float16,dfaker:2:float32,"
    "original:2:float32:nojit"
)
LOADER_WORKERS = (1, 2, 4, 8, 16)


def say(text: str) -> None:
    print(text, flush=True)


# ------------------------------------------------------------------------------ the machine


def cpu_info() -> dict[str, Any]:
    """CPU model, the flags that decide bf16/f16 speed, cores and memory."""
    model, flags = "?", set[str]()
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == "?":
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    shown = sorted(f for f in flags if f.startswith("amx") or f.startswith("avx512_"))
    memory = None
    with_meminfo = Path("/proc/meminfo")
    if with_meminfo.exists():
        for line in with_meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 1024**2, 1)
    return {
        "model": model,
        "flags": shown,
        "amx": any(f.startswith("amx") for f in flags),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": memory,
    }


def versions() -> dict[str, str]:
    import cv2

    found = {"python": platform.python_version(), "opencv_threads": str(cv2.getNumThreads())}
    for name in ("jax", "jaxlib", "keras", "numpy", "opencv-python-headless", "ml-dtypes"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def gpu_description(jax: Any) -> dict[str, Any]:
    devices = jax.devices()
    info: dict[str, Any] = {
        "platform": devices[0].platform,
        "devices": [getattr(d, "device_kind", str(d)) for d in devices],
        "default_matmul_precision": str(getattr(jax.config, "jax_default_matmul_precision", "?")),
    }
    try:
        smi = subprocess.run(
            [
                "nvidia-smi",
                "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                "--format=csv,noheader",
            ],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        if smi.returncode == 0:
            info["nvidia_smi"] = smi.stdout.strip().splitlines()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return info


# ------------------------------------------------------------------------------ the ceiling


def matmul_ceilings(size: int, sample_s: float) -> dict[str, float]:
    """FLOP/s of an N×N matrix product per precision: median of 5 timings after warm-up."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    first, second = jax.random.normal(jax.random.key(0), (2, size, size), jnp.float32)
    kinds = {
        "float32_highest": (jnp.float32, lax.Precision.HIGHEST),
        "float32_default": (jnp.float32, None),
        "bfloat16": (jnp.bfloat16, None),
        "float16": (jnp.float16, None),
    }
    flop = 2.0 * size**3
    ceilings = {}
    for name, (dtype, precision) in kinds.items():
        a, b = first.astype(dtype), second.astype(dtype)
        product = jax.jit(lambda x, y, p=precision: jnp.matmul(x, y, precision=p))
        product(a, b).block_until_ready()
        start = time.perf_counter()  # warm-up, and how many products make one timing
        count = 0
        while time.perf_counter() - start < sample_s or count < 2:
            result = product(a, b)
            count += 1
            result.block_until_ready()
        repeats = max(2, int(count * sample_s / (time.perf_counter() - start)))
        samples = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(repeats):
                result = product(a, b)
            result.block_until_ready()
            samples.append(flop * repeats / (time.perf_counter() - start))
        ceilings[name] = sorted(samples)[2]
    return ceilings


def info_main(models: list[str], size: int, sample_s: float) -> dict[str, Any]:
    """Child process: GPU, versions, ceilings and each model's FLOPs and sizes."""
    import jax
    from gpu_step import flops_per_example

    started = time.perf_counter()
    found: dict[str, Any] = {"gpu": gpu_description(jax), "versions": versions()}
    found["ceiling_size"] = size
    found["ceilings"] = matmul_ceilings(size, sample_s)
    found["models"] = {name: flops_per_example(name) for name in models}
    found["info_s"] = time.perf_counter() - started
    return found


# ------------------------------------------------------------------------------ processes


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["KERAS_BACKEND"] = "jax"
    env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"  # peak memory is the case's own use
    env["PYTHONUNBUFFERED"] = "1"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    paths = [str(p) for p in SOURCE_PATHS]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def run_child(arguments: list[str], timeout: float) -> dict[str, Any]:
    """Run this script in child mode; its last JSON line, or ``{"error": ...}``."""
    command = [sys.executable, str(Path(__file__)), *arguments]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=max(timeout, 1.0),
            env=child_env(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"stopped at its time limit ({timeout:.0f} s)"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        tail = done.stderr.strip().splitlines() or ["no output"]
        for line in tail[-15:]:  # enough of a traceback to see why, in the device call's output
            say(f"    | {line[:300]}")
        return {"error": f"exit {done.returncode}: {tail[-1][:300]}"}
    return json.loads(lines[-1])


# ------------------------------------------------------------------------------ the run


def parse_run(spec: str) -> dict[str, Any]:
    parts = spec.split(":")
    if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] != "nojit"):
        raise SystemExit(f"bad case {spec!r}: model:batch:precision[:nojit]")
    from gpu_step import PRECISIONS

    if parts[2] not in PRECISIONS:
        raise SystemExit(f"bad precision in {spec!r}: one of {', '.join(PRECISIONS)}")
    return {
        "case": spec,
        "model": parts[0],
        "batch": int(parts[1]),
        "precision": parts[2],
        "jit": len(parts) == 3,
    }


class Budget:
    """Seconds left of ``--budget-s`` since the run started."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def left(self) -> float:
        return self.seconds - self.elapsed()


def gather_info(args: argparse.Namespace, runs: list[dict], results: dict, budget: Budget) -> dict:
    """The info child's findings (GPU, versions, ceilings, model FLOPs), printed and noted."""
    out = Path(args.out)
    models = sorted({r["model"] for r in runs})
    say("info: GPU, versions, matmul ceilings, model FLOPs ...")
    info = run_child(
        ["--child", "info", "--models", ",".join(models), "--ceiling-size", str(args.ceiling_size)],
        timeout=min(args.info_timeout, budget.left()),
    )
    if "error" in info:
        results["notes"].append(f"info child failed: {info['error']}")
        write_results(out, results)
        raise SystemExit(f"info child failed: {info['error']}")
    results["info"] = info
    if len(info["gpu"]["devices"]) > 1:
        results["notes"].append(
            f"{len(info['gpu']['devices'])} devices present; every case trains on the first one "
            "only (no data-parallel split is measured)"
        )
    if info["gpu"]["platform"] == "cpu":
        results["notes"].append("no GPU: JAX ran on the CPU (a test run, not GPU figures)")
    say(f"  devices: {info['gpu']['devices']} ({info['gpu']['platform']}); {info['versions']}")
    for name, value in info["ceilings"].items():
        say(f"  ceiling {name:16s} {value / 1e12:8.2f} TFLOP/s")
    for name, model in info["models"].items():
        say(
            f"  {name}: {model['flops_per_example'] / 1e9:.1f} GFLOP/example, in "
            f"{model['input_size']} out {model['output_sizes']}, {model['parameters']:,} params"
        )
    write_results(out, results)
    return info


def prepare_data(
    folder: Path, faces: int, runs: list[dict], models: dict
) -> tuple[dict, dict, dict]:
    """Demo faces, their caches per process size, and a pool of loader batches per case shape:
    (caches by size, process size by model, pool file by (model, batch))."""
    from fs_core.faces.demo import write_demo_data

    start = time.perf_counter()
    folders = write_demo_data(folder / "demo", count=faces, size=256, clip_frames=0)
    process_sizes = {name: max([m["input_size"], *m["output_sizes"]]) for name, m in models.items()}
    caches = {size: face_caches(folders, size) for size in sorted(set(process_sizes.values()))}
    pools: dict[tuple[str, int], Path] = {}
    for run in runs:
        key = (run["model"], run["batch"])
        if key not in pools:
            pools[key] = folder / f"pool_{run['model']}_{run['batch']}.npz"
            model = models[run["model"]]
            save_pool(pools[key], caches[process_sizes[run["model"]]], run["batch"], model, 4)
    say(
        f"data: 2 x {faces} demo faces, caches {sorted(caches)} px, "
        f"{len(pools)} batch pools in {time.perf_counter() - start:.1f} s"
    )
    return caches, process_sizes, pools


def run_cases(
    args: argparse.Namespace,
    runs: list[dict],
    pools: dict,
    info: dict,
    results: dict,
    budget: Budget,
) -> None:
    """Each case in its own process, in priority order, while the budget lasts."""
    reserve = 0.0 if args.no_loader else args.loader_reserve_s
    for run in runs:
        room = budget.left() - reserve
        if room < args.min_case_s:
            run["skipped"] = f"skipped: {max(room, 0):.0f} s of the budget left"
            results["cases"].append(run)
            say(f"{run['case']}: {run['skipped']}")
            continue
        say(f"{run['case']}: running (at most {min(room, args.case_timeout):.0f} s) ...")
        measured = run_child(
            [
                "--child",
                "case",
                "--case",
                run["case"],
                "--pool",
                str(pools[(run["model"], run["batch"])]),
                "--iterations",
                str(args.iterations if run["jit"] else args.eager_iterations),
                "--seconds",
                str(args.seconds),
                "--warmup",
                str(args.warmup if run["jit"] else 1),
            ],
            timeout=min(room, args.case_timeout),
        )
        run.update(measured)
        if "error" not in run:
            add_rates(run, info["models"], info["ceilings"])
            say(
                f"  {run['loop_examples_per_second']:.1f} EG/s loop, "
                f"{run['device_examples_per_second']:.1f} EG/s device, "
                f"{run['device_tflops']:.2f} TFLOP/s, MFU {run['device_mfu']:.0%}; trace "
                f"{run.get('trace_s', 0.0):.1f} s, compile {run.get('compile_s', 0.0):.1f} s, "
                f"first step {run['first_step_s']:.1f} s, "
                f"peak {run.get('peak_gpu_gib')} GiB, loss {run['loss_first']} -> "
                f"{run['loss_last']}"
            )
        else:
            say(f"  failed: {run['error']}")
        results["cases"].append(run)
        write_results(Path(args.out), results)


def orchestrate(args: argparse.Namespace) -> None:
    budget = Budget(args.budget_s)
    specs = args.runs or (QUICK_RUNS if args.quick else DEFAULT_RUNS).split(",")
    runs = [parse_run(spec) for spec in specs]
    runs = [r for r in runs if r["jit"] or not args.no_eager]
    results: dict[str, Any] = {
        "machine": {"cpu": cpu_info(), "versions": versions()},
        "settings": {k: v for k, v in vars(args).items() if k not in ("child",)},
        "cases": [],
        "loader": [],
        "notes": [],
    }
    cpu = results["machine"]["cpu"]
    say(
        f"CPU: {cpu['model']}, {cpu['cores']} cores, flags {' '.join(cpu['flags']) or '-'}; "
        f"python {platform.python_version()}"
    )
    info = gather_info(args, runs, results, budget)
    with tempfile.TemporaryDirectory() as tmp:
        caches, process_sizes, pools = prepare_data(Path(tmp), args.faces, runs, info["models"])
        run_cases(args, runs, pools, info, results, budget)
        if not args.no_loader:
            measure_loader(args, results, info, caches, process_sizes, budget.left)
    results["elapsed_s"] = budget.elapsed()
    write_results(Path(args.out), results)
    say("")
    say(markdown(results))  # last, so the end of the output holds the tables
    say(f"done in {results['elapsed_s']:.0f} s; {Path(args.out) / 'results.md'}")


def measure_loader(
    args: argparse.Namespace,
    results: dict,
    info: dict,
    caches: dict,
    process_sizes: dict,
    left: Any,
) -> None:
    """fs's loader at each worker count, per process size and batch the cases used."""
    setups = sorted({(c["model"], c["batch"]) for c in results["cases"]})
    workers = [w for w in args.loader_workers if w > 0]
    runs = len(setups) * len(workers)
    if not runs:
        return
    seconds = min(args.loader_seconds, max(left() - 5.0, 0.0) / runs / 2.0)  # + a warm-up wave
    if seconds < 0.5:
        results["notes"].append("loader not measured: the budget ran out")
        say("loader: skipped, the budget ran out")
        return
    for model_name, batch in setups:
        model = info["models"][model_name]
        rates = [
            c["loop_examples_per_second"]
            for c in results["cases"]
            if c["model"] == model_name and c["batch"] == batch and "error" not in c
            if "skipped" not in c
        ]
        label = (
            f"{model_name} b{batch} (in {model['input_size']}, out {model['output_sizes']}, "
            f"{process_sizes[model_name]} px faces)"
        )
        for count in workers:
            row = loader_rate(caches[process_sizes[model_name]], batch, model, count, seconds)
            row.update({"for": label, "workers": count, "needed": max(rates, default=0.0)})
            results["loader"].append(row)
            say(
                f"loader {label}: {count:2d} workers {row['faces_per_second']:7.0f} faces/s, "
                f"{row['cpu_ms_per_face']:.2f} CPU ms/face (fastest case needs "
                f"{row['needed']:.0f})"
            )


def child_main(args: argparse.Namespace) -> None:
    if args.child == "info":
        size = args.ceiling_size
        print(json.dumps(info_main(args.models.split(","), size, args.sample_s)), flush=True)
        return
    run = parse_run(args.case)
    from gpu_step import run_case

    measured = run_case(
        run["model"],
        run["batch"],
        run["precision"],
        run["jit"],
        Path(args.pool),
        args.iterations,
        args.seconds,
        args.warmup,
    )
    print(json.dumps(measured), flush=True)


def main() -> None:
    for path in reversed(SOURCE_PATHS):  # the repository is not installed on the GPU machine
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    os.environ.setdefault("KERAS_BACKEND", "jax")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="bench_gpu_out", help="folder for results.json/.md")
    parser.add_argument("--budget-s", type=float, default=360.0, help="total time budget")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to test on a CPU")
    parser.add_argument(
        "--runs",
        type=lambda text: text.split(","),
        help="model:batch:precision[:nojit],... in priority order (precisions: float32, "
        "float32_highest, mixed_bfloat16, mixed_float16)",
    )
    parser.add_argument("--iterations", type=int, default=200, help="timed steps at most")
    parser.add_argument("--seconds", type=float, default=2.0, help="timed loop length at most")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--eager-iterations", type=int, default=3)
    parser.add_argument("--no-eager", action="store_true", help="drop the :nojit cases")
    parser.add_argument("--ceiling-size", type=int, default=8192)
    parser.add_argument("--sample-s", type=float, default=0.2, help="length of one ceiling timing")
    parser.add_argument("--faces", type=int, default=128, help="demo faces per side")
    parser.add_argument(
        "--loader-workers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=list(LOADER_WORKERS),
    )
    parser.add_argument("--loader-seconds", type=float, default=2.0)
    parser.add_argument("--loader-reserve-s", type=float, default=45.0)
    parser.add_argument("--no-loader", action="store_true")
    parser.add_argument("--case-timeout", type=float, default=150.0)
    parser.add_argument("--min-case-s", type=float, default=25.0)
    parser.add_argument("--info-timeout", type=float, default=120.0)
    parser.add_argument("--child", choices=("info", "case"), help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--pool", help=argparse.SUPPRESS)
    parser.add_argument("--models", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    if args.quick:
        args.ceiling_size = min(args.ceiling_size, 512)
        args.sample_s = min(args.sample_s, 0.05)
        args.iterations = min(args.iterations, 3)
        args.seconds = min(args.seconds, 1.0)
        args.warmup = min(args.warmup, 1)
        args.eager_iterations = min(args.eager_iterations, 2)
        args.faces = min(args.faces, 16)
        args.loader_workers = [w for w in args.loader_workers if w <= 2]
        args.loader_seconds = min(args.loader_seconds, 0.5)
        args.loader_reserve_s = min(args.loader_reserve_s, 10.0)
        args.min_case_s = min(args.min_case_s, 10.0)
    orchestrate(args)


if __name__ == "__main__":
    main()
