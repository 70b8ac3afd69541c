"""``fs export`` benchmark (a script, not a test): file sizes, conversion time and faces/s of the
exported file in onnxruntime (CPU) against the Keras model's own inference, for Original and
Dfaker with fresh weights (speed does not depend on what the weights learned).

Each row: the model, the format/precision, the file size, the seconds the export took, the peak
resident memory of the process (model, Keras timing runs and export together), the largest
|ONNX - Keras| on random faces, and faces/s at batch 1 (what a live tool runs) and at ``--batch``
for onnxruntime and for Keras (``predict_on_batch`` on the one-input export model), after a
warm-up, best of ``--repeats`` timed runs of ``--seconds`` each.

    python bench/bench_export.py [--models original dfaker] [--batch 8] [--seconds 3]
        [--repeats 2] [--threads N]

Needs the export extra (``pip install "fs-core[export]"``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_convert import cpu_flags

JOBS = ["onnx:float32", "onnx:float16", "dfm:float32"]


def faces_per_second(run: Callable[[], object], count: int, seconds: float, repeats: int) -> float:
    """Faces/s of ``run`` (``count`` faces a call): best of ``repeats`` windows of ``seconds``."""
    run()
    best = 0.0
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            run()
            calls += 1
        best = max(best, calls * count / (time.perf_counter() - start))
    return best


def peak_resident_gib() -> float:
    """This process's peak resident memory so far (VmHWM), GiB."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    return float("nan")


def trained(name: str, options: dict, learn_mask: bool, folder: Path):
    """A freshly built model dressed as a loaded one (what the exporters take)."""
    from fs_core.config import config_from_mapping
    from fs_core.inference.trained import TrainedModel
    from fs_core.model.build import build_from_config
    from fs_core.model.state import ModelState
    from fs_core.plugin_manager import load_registry

    registry = load_registry()
    classes = {n: d.config_class for n, d in registry.models.items()}
    config = config_from_mapping(
        {"global": {"mask": {"learn_mask": learn_mask}}, "model": {name: options}}, classes
    )
    built = build_from_config(registry, name, config)
    return TrainedModel(built, config, ModelState(model=name, iterations=0), folder)


def bench_model(name: str, args: argparse.Namespace) -> None:
    """Print one row per export of ``name`` in ``args.jobs`` (fresh weights, learned mask)."""
    import numpy as np
    import onnxruntime as ort

    from fs_core.export.dfm import export_dfm
    from fs_core.export.onnx import export_onnx, one_input_model, side_indices

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    with tempfile.TemporaryDirectory() as folder:
        model = trained(name, {}, True, Path(folder))
        built = model.built
        size = int(built.input_size)
        face, mask = side_indices(built, "b")
        keras_model = one_input_model(built, lambda outs: [outs[face], outs[mask]])
        rng = np.random.default_rng(0)
        batches = {1: rng.random((1, size, size, 3), dtype=np.float32)}
        batches[args.batch] = rng.random((args.batch, size, size, 3), dtype=np.float32)
        keras_speed = [
            faces_per_second(
                lambda data=data: keras_model.predict_on_batch(data),
                len(data),
                args.seconds,
                args.repeats,
            )
            for data in batches.values()
        ]
        jobs: list[tuple[str, str, Callable[[Path], object]]] = [
            ("onnx", "float32", lambda p: export_onnx(model, p, "a-to-b", "float32", None)),
            ("onnx", "float16", lambda p: export_onnx(model, p, "a-to-b", "float16", None)),
            ("dfm", "float32", lambda p: export_dfm(model, p, "a-to-b", "float32")),
        ]
        for fmt, precision, job in jobs:
            if f"{fmt}:{precision}" not in args.jobs:
                continue
            start = time.perf_counter()
            done: Any = job(Path(folder) / f"{name}_{precision}.{fmt}")
            took = time.perf_counter() - start
            peak = peak_resident_gib()  # the model, Keras' timing runs and the export
            session = ort.InferenceSession(
                str(done.path), options, providers=["CPUExecutionProvider"]
            )
            feed = session.get_inputs()[0].name
            speeds = [
                faces_per_second(
                    lambda data=data, s=session, n=feed: s.run(None, {n: data}),
                    len(data),
                    args.seconds,
                    args.repeats,
                )
                if fmt == "onnx" or len(data) == 1
                else float("nan")
                for data in batches.values()
            ]
            print(
                f"{name} {size}px | {fmt} {precision} | {done.size_bytes / 2**20:.1f} | "
                f"{took:.0f} | {peak:.1f} | {done.max_difference:.1e} | {speeds[0]:.1f} | "
                f"{speeds[1]:.1f} | "
                f"{keras_speed[0]:.1f} | {keras_speed[1]:.1f}"
            )


def main(argv: list[str] | None = None) -> int:
    import onnxruntime as ort

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["original", "dfaker"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads")
    parser.add_argument(
        "--jobs", nargs="+", default=JOBS, help="format:precision exports, each in its own process"
    )
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inner:
        bench_model(args.models[0], args)
        return 0
    print(cpu_flags())
    print(f"onnxruntime {ort.__version__}; batch 1 and {args.batch}; best of {args.repeats}")
    print(
        "model | file | MiB | export s | peak GiB | max diff | ORT f/s b1 | ORT f/s bN | "
        "Keras b1 | bN"
    )
    for name in args.models:
        for job in args.jobs:
            # a process per conversion: each one's peak memory is its own
            command = [sys.executable, __file__, "--inner", "--models", name, "--jobs", job]
            command += ["--batch", str(args.batch), "--seconds", str(args.seconds)]
            command += ["--repeats", str(args.repeats), "--threads", str(args.threads)]
            done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
            rows = [line for line in done.stdout.splitlines() if " | " in line]
            print("\n".join(rows) if rows else f"{name} | {job} | failed (exit {done.returncode})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
