"""Cost of the quality options (issue 20) against plain training (a script, not a test).

Each option is a set of config overrides (the :data:`OPTIONS` table: name -> TOML text added to
the config). Every case trains Original at batch 16 on the same demo faces in a fresh subprocess
(float32, seeded, same warm-up), and the script prints the median seconds per iteration and that
over the plain case's, all measured in the same run, so the ratios compare like with like on one
machine; plain runs first and again last, and the ratio is to the mean of the two (their spread
shows how steady the machine was). A second column gives the data options' own work: milliseconds
to build one training batch (both sides, batch 16, every augmentation in force) with the loader in
the calling thread, measured in one process in interleaved rounds (the median of each option's
rounds), so a passing load falls on every option alike; the training loop builds batches in worker
threads while the step runs, so that cost shows in the iteration time only where it exceeds what
the step leaves of the CPU.

    python bench/bench_quality.py [--iterations 30] [--warmup 5] [--only plain,color_transfer_rct]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: option -> TOML added to the config ("" is plain Original with fs's defaults); other helpers'
#: options go here too
OPTIONS: dict[str, str] = {
    "plain": "",
    # data options (docs/quality-tools.md, "Data options")
    "color_transfer_rct": "[augmentation]\ncolor_transfer = 'rct'\n",
    "color_transfer_lct": "[augmentation]\ncolor_transfer = 'lct'\n",
    "color_transfer_mkl": "[augmentation]\ncolor_transfer = 'mkl'\n",
    "color_transfer_idt": "[augmentation]\ncolor_transfer = 'idt'\n",
    "color_transfer_sot": "[augmentation]\ncolor_transfer = 'sot'\n",
    "random_hsv_power": "[augmentation]\nrandom_hsv_power = 0.05\n",
    "uniform_yaw": "[augmentation]\nuniform_yaw = true\n",
    "blur_out_mask": "[augmentation]\nblur_out_mask = true\n",
    # training-step options (docs/quality-tools.md, "Training-step options")
    "gan_power": "[training_step]\ngan_power = 0.1\n",
    "gan_sides_ab": "[training_step]\ngan_power = 0.1\ngan_sides = 'ab'\n",
    "true_face_power": "[training_step]\ntrue_face_power = 0.01\n",
    "lr_dropout": "[training_step]\nlr_dropout = 0.3\n",
    "face_style_power": "[training_step]\nface_style_power = 10.0\n",
    "bg_style_power": "[training_step]\nbg_style_power = 10.0\n",
    "all_training_step": (
        "[training_step]\ngan_power = 0.1\ntrue_face_power = 0.01\nlr_dropout = 0.3\n"
        "face_style_power = 10.0\nbg_style_power = 10.0\n"
    ),
}

MODEL, BATCH = "original", 16


def case_main(name: str, iterations: int, warmup: int, faces: Path) -> None:
    """One case, in its own process: time training iterations; a JSON line."""
    from fs_core import hookimpl
    from fs_core.plugin_manager import get_registry
    from fs_core.training.run import run_train
    from fs_core.training.session import TrainRequest

    stamps: list[float] = []

    class Timer:
        @hookimpl
        def fs_iteration_end(self):
            stamps.append(time.perf_counter())

    registry = get_registry()
    registry.manager.register(Timer(), "bench_timer")
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "fs.toml"
        config.write_text("[global]\nmixed_precision = 'none'\n" + OPTIONS[name])
        request = TrainRequest(
            input_a=str(faces / "A"),
            input_b=str(faces / "B"),
            model_dir=str(Path(tmp) / "model"),
            model_name=MODEL,
            batch_size=BATCH,
            iterations=warmup + iterations,
            save_interval=10**6,
            config_path=str(config),
            seed=0,
        )
        run_train(request, registry, notify=lambda text: None)
    measured = stamps[warmup:]
    steps = [b - a for a, b in itertools.pairwise(measured)]
    print(json.dumps({"seconds": statistics.median(steps)}))


def batch_loader(registry, config: Path, faces: Path):
    """A loader building batches in the calling thread as training would (Original's sizes, the
    config's augmentation and sampler, its masks)."""
    from fs_core.config import load_config
    from fs_core.data.cache import default_prepare
    from fs_core.data.loader import BatchLoader
    from fs_core.data.sampler import choose_sampler
    from fs_core.faces.faceset import index_faceset
    from fs_core.faces.prepare import training_spec
    from fs_core.losses.selection import mask_names

    options = load_config(config, registry.model_config_classes())
    spec = training_spec(options, 64, mask_names(options.loss, options.mask))
    return BatchLoader.from_facesets(
        index_faceset(str(faces / "A")),
        index_faceset(str(faces / "B")),
        spec=spec,
        prepare=default_prepare(spec),  # every face prepared now: no preparing while timed
        batch_size=BATCH,
        input_size=64,
        output_sizes=[64],
        augmenters=list(registry.augmenters.values()),
        options=options.augmentation,
        seed=1,
        workers=0,
        sampler=choose_sampler(registry.samplers, options.augmentation),
    )


def batch_ms(names: list[str], faces: Path, rounds: int = 5, batches: int = 3) -> dict[str, float]:
    """Median milliseconds per batch of each option, over ``rounds`` interleaved rounds of
    ``batches`` batches each."""
    from fs_core.plugin_manager import get_registry

    registry = get_registry()
    times: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        loaders = {}
        for name in names:
            config = Path(tmp) / f"{name}.toml"
            config.write_text(OPTIONS[name])
            loaders[name] = batch_loader(registry, config, faces)
            next(loaders[name])  # the faces are read and prepared for the first batch
        try:
            for _ in range(rounds):
                for name in names:
                    start = time.perf_counter()
                    for _ in range(batches):
                        next(loaders[name])
                    times[name].append((time.perf_counter() - start) / batches)
        finally:
            for loader in loaders.values():
                loader.close()
    return {name: 1000.0 * statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated option names (plain always)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--faces", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        case_main(args.case, args.iterations, args.warmup, Path(args.faces))
        return
    names = (
        list(OPTIONS)
        if not args.only
        else ["plain"] + [name for name in args.only.split(",") if name and name != "plain"]
    )
    unknown = [name for name in names if name not in OPTIONS]
    if unknown:
        parser.error(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(OPTIONS)}")
    from fs_core.faces.demo import write_demo_data

    with tempfile.TemporaryDirectory() as tmp:
        faces = Path(tmp) / "demo"
        write_demo_data(faces, count=64, size=256)
        results: dict[str, dict] = {}
        for name, runs in batch_ms(names, faces).items():
            results[name] = {"batch_ms": runs}
        print("batch ms:", {name: round(r["batch_ms"], 1) for name, r in results.items()})
        seconds: dict[str, list[float]] = {}
        for name in [*names, "plain"]:  # plain first and again last
            command = [
                sys.executable,
                str(Path(__file__)),
                "--case",
                name,
                "--iterations",
                str(args.iterations),
                "--warmup",
                str(args.warmup),
                "--faces",
                str(faces),
            ]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            if done.returncode or not lines:
                print(f"{name}: failed\n{done.stderr[-2000:]}")
                continue
            seconds.setdefault(name, []).append(json.loads(lines[-1])["seconds"])
            print(f"{name}: {seconds[name][-1]:.3f} s/iteration", flush=True)
    if "plain" not in seconds:
        return
    base = statistics.mean(seconds["plain"])
    base_ms = results["plain"]["batch_ms"]
    print(f"\n{MODEL} at batch {BATCH}, {args.iterations} iterations after {args.warmup} warm-up")
    print(f"plain first and last: {', '.join(f'{s:.3f}' for s in seconds['plain'])} s/iteration")
    print(f"{'option':<22} {'s/iteration':>12} {'ratio':>7} {'batch ms':>9} {'batch ratio':>12}")
    for name in names:
        if name not in seconds:
            continue
        value = statistics.mean(seconds[name])
        ms = results[name]["batch_ms"]
        print(f"{name:<22} {value:>12.3f} {value / base:>7.2f} {ms:>9.1f} {ms / base_ms:>12.2f}")


if __name__ == "__main__":
    main()
