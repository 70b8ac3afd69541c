"""Does a precision train as well as float32? Loss curves of two runs side by side (a script).

Trains the same model twice on the same demo data with the same seed (``--seed``: same initial
weights, same batches, same augmentation), once in float32 and once in the other precision, then
compares the losses each run recorded (``record/events.jsonl``): the mean loss of each window of
iterations for both runs, and the ratio of the final losses (the mean over the last ``--tail``
iterations, where one iteration's noise averages out). A ratio near 1 and curves that cross each
other say the precision trains as well; a ratio well above 1 says it does not.

    python bench/compare_precision.py --work /tmp/curves --precision mixed_bfloat16 \\
        --model original --batch-size 4 --iterations 2000
    python bench/compare_precision.py --work /tmp/curves --compare-only   # runs already made

Writes ``curves.md`` (the table) and ``curves.png`` (the plot) into ``--work``.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
from pathlib import Path

import numpy as np


def cpu_line() -> str:
    """The CPU model and the flags that decide bf16 speed, for the record."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    model = re.search(r"model name\s*:\s*(.*)", text)
    flags = set(re.search(r"flags\s*:\s*(.*)", text).group(1).split()) if "flags" in text else set()
    shown = sorted(f for f in flags if f.startswith("amx") or f in ("avx512_bf16", "avx512f"))
    return f"{model.group(1) if model else 'CPU'}; flags: {' '.join(shown) or 'none of amx/avx512'}"


def run_training(work: Path, name: str, precision: str, args: argparse.Namespace) -> None:
    config = work / f"{name}.toml"
    config.write_text(f'[global]\nmixed_precision = "{precision}"\n')
    command = [
        sys.executable, "-m", "fs_core", "train",
        "-A", str(work / "demo" / "A"), "-B", str(work / "demo" / "B"),
        "-m", str(work / f"m_{name}"), "-t", args.model, "-b", str(args.batch_size),
        "-i", str(args.iterations), "-s", str(args.iterations), "--seed", str(args.seed),
        "-C", str(config),
    ]  # fmt: skip
    print("running:", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def losses(model_dir: Path) -> np.ndarray:
    """(iterations, 2): loss A and loss B of every iteration, in order. The record writes one
    progress event per iteration or, when iterations come faster than it writes, the mean of the
    last ``count`` ones: each such mean stands for each of its iterations."""
    rows = []
    with open(model_dir / "record" / "events.jsonl", encoding="utf-8") as events:
        for line in events:
            event = json.loads(line)
            if event.get("type") == "progress":
                pair = (event["loss_a"], event["loss_b"])
                rows.append((event["iteration"], int(event.get("count", 1)), pair))
    rows.sort()
    return np.array([pair for _, count, pair in rows for _ in range(count)], dtype=np.float64)


def compare(work: Path, other: str, window: int, tail: int) -> str:
    base, test = losses(work / "m_float32"), losses(work / f"m_{other}")
    count = min(len(base), len(test))
    if count < tail:
        raise SystemExit(f"only {count} iterations recorded in both runs; need at least {tail}")
    base, test = base[:count], test[:count]
    lines = [
        f"Loss per {window} iterations (mean of A and B; each column the mean over the window):",
        "",
        f"| iterations | float32 | {other} | {other} / float32 |",
        "|---|---|---|---|",
    ]
    for start in range(0, count, window):
        b = base[start : start + window].mean()
        t = test[start : start + window].mean()
        lines.append(
            f"| {start + 1}-{min(start + window, count)} | {b:.5f} | {t:.5f} | {t / b:.3f} |"
        )
    final_base, final_test = base[-tail:].mean(axis=0), test[-tail:].mean(axis=0)
    ratio = final_test / final_base
    lines += [
        "",
        f"Final loss (mean of the last {tail} iterations): float32 A {final_base[0]:.5f} "
        f"B {final_base[1]:.5f}; {other} A {final_test[0]:.5f} B {final_test[1]:.5f}; "
        f"ratio {other}/float32 A {ratio[0]:.3f}, B {ratio[1]:.3f}, both {ratio.mean():.3f}.",
        f"Machine: {cpu_line()}.",
    ]
    _plot(work / "curves.png", base, test, other, window)
    return "\n".join(lines)


def _plot(path: Path, base: np.ndarray, test: np.ndarray, other: str, window: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kernel = np.ones(window // 2) / (window // 2)
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for side, axis in enumerate(axes):
        for values, label in ((base, "float32"), (test, other)):
            smooth = np.convolve(values[:, side], kernel, mode="valid")
            axis.plot(np.arange(len(smooth)) + len(kernel), smooth, label=label)
        axis.set_title(f"loss {'AB'[side]} (moving mean of {len(kernel)})")
        axis.set_xlabel("iteration")
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--precision", default="mixed_bfloat16")
    parser.add_argument("--model", default="original")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--window", type=int, default=250)
    parser.add_argument("--tail", type=int, default=200)
    parser.add_argument("--compare-only", action="store_true")
    args = parser.parse_args()
    work = args.work
    if not args.compare_only:
        work.mkdir(parents=True, exist_ok=True)
        if not (work / "demo").exists():
            subprocess.run(
                [sys.executable, "-m", "fs_core", "demo-data", str(work / "demo")], check=True
            )
        run_training(work, "float32", "none", args)
        run_training(work, args.precision, args.precision, args)
    table = compare(work, args.precision, args.window, args.tail)
    (work / "curves.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
