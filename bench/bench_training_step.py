"""Cost of each training-step option (issue 20) against the plain step, interleaved (a script).

``bench/bench_quality.py`` trains each option in its own process, one after the other, so a
machine whose load changes during the run (a shared CPU) shifts the ratios. This script builds
Original once (float32) and one compiled step per option (the plain step and each option's
extended step, all on the same model, optimizer and synthetic batch at 16 per side), then times
them in turns: plain, option 1, option 2, ..., again and again, so every option sees the same
load. It prints the median seconds per step and the ratio to the plain step's median. It times
the step alone (the loader's work is the same with these options on or off).

    python bench/bench_training_step.py [--rounds 8] [--batch 16]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

#: option -> [training_step] values ({} is the plain step)
OPTIONS: dict[str, dict[str, Any]] = {
    "plain": {},
    "gan_power": {"gan_power": 0.1},
    "gan_sides_ab": {"gan_power": 0.1, "gan_sides": "ab"},
    "true_face_power": {"true_face_power": 0.01},
    "lr_dropout": {"lr_dropout": 0.3},
    "face_style_power": {"face_style_power": 10.0},
    "bg_style_power": {"bg_style_power": 10.0},
    "all_training_step": {
        "gan_power": 0.1,
        "true_face_power": 0.01,
        "lr_dropout": 0.3,
        "face_style_power": 10.0,
        "bg_style_power": 10.0,
    },
}
MODEL = "original"


def _batch(composer: Any, built: Any, batch: int) -> dict:
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    size = built.input_size
    out = max(built.output_sizes)

    def side() -> dict:
        mask = np.zeros((batch, out, out, 1), np.float32)
        mask[:, out // 8 : -out // 8, out // 8 : -out // 8] = 1.0
        return {
            "input": tf.constant(rng.random((batch, size, size, 3), np.float32)),
            "targets": [tf.constant(rng.random((batch, out, out, 3), np.float32))],
            "masks": {name: [tf.constant(mask)] for name in composer.mask_names},
        }

    return {"a": side(), "b": side()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()

    import keras

    from fs_core.config import Config
    from fs_core.config.sections import GlobalOptions
    from fs_core.config.training_step import TrainingStepOptions
    from fs_core.extensions.activate import ActiveExtensions, enabled_descriptors
    from fs_core.extensions.api import ExtensionContext
    from fs_core.extensions.forward import make_forward
    from fs_core.losses.compose import LossComposer
    from fs_core.model.build import build_from_config
    from fs_core.plugin_manager import get_registry
    from fs_core.training.step import make_train_step

    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)
    registry = get_registry()
    base = Config()
    built = build_from_config(registry, MODEL, base)
    composer = LossComposer(base.loss, base.mask, registry.losses, len(built.output_sizes))
    optimizer = registry.optimizers["adam"].make(GlobalOptions())
    optimizer.build(built.model.trainable_variables)
    steps = {}
    for name, values in OPTIONS.items():
        config = Config(training_step=TrainingStepOptions(**values))
        descriptors = enabled_descriptors(registry, config)
        if not descriptors:
            steps[name] = make_train_step(built.model, composer, optimizer, built.outputs_per_side)
            continue
        context = ExtensionContext(
            config=config,
            built=built,
            mask_names=composer.mask_names,
            masked="face" in composer.mask_names,
            learning_rate=5e-5,
            precision_policy="float32",
            seed=0,
            iterations=0,
        )
        needs = frozenset().union(*(d.needs for d in descriptors))
        active = ActiveExtensions(
            names=tuple(d.name for d in descriptors),
            extensions=[d.make(context) for d in descriptors],
            forward=make_forward(built, needs, context.masked),
        )
        for part, part_optimizer in active.optimizers().items():
            part_optimizer.build(active.parts()[part].trainable_variables)
        steps[name] = make_train_step(
            built.model, composer, optimizer, built.outputs_per_side, extensions=active
        )
    batch = _batch(composer, built, args.batch)
    for step in steps.values():  # trace and warm up
        for _ in range(2):
            float(step(batch)["loss_a"])
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            float(step(batch)["loss_a"])  # waits for the step
            times[name].append(time.perf_counter() - start)
    plain = statistics.median(times["plain"])
    print(f"{MODEL} at batch {args.batch}, float32, {args.rounds} interleaved rounds")
    print(f"{'option':<20} {'s/step':>8} {'ratio':>6}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<20} {median:>8.3f} {median / plain:>6.2f}")


if __name__ == "__main__":
    main()
