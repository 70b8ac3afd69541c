"""Training record benchmark (a script, not a test): what the record costs the trainer, and how
fast it reads back on a long history.

1. Training speed (examples/s) of the tiny test model with ``[global] training_record`` on and off,
   measured in the same process, runs alternated (off, on, off, on ...), the warm-up iterations
   dropped; printed as on/off. Saves fall outside the measured window, so this is the cost per
   iteration: the progress records, the clock checks and the command folder polled twice a second.
   The cost of a save's preview pair is measured apart (seconds per save) and printed as a share of
   a save interval of ``--save-interval`` iterations of lightweight at batch 2.
2. A synthetic ``events.jsonl`` holding 1,000,000 iterations of history (a progress record every 5
   iterations, a save record and a message every 250, a new session every 100,000), written
   through the trainer's own writer, so it is compacted as a real run's would be; then the file
   size and the time of ``model_summary``, ``loss_series(max_points=2000)``, ``recent_messages``
   and ``read_events`` from 0.

    python bench/bench_record.py [--rounds 3] [--iterations 300] [--history 1000000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the tiny test model
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FAST = (
    "[global.loss]\nloss_function = 'mae'\nloss_function_2 = 'none'\n"
    "penalized_mask_loss = false\n[global.mask]\nmask_type = 'none'\n"
)


class Clock:
    """A plugin timing iterations ``warmup`` to the last one."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.start = self.end = 0.0
        self.iterations = 0

    def fs_iteration_end(self, session) -> None:
        if session.session_iterations == self.warmup:
            self.start = time.perf_counter()
        self.end = time.perf_counter()
        self.iterations = session.session_iterations - self.warmup

    def rate(self, batch: int) -> float:
        return self.iterations * 2 * batch / (self.end - self.start)


def train_once(
    faces: Path, root: Path, record: bool, iterations: int, warmup: int, model: str, batch: int
) -> float:
    import tiny_plugin

    import fs_core
    from fs_core.plugin_manager import load_registry
    from fs_core.training.run import run_train
    from fs_core.training.session import TrainRequest

    clock = Clock(warmup)
    plugin = type("ClockPlugin", (), {})()
    # a wrapper, not the bound method: hookimpl marks the function object it is given
    plugin.fs_iteration_end = fs_core.hookimpl(lambda session: clock.fs_iteration_end(session))  # noqa: PLW0108
    registry = load_registry(extra_plugins={"tiny_plugin": tiny_plugin, "bench_clock": plugin})
    config = root / f"record_{record}.toml"
    config.write_text(f"[global]\ntraining_record = {str(record).lower()}\n" + FAST)
    model_dir = Path(tempfile.mkdtemp(dir=root))
    request = TrainRequest(
        input_a=str(faces / "A"),
        input_b=str(faces / "B"),
        model_dir=str(model_dir),
        model_name=model,
        batch_size=batch,
        iterations=iterations,
        save_interval=iterations,
        config_path=str(config),
        no_logs=True,
        seed=1,
    )
    run_train(request, registry, notify=lambda text: None)
    assert (model_dir / "record").exists() == record
    return clock.rate(batch)


def preview_seconds(faces: Path, root: Path, saves: int = 3) -> tuple[float, float]:
    """Seconds one save's preview pair costs (lightweight at batch 2, the model as trained), and
    the median seconds of an iteration without a save, for scale."""
    import fs_core
    from fs_core.plugin_manager import load_registry
    from fs_core.training.run import run_train
    from fs_core.training.session import TrainRequest

    times: list[float] = []
    ends: dict[int, float] = {}

    class Timer:
        @fs_core.hookimpl
        def fs_iteration_end(self, session) -> None:
            ends[session.session_iterations] = time.perf_counter()

        @fs_core.hookimpl(trylast=True)
        def fs_save(self, session) -> None:
            record = session.scratch.get("record")
            if record is not None:
                start = time.perf_counter()
                record.write_preview(session.state.iterations + 10**6)
                times.append(time.perf_counter() - start)

    registry = load_registry(extra_plugins={"bench_timer": Timer()})
    model_dir = Path(tempfile.mkdtemp(dir=root))
    request = TrainRequest(
        input_a=str(faces / "A"),
        input_b=str(faces / "B"),
        model_dir=str(model_dir),
        model_name="lightweight",
        batch_size=2,
        iterations=2 * saves + 2,
        save_interval=2,
        no_logs=True,
        seed=1,
    )
    run_train(request, registry, notify=lambda text: None)
    # a save follows each even iteration: odd -> even intervals hold none
    plain = [ends[k + 1] - ends[k] for k in range(3, 2 * saves + 2, 2) if k + 1 in ends]
    return statistics.median(times[1:] or times), statistics.median(plain)


def synthetic_history(model_dir: Path, history: int, every: int = 5) -> dict:
    """Write ``history`` iterations of records through the trainer's writer; returns sizes."""
    from fs_core.record.writer import RecordWriter, rounded

    terms = [
        "a/ssim",
        "a/ssim_weighted",
        "a/mse",
        "a/mse_weighted",
        "b/ssim",
        "b/ssim_weighted",
        "b/mse",
        "b/mse_weighted",
    ]
    writer = None
    largest = 0
    started = time.perf_counter()
    session = 0
    for iteration in range(every, history + 1, every):
        if writer is None or (iteration - every) % 100_000 == 0:
            if writer is not None:
                writer.write("end", iteration=iteration - every, reason="done", error=None)
                writer.close()
            session += 1
            writer = RecordWriter(model_dir, session)
            writer.write(
                "session_start",
                iteration=iteration - every,
                target=100_000,
                batch_size=16,
                model="original",
                pid=os.getpid(),
                host="bench",
                save_interval=250,
                snapshot_interval=0,
                argv=["train"],
            )
        loss = 0.2 * (1 + 1e6 / (iteration + 1e4)) / 101
        writer.write(
            "progress",
            iteration=iteration,
            session_iterations=iteration % 100_000,
            elapsed=iteration / 10,
            loss_a=rounded(loss),
            loss_b=rounded(loss * 1.1),
            examples_per_second=320.0,
            count=every,
            losses={t: rounded(loss / 2 + i * 1e-3) for i, t in enumerate(terms)},
        )
        if iteration % 250 == 0:
            writer.write("message", level="INFO", text=f"Model backed up (average loss {loss:.5f})")
            writer.write(
                "save",
                iteration=iteration,
                backup=True,
                snapshot=None,
                preview={
                    "mask": f"record/previews/{iteration:09d}.png",
                    "plain": f"record/previews/{iteration:09d}_plain.png",
                },
            )
        if iteration % 2000 == 0:
            largest = max(largest, writer.path.stat().st_size)
    writer.close()
    return {
        "seconds": time.perf_counter() - started,
        "size": writer.path.stat().st_size,
        "largest": largest,
        "written": history // every,
    }


def timed(action, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--save-interval", type=int, default=250)
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args()
    from fs_core.faces.demo import write_demo_data
    from fs_core.record import loss_series, model_summary, read_events, recent_messages

    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        if not args.skip_training:
            faces = root / "faces"
            write_demo_data(faces, count=8, size=64)
            rates: dict[bool, list[float]] = {False: [], True: []}
            for _ in range(args.rounds):
                for record in (False, True):
                    rates[record].append(
                        train_once(
                            faces,
                            root,
                            record,
                            args.iterations,
                            args.warmup,
                            args.model,
                            args.batch,
                        )
                    )
            off, on = statistics.median(rates[False]), statistics.median(rates[True])
            print(
                f"training ({args.model}, batch {args.batch}, {args.iterations - args.warmup} "
                f"timed iterations x {args.rounds} rounds): record off {off:.1f} examples/s "
                f"{[round(r, 1) for r in rates[False]]}, on {on:.1f} examples/s "
                f"{[round(r, 1) for r in rates[True]]}; on/off = {on / off:.4f} "
                f"(cost {100 * (1 - on / off):+.2f}%)"
            )
            preview, iteration = preview_seconds(faces, root)
            interval = args.save_interval * iteration
            print(
                f"preview pair at a save (lightweight, batch 2, 14 faces a side): "
                f"{preview * 1000:.0f} ms = {100 * preview / interval:.2f}% of a "
                f"{args.save_interval}-iteration save interval ({iteration * 1000:.0f} ms an "
                f"iteration here)"
            )
        model_dir = root / "long"
        model_dir.mkdir()
        made = synthetic_history(model_dir, args.history)
        print(
            f"synthetic history: {args.history:,} iterations, {made['written']:,} progress "
            f"records written in {made['seconds']:.1f} s; events.jsonl {made['size'] / 2**20:.2f} "
            f"MiB at the end, largest seen {made['largest'] / 2**20:.2f} MiB"
        )
        summary = model_summary(model_dir)
        series = loss_series(model_dir, max_points=2000)
        print(
            f"model_summary {1000 * timed(lambda: model_summary(model_dir)):.1f} ms "
            f"(iterations {summary['iterations']:,}, {len(summary['trend'])} trend points); "
            f"loss_series(max_points=2000) {1000 * timed(lambda: loss_series(model_dir)):.0f} ms "
            f"({len(series['iterations'])} points, {len(series['terms'])} terms, first iteration "
            f"{series['iterations'][0]:,}); loss_series(last=10000) "
            f"{1000 * timed(lambda: loss_series(model_dir, last=10_000)):.0f} ms; "
            f"recent_messages(200) {1000 * timed(lambda: recent_messages(model_dir)):.1f} ms; "
            f"read_events(0) {1000 * timed(lambda: read_events(model_dir), 3):.0f} ms"
        )


if __name__ == "__main__":
    main()
