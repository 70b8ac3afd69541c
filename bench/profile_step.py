"""Where a training step's time goes (a script, not a test): the TensorFlow profiler, summarised.

Trains a model on demo data through ``fs train``'s own code path, records a few steps with
``tf.profiler`` after warm-up, reads the trace it wrote (the XPlane protobuf that TensorBoard's
profile plugin shows) and prints:

* milliseconds per step by kind of work (convolution forward / gradient wrt input / gradient wrt
  kernel, matrix products, optimizer update, everything else);
* milliseconds per layer (forward and backward together) with the layer's training FLOPs and the
  FLOP/s it achieved, as a fraction of the machine's matmul ceiling measured in the run (float32,
  or the compute dtype of ``--precision``: bfloat16 for mixed_bfloat16 ...).

TensorFlow's executor runs independent ops side by side; to make the per-op times add up to the
step time the profiled run uses one inter-op thread (each op still uses every core; on the
2-core machine of ``bench/RESULTS.md`` this changes the step time by under 5%).

    python bench/profile_step.py [--model original] [--batch-size 16] [--steps 4] [--trace-dir D]
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

KINDS = (  # (label, test on the op type), first match wins
    ("conv forward", lambda t: "Conv2D" in t and "Backprop" not in t),
    ("conv grad wrt input", lambda t: "BackpropInput" in t),
    ("conv grad wrt kernel", lambda t: "BackpropFilter" in t),
    ("matrix product", lambda t: "MatMul" in t),
    ("optimizer update", lambda t: t.startswith("ResourceApply")),
    # what mixed precision adds: dtype casts and layout changes between oneDNN's blocked formats
    ("casts", lambda t: t == "Cast"),
    ("layout (transpose, reorder)", lambda t: "Transpose" in t or "Reorder" in t),
)
SKIP_TYPES = {"Process", "Run", "", "ExecutorState::Process"}


def kind_of(op_type: str) -> str:
    for label, test in KINDS:
        if test(op_type):
            return label
    return "other (element-wise, gather, pad, ...)"


def layer_of(op_name: str, model_name: str) -> str:
    """``gradient_tape/original_1/encoder_1/conv2_conv2d_1/convolution/...`` ->
    ``encoder/conv2_conv2d``.

    Ops outside the model (the optimizer, the losses) are keyed by their first name scope.
    """
    parts = [re.sub(r"_\d+$", "", part) for part in op_name.split("/")]
    if parts[0] == "gradient_tape":
        parts = parts[1:]
    if len(parts) < 3 or parts[0] != model_name:
        return parts[0]
    return "/".join(parts[1:3])


def read_trace(trace_dir: Path, steps: int) -> list[tuple[str, str, float]]:
    """(op name, op type, milliseconds per step) for every TensorFlow op event in the trace."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    path = max(trace_dir.rglob("*.xplane.pb"), key=lambda p: p.stat().st_mtime)
    space = xplane_pb2.XSpace()
    space.ParseFromString(path.read_bytes())
    events = []
    for plane in space.planes:
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" not in name:
                    continue
                op_name, op_type = name.rsplit(":", 1)
                if op_type in SKIP_TYPES or op_type.startswith(" ") or " " in op_name:
                    continue
                events.append((op_name, op_type, event.duration_ps / 1e9 / steps))
    return events


def layer_flops_table(model, batch_size: int) -> dict[str, float]:
    """Training FLOPs per step of each conv/dense layer, keyed like :func:`layer_of`."""
    sys.path.insert(0, str(HERE))
    import keras
    from flops import _nodes, _stacked_batches, layer_flops

    table: dict[str, float] = collections.defaultdict(float)
    for node in _nodes(model):
        part = node.operation
        if not isinstance(part, keras.Model):
            continue
        samples = batch_size * _stacked_batches(node)
        for inner in _nodes(part):
            if inner.input_tensors:
                work = layer_flops(inner.operation, inner.input_tensors[0], inner.output_tensors[0])
                if work:
                    table[f"{part.name}/{inner.operation.name}"] += 3 * work * samples
    return table


def profile(
    model_name: str,
    batch_size: int,
    steps: int,
    warmup: int,
    trace_dir: Path,
    faces: Path,
    precision: str = "none",
) -> dict:
    import tensorflow as tf

    from fs_core import hookimpl
    from fs_core.plugin_manager import get_registry
    from fs_core.training.run import run_train
    from fs_core.training.session import TrainRequest

    marks: dict = {}

    class Profiler:
        @hookimpl
        def fs_iteration_end(self, session):
            done = session.session_iterations
            if done == warmup:
                tf.profiler.experimental.start(str(trace_dir))
                marks["start"] = time.perf_counter()
            elif done == warmup + steps:
                marks["seconds"] = time.perf_counter() - marks["start"]
                tf.profiler.experimental.stop()
                marks["flops"] = layer_flops_table(session.model, session.batch_size)
                marks["model"] = session.model.name

    registry = get_registry()
    registry.manager.register(Profiler(), "bench_profiler")
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "fs.toml"
        config.write_text(f'[global]\nmixed_precision = "{precision}"\n')
        request = TrainRequest(
            input_a=str(faces / "A"),
            input_b=str(faces / "B"),
            model_dir=str(Path(tmp) / "model"),
            model_name=model_name,
            batch_size=batch_size,
            iterations=warmup + steps,
            save_interval=10**6,
            seed=0,
            config_path=str(config),
        )
        run_train(request, registry, notify=lambda text: None)
    return {
        "events": read_trace(trace_dir, steps),
        "flops": marks["flops"],
        "model": marks["model"],
        "step_seconds": marks["seconds"] / steps,
    }


def report(result: dict, ceiling: float, batch_size: int) -> None:
    events, flops, step_seconds = result["events"], result["flops"], result["step_seconds"]
    step_ms = step_seconds * 1000
    op_total = sum(ms for _, _, ms in events)
    print(
        f"step {step_ms:.0f} ms ({2 * batch_size / step_seconds:.2f} EG/s); TensorFlow ops account "
        f"for {op_total:.0f} ms of it; ceiling {ceiling / 1e9:.0f} GFLOP/s"
    )
    by_kind: dict[str, float] = collections.Counter()
    by_layer: dict[str, float] = collections.Counter()
    for name, op_type, ms in events:
        by_kind[kind_of(op_type)] += ms
        by_layer[layer_of(name, result["model"])] += ms
    print(f"\n{'kind of work':<40}{'ms/step':>9}{'share':>8}")
    for kind, ms in by_kind.most_common():
        print(f"{kind:<40}{ms:>9.1f}{ms / step_ms:>8.1%}")
    print(
        f"\n{'layer (forward + backward)':<40}{'ms/step':>9}{'share':>8}{'GFLOP':>8}"
        f"{'GFLOP/s':>9}{'of ceiling':>11}"
    )
    for layer, ms in by_layer.most_common(25):
        work = flops.get(layer, 0.0)
        rate = work / (ms / 1000) if work and ms else 0.0
        extra = f"{work / 1e9:>8.1f}{rate / 1e9:>9.0f}{rate / ceiling:>11.0%}" if work else ""
        print(f"{layer:<40}{ms:>9.1f}{ms / step_ms:>8.1%}{extra}")
    total_work = sum(flops.values())
    print(
        f"\nall counted layers: {total_work / 1e9:.0f} GFLOP per step = "
        f"{total_work / step_seconds / ceiling:.0%} of the ceiling over the whole step"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--model", default="original")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--precision",
        default="none",
        choices=("none", "mixed_bfloat16", "mixed_float16", "auto"),
        help="[global] mixed_precision of the profiled run; the ceiling is a matmul in the same "
        "compute dtype (bfloat16 / float16 for the mixed policies)",
    )
    parser.add_argument(
        "--trace-dir",
        help="keep the raw trace here (open it with TensorBoard's "
        "profile plugin); default: a temporary folder",
    )
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(HERE))
    import tensorflow as tf
    from bench_train import matmul_ceiling

    tf.config.threading.set_inter_op_parallelism_threads(1)  # before TensorFlow starts

    from fs_core.faces.demo import write_demo_data

    with tempfile.TemporaryDirectory() as tmp:
        faces = Path(tmp) / "demo"
        write_demo_data(faces, count=60, size=256)
        trace_dir = Path(args.trace_dir) if args.trace_dir else Path(tmp) / "trace"
        dtype = {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}.get(
            args.precision, "float32"
        )
        ceiling = matmul_ceiling(dtype=dtype)
        print(f"precision {args.precision}: ceiling is a {dtype} 4096x4096 matmul")
        result = profile(
            args.model, args.batch_size, args.steps, args.warmup, trace_dir, faces, args.precision
        )
        report(result, ceiling, args.batch_size)


if __name__ == "__main__":
    main()
