"""GPU check of ``fs train`` itself on PyTorch and JAX (a script, not a test).

    python3 bench/gpu_train.py --out DIR [--budget-s 450] [--backends torch,jax] [--quick]

Unlike ``bench_gpu.py`` (fs's architectures in a stand-in JAX step), every case here is the real
training loop: ``fs_core.training.run.run_train`` with the installed plugin packs, fs's loader,
augmentation, loss composition, optimizer, saving at the end, in a fresh process per case with
``KERAS_BACKEND`` set (so peak GPU memory is the case's own). It needs no TensorFlow: the GPU
machines this project borrows carry PyTorch and JAX only.

In order, within ``--budget-s`` (cases that would not fit are skipped with a note):

1. the machine: CPU model and flags, cores, GPU, versions;
2. each backend's matrix-product ceiling, measured in the same run (an N x N product, median of 5
   timings after warm-up): float32 true (torch: TF32 off; JAX: "highest"), float32 as the
   backend trains by default (torch lets cuDNN convolutions use TF32 but not matrix products;
   JAX's default lets XLA use TF32), bfloat16 and float16;
3. each case ``backend:model:batch:precision[:wN]`` (N: loader threads; fs's default is half
   the cores, 2 to 8, and ``:w2`` is the old fixed 2):
   seconds from process start to the first finished iteration (imports, model build, first
   batch, compile), the first iteration alone, examples/s over the timed iterations (one example
   is one face: an iteration at batch 16 trains 32), TFLOP/s and MFU against the ceiling of the
   case's precision (``flops.py``'s count), the share of the loop spent waiting for the loader
   (does it keep up?), peak GPU memory, and the save at the end.

It writes ``results.json`` and ``results.md`` to ``--out`` and prints progress as it goes. The
command used on the lent machine is in ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))  # bench_gpu's machine and ceiling helpers, flops.py

from bench_gpu import cpu_info  # noqa: E402 (needs the path above)

PROCESS_START = time.perf_counter()

#: priority order: what the budget cannot fit is the end of the list
DEFAULT_CASES = (
    "torch:original:16:float32,jax:original:16:float32,"
    "torch:original:16:mixed_bfloat16,jax:original:16:mixed_bfloat16,"
    "torch:original:16:mixed_float16,jax:original:16:mixed_float16,"
    "torch:original:64:mixed_bfloat16,jax:original:64:mixed_bfloat16,"
    "torch:original:64:mixed_bfloat16:w2,"
    "torch:dfaker:16:mixed_bfloat16,jax:dfaker:16:mixed_bfloat16,"
    "torch:original:64:float32,jax:original:64:float32,"
    "torch:dfaker:16:float32,jax:dfaker:16:float32,"
    "torch:dfaker:16:mixed_float16,jax:dfaker:16:mixed_float16,"
    "jax:original:64:mixed_bfloat16:w2"
)
QUICK_CASES = (
    "torch:lightweight:2:float32,jax:lightweight:2:float32,torch:lightweight:2:mixed_bfloat16:w4"
)
#: fs's ``[global] mixed_precision`` value per case precision
POLICIES = {"float32": "none", "mixed_bfloat16": "mixed_bfloat16", "mixed_float16": "mixed_float16"}
#: which ceiling a case's precision is measured against
CEILING_OF = {
    "float32": "float32_default",
    "mixed_bfloat16": "bfloat16",
    "mixed_float16": "float16",
}


def say(text: str) -> None:
    print(text, flush=True)


# ------------------------------------------------------------------------------ the machine


def versions() -> dict[str, str]:
    found = {}
    for name in ("torch", "jax", "jaxlib", "keras", "numpy", "opencv-python-headless", "fs-core"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def nvidia_smi() -> list[str]:
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return done.stdout.strip().splitlines() if done.returncode == 0 else []


# ------------------------------------------------------------------------------ ceilings


def _median_rate(run: Any, sync: Any, flop: float, sample_s: float) -> float:
    """FLOP/s of ``run()``: warm-up, then the median of 5 timings each ~``sample_s`` long."""
    sync(run())
    start, count = time.perf_counter(), 0
    while time.perf_counter() - start < sample_s or count < 2:
        result = run()
        count += 1
    sync(result)
    repeats = max(2, int(count * sample_s / (time.perf_counter() - start)))
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            result = run()
        sync(result)
        samples.append(flop * repeats / (time.perf_counter() - start))
    return sorted(samples)[2]


def torch_ceilings(size: int, sample_s: float) -> dict[str, Any]:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    base = torch.randn(2, size, size, device=device)
    flop = 2.0 * size**3
    found: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "tf32_matmul_default": bool(torch.backends.cuda.matmul.allow_tf32),
        "tf32_cudnn_default": bool(torch.backends.cudnn.allow_tf32),
    }

    def sync(_: Any) -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    kinds = {
        "float32_true": (torch.float32, False),
        "float32_tf32": (torch.float32, True),
        "bfloat16": (torch.bfloat16, False),
        "float16": (torch.float16, False),
    }
    default_tf32 = torch.backends.cuda.matmul.allow_tf32
    for name, (dtype, tf32) in kinds.items():
        torch.backends.cuda.matmul.allow_tf32 = tf32
        a, b = base[0].to(dtype), base[1].to(dtype)
        found[name] = _median_rate(lambda a=a, b=b: a @ b, sync, flop, sample_s)
    torch.backends.cuda.matmul.allow_tf32 = default_tf32
    # fs trains float32 with torch's defaults: matrix products in true float32, convolutions
    # (most of the work) in TF32 through cuDNN
    found["float32_default"] = found["float32_tf32" if default_tf32 else "float32_true"]
    found["float32_conv_tf32"] = found["float32_tf32"]
    return found


def jax_ceilings(size: int, sample_s: float) -> dict[str, Any]:
    """``bench_gpu.py``'s JAX ceilings, under this script's names."""
    import jax
    from bench_gpu import matmul_ceilings

    found: dict[str, Any] = {"device": getattr(jax.devices()[0], "device_kind", "?")}
    for name, rate in matmul_ceilings(size, sample_s).items():
        found["float32_true" if name == "float32_highest" else name] = rate
    return found


# ------------------------------------------------------------------------------ one case


def peak_gpu_bytes(backend: str) -> int | None:
    """The case's peak GPU memory (None on a CPU)."""
    if backend == "torch":
        import torch

        return int(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() else None
    import jax

    device = jax.devices()[0]
    if device.platform == "cpu":
        return None
    stats = device.memory_stats() or {}
    return int(stats.get("peak_bytes_in_use", 0)) or None


def set_loader_workers(workers: int) -> None:
    """Train with ``workers`` loader threads instead of fs's default: the loader's batches
    depend on the seed alone, so only the speed changes."""
    from fs_core.data import loader as loader_module

    original = loader_module.BatchLoader.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["workers"] = workers
        original(self, *args, **kwargs)

    loader_module.BatchLoader.__init__ = init  # type: ignore[method-assign]


def case_main(spec: str, faces: Path, seconds: float, warmup: int, max_iterations: int) -> dict:
    """Child process: one real ``fs train`` run; its measurements."""
    backend, model_name, batch_text, precision, *rest = spec.split(":")
    batch = int(batch_text)
    workers = int(rest[0][1:]) if rest else None
    from flops import training_flops_per_example

    from fs_core import hookimpl
    from fs_core.data.loader import default_loader_workers
    from fs_core.plugin_manager import get_registry
    from fs_core.training import loop
    from fs_core.training.run import run_train
    from fs_core.training.session import TrainRequest

    imported = time.perf_counter() - PROCESS_START
    if workers:
        set_loader_workers(workers)
    ends: list[float] = []
    waits: list[float] = []
    found: dict[str, Any] = {}

    original_iterate = loop._iterate

    def timed_iterate(session: Any, loader: Any, step: Any, hook: Any) -> Any:
        class TimedLoader:
            def __next__(self) -> Any:
                start = time.perf_counter()
                batch = next(loader)
                waits.append(time.perf_counter() - start)
                return batch

            def __getattr__(self, name: str) -> Any:
                return getattr(loader, name)

        found["loop_start"] = time.perf_counter()
        return original_iterate(session, TimedLoader(), step, hook)

    loop._iterate = timed_iterate  # type: ignore[assignment]

    class Timer:
        @hookimpl
        def fs_iteration_end(self, session: Any) -> None:
            ends.append(time.perf_counter())
            if len(ends) == 1:
                found["flops"] = training_flops_per_example(session.model)
            timed = ends[-1] - ends[min(warmup, len(ends) - 1)]
            if len(ends) > warmup and (timed >= seconds or len(ends) >= max_iterations):
                if "stop_asked" not in found:
                    found["stop_asked"] = time.perf_counter()
                    session.running.ask("stop", self)

    registry = get_registry()
    registry.manager.register(Timer(), "gpu_train_timer")
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "fs.toml"
        config.write_text(
            f"[global]\nbackend = '{backend}'\nmixed_precision = '{POLICIES[precision]}'\n"
        )
        request = TrainRequest(
            input_a=str(faces / "A"),
            input_b=str(faces / "B"),
            model_dir=str(Path(tmp) / "model"),
            model_name=model_name,
            batch_size=batch,
            iterations=max_iterations + warmup + 10,
            save_interval=10**6,
            config_path=str(config),
            seed=0,
        )
        run_train(request, registry, notify=notes.append)
    finished = time.perf_counter()
    timed = ends[warmup:]
    durations = [b - a for a, b in itertools.pairwise(timed)]
    rate = (len(timed) - 1) * 2 * batch / (timed[-1] - timed[0]) if len(timed) > 1 else 0.0
    timed_waits = waits[warmup + 1 : len(ends)]
    return {
        "import_s": imported,
        "first_iteration_end_s": ends[0] - PROCESS_START,
        "first_iteration_s": ends[0] - found["loop_start"],
        "iterations_timed": len(timed) - 1,
        "examples_per_second": rate,
        "median_iteration_ms": 1000 * statistics.median(durations) if durations else None,
        "loader_wait_share": sum(timed_waits) / (timed[-1] - timed[0]) if len(timed) > 1 else None,
        "loader_workers": workers or default_loader_workers(),
        "flops_per_example": found.get("flops"),
        "peak_gpu_bytes": peak_gpu_bytes(backend),
        "exit_save_s": finished - found.get("stop_asked", finished),
        "notes": [n for n in notes if n.startswith(("Backend", "Precision", "Mixed", "Device"))],
    }


# ------------------------------------------------------------------------------ the run


def run_child(arguments: list[str], backend: str, timeout: float) -> dict[str, Any]:
    """This script in child mode under ``backend``; its last JSON line, or ``{"error": ...}``."""
    env = dict(os.environ)
    env.update(
        KERAS_BACKEND=backend,
        XLA_PYTHON_CLIENT_PREALLOCATE="false",  # peak memory is the case's own use
        PYTHONUNBUFFERED="1",
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    command = [sys.executable, str(Path(__file__)), *arguments]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=max(timeout, 1.0), env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"stopped at its time limit ({timeout:.0f} s)"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines() or ["no output"]
        for line in tail[-15:]:  # enough of a traceback to see why, in the device call's output
            say(f"    | {line[:300]}")
        return {"error": f"exit {done.returncode}: {tail[-1][:300]}"}
    return json.loads(lines[-1])


def add_rates(case: dict, ceilings: dict) -> None:
    """TFLOP/s and MFU against the ceiling of the case's precision on its backend."""
    if case.get("flops_per_example") and case.get("examples_per_second"):
        achieved = case["examples_per_second"] * case["flops_per_example"]
        case["tflops"] = achieved / 1e12
        ceiling = ceilings.get(case["backend"], {}).get(CEILING_OF[case["precision"]])
        if ceiling:
            case["mfu"] = achieved / ceiling


def markdown(results: dict) -> str:
    machine = results["machine"]
    lines = [
        f"CPU: {machine['cpu']['model']}, {machine['cpu']['cores']} cores, flags "
        f"{' '.join(machine['cpu']['flags']) or '-'}; GPU: {'; '.join(machine['gpu']) or '-'}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in machine["versions"].items()),
        "",
        "| backend | float32 true | float32 default | bfloat16 | float16 (TFLOP/s) |",
        "|---|---|---|---|---|",
    ]
    for backend, found in results["ceilings"].items():
        if "error" in found:
            lines.append(f"| {backend} | {found['error']} | | | |")
            continue
        cells = [f"{found[k] / 1e12:.1f}" for k in CEILING_KINDS]
        lines.append(f"| {backend} ({found['device']}) | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| case | to 1st it (s) | 1st it (s) | EG/s | ms/it | TFLOP/s | MFU | loader wait "
        "| peak GPU GiB | exit save (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in results["cases"]:
        label = case["spec"]
        if "error" in case or "skipped" in case:
            lines.append(f"| {label} | {case.get('error') or case['skipped']} |||||||||")
            continue
        peak = case["peak_gpu_bytes"]
        lines.append(
            f"| {label} | {case['first_iteration_end_s']:.1f} | {case['first_iteration_s']:.1f} "
            f"| {case['examples_per_second']:.1f} | {case['median_iteration_ms'] or 0:.1f} "
            f"| {case.get('tflops', 0):.1f} | {case.get('mfu', 0):.1%} "
            f"| {case['loader_wait_share'] or 0:.0%} ({case['loader_workers']} threads) "
            f"| {peak / 2**30 if peak else 0:.2f} | {case['exit_save_s']:.1f} |"
        )
    lines += ["", *(f"- {note}" for note in results["notes"])]
    return "\n".join(lines)


CEILING_KINDS = ("float32_true", "float32_default", "bfloat16", "float16")


def orchestrate(args: argparse.Namespace) -> None:
    started = time.perf_counter()

    def left() -> float:
        return args.budget_s - (time.perf_counter() - started)

    cases = [c for c in args.cases.split(",") if c.split(":")[0] in args.backends.split(",")]
    results: dict[str, Any] = {
        "machine": {"cpu": cpu_info(), "versions": versions(), "gpu": nvidia_smi()},
        "settings": vars(args),
        "ceilings": {},
        "cases": [],
        "notes": [],
    }
    say(markdown({**results, "cases": [], "ceilings": {}}).split("\n\n")[0])
    for backend in args.backends.split(","):
        found = run_child(
            [
                "--child",
                "ceiling",
                "--ceiling-size",
                str(args.ceiling_size),
                "--sample-s",
                str(0.05 if args.quick else 0.2),
            ],
            backend,
            120,
        )
        results["ceilings"][backend] = found
        say(f"ceilings {backend}: " + json.dumps(found))
    from fs_core.faces.demo import write_demo_data

    with tempfile.TemporaryDirectory() as tmp:
        faces = Path(tmp) / "demo"
        write_demo_data(faces, count=args.faces, size=256, clip_frames=0)
        for spec in cases:
            backend, _, _, precision, *_ = spec.split(":")
            case: dict[str, Any] = {"spec": spec, "backend": backend, "precision": precision}
            if left() < args.min_case_s:
                case["skipped"] = "skipped: the budget ran out"
            else:
                case.update(
                    run_child(
                        [
                            "--child",
                            "case",
                            "--case",
                            spec,
                            "--face-dir",
                            str(faces),
                            "--seconds",
                            str(args.seconds),
                            "--warmup",
                            str(args.warmup),
                            "--max-iterations",
                            str(args.max_iterations),
                        ],
                        backend,
                        min(args.case_timeout, left()),
                    )
                )
                add_rates(case, results["ceilings"])
            results["cases"].append(case)
            say(f"{spec}: " + json.dumps({k: v for k, v in case.items() if k != "spec"}))
    results["elapsed_s"] = time.perf_counter() - started
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    (out / "results.md").write_text(markdown(results) + "\n")
    say("")
    say(markdown(results))  # last, so the end of the output holds the tables
    say(f"done in {results['elapsed_s']:.0f} s; {out / 'results.md'}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="gpu_train_out", help="folder for results.json/.md")
    parser.add_argument("--budget-s", type=float, default=450.0, help="total time budget")
    parser.add_argument("--backends", default="torch,jax")
    parser.add_argument("--cases", help="backend:model:batch:precision[:wN],... in priority order")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to try it on a CPU")
    parser.add_argument("--seconds", type=float, default=6.0, help="timed loop length at most")
    parser.add_argument("--max-iterations", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--faces", type=int, default=128, help="demo faces per side")
    parser.add_argument("--ceiling-size", type=int, default=8192)
    parser.add_argument("--case-timeout", type=float, default=120.0)
    parser.add_argument("--min-case-s", type=float, default=25.0)
    parser.add_argument("--child", choices=("ceiling", "case"), help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--face-dir", help=argparse.SUPPRESS)
    parser.add_argument("--sample-s", type=float, default=0.2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "ceiling":
        backend = os.environ["KERAS_BACKEND"]
        measure = torch_ceilings if backend == "torch" else jax_ceilings
        print(json.dumps(measure(args.ceiling_size, args.sample_s)), flush=True)
        return
    if args.child == "case":
        found = case_main(
            args.case, Path(args.face_dir), args.seconds, args.warmup, args.max_iterations
        )
        print(json.dumps(found), flush=True)
        return
    if args.quick:
        args.cases = args.cases or QUICK_CASES
        args.ceiling_size = min(args.ceiling_size, 512)
        args.seconds = min(args.seconds, 2.0)
        args.max_iterations = min(args.max_iterations, 4)
        args.warmup = min(args.warmup, 1)
        args.faces = min(args.faces, 16)
        args.min_case_s = min(args.min_case_s, 10.0)
        args.case_timeout = max(args.case_timeout, 300.0)
    args.cases = args.cases or DEFAULT_CASES
    orchestrate(args)


if __name__ == "__main__":
    main()
