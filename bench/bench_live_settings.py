"""Live settings benchmark (a script, not a test): what a change made while training costs.

Trains a model on demo faces with the real ``fs train`` path (``fs_core.training.run``) and asks
the loop for two live changes, as ``fs set`` does through the command channel:

* at ``--change-at``: the learning rate, applied in place;
* at ``--rebuild-at``: the second loss's weight, which needs a new session (a save, the session
  prepared again, the step compiled again).

It prints the median iteration time before the first change and, as ratios to it, the time of
the iteration after each change (from the end of the changed iteration to the end of the next
one: for the rebuild that includes the save, the new session's preparation and its first, compiled
step). An in-place change should cost nothing (ratio about 1); the rebuild costs what a schedule
leg's start costs.

    python bench/bench_live_settings.py [--model lightweight] [--batch 8] [--iterations 60]
        [--change-at 20] [--rebuild-at 40] [--backend tensorflow|torch|jax]

Run it on an idle machine; the numbers on a shared one are noise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def make_clock(hookimpl, changes: dict[int, dict]):
    """A plugin: the time each iteration ended, and the live changes asked at given iterations
    (made after the backend is chosen: ``hookimpl`` comes from fs_core, which imports Keras)."""

    class Clock:
        def __init__(self) -> None:
            self.changes = changes
            self.ends: dict[int, float] = {}
            self.answers: list = []

        @hookimpl
        def fs_iteration_end(self, session, iteration):
            self.ends[iteration] = time.perf_counter()
            if iteration in self.changes:
                session.running.ask("settings", asker=self, changes=self.changes.pop(iteration))

        @hookimpl
        def fs_request_done(self, request):
            if request.asker is self:
                self.answers.append(request)

    return Clock()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="lightweight")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--change-at", type=int, default=20)
    parser.add_argument("--rebuild-at", type=int, default=40)
    parser.add_argument("--backend", default=None, help="KERAS_BACKEND to run on")
    args = parser.parse_args()
    if not 1 <= args.change_at < args.rebuild_at < args.iterations:
        parser.error("need 1 <= --change-at < --rebuild-at < --iterations")
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend

    from fs_core import hookimpl
    from fs_core.faces.demo import write_demo_data
    from fs_core.plugin_manager import load_registry
    from fs_core.training.run import run_train
    from fs_core.training.session import TrainRequest

    clock = make_clock(
        hookimpl,
        {
            args.change_at: {"global.learning_rate": 2e-5},
            args.rebuild_at: {"global.loss.loss_weight_2": 50},
        },
    )
    registry = load_registry(extra_plugins={"bench_clock": clock})
    with tempfile.TemporaryDirectory() as tmp:
        faces_a, faces_b = write_demo_data(Path(tmp) / "faces", count=max(16, args.batch * 2))
        request = TrainRequest(
            input_a=str(faces_a),
            input_b=str(faces_b),
            model_dir=str(Path(tmp) / "model"),
            model_name=args.model,
            batch_size=args.batch,
            iterations=args.iterations,
            save_interval=10**9,
            no_logs=True,
            seed=0,
        )
        run_train(request, registry, notify=lambda text: None)
    ends = clock.ends
    before = [ends[i] - ends[i - 1] for i in range(2, args.change_at + 1) if i - 1 in ends]
    median = statistics.median(before) if before else float("nan")
    in_place = ends[args.change_at + 1] - ends[args.change_at]
    rebuild = ends[args.rebuild_at + 1] - ends[args.rebuild_at]
    chosen = os.environ.get("KERAS_BACKEND", "default")
    print(f"model {args.model}, batch {args.batch}, backend {chosen}")
    for answer in clock.answers:
        kind = "rebuild" if answer.rebuild else "in place"
        print(f"  change at {answer.iteration}: {answer.outcome} ({kind})")
    print(f"median iteration before the first change: {median * 1000:.1f} ms")
    for name, seconds in (("in-place", in_place), ("rebuild", rebuild)):
        print(
            f"iteration after the {name} change: {seconds * 1000:.1f} ms = "
            f"{seconds / median:.2f}x the median"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
