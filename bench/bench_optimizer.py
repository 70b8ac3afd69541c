"""Adam's optimizer step on a model-sized set of variables (a script, not a test).

    python bench/bench_optimizer.py [--params 82e6] [--steps 5] [--rounds 5]

Why: fs's Adam/AdamW compute torch's rule (eps added after the bias correction) by passing
TensorFlow's fused ``ResourceApplyAdam`` kernel a per-step epsilon ``eps·√(1 − β2^t)``. This
checks that the per-step epsilon keeps the fused kernel's speed. Cases, each timed on its own
copy of the variables and interleaved round by round so machine load hits all alike:

* ``fused, constant eps``: the fused kernel with a constant epsilon (Keras' eps placement; fs
  before it followed torch), the baseline;
* ``fused, per-step eps``: fs's Adam now;
* ``plain ops``: fs's Adam with ``fused = False`` (the same torch rule as separate element-wise
  ops);
* ``keras Adam``: Keras' own element-wise Adam.

The variables are a few large kernels plus many small ones (Original has ~82 M weights in a few
dozen variables, so the per-variable scalar work of the per-step epsilon is counted too). Prints
the median milliseconds per step of each case, its ratio to the baseline's median, and the median
of its per-round ratios to the baseline (steadier when other work shares the machine).
"""

from __future__ import annotations

import argparse
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from fs_core.backend.tensorflow.optimizers import resource_handle
from fs_core.builtins.optimizers import FsAdam


class ConstantEpsilonAdam(FsAdam):
    """The fused kernel with a constant epsilon: the speed baseline."""

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        step = tf.cast(self.iterations + 1, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=resource_handle(variable),
            m=resource_handle(self._momentums[index]),
            v=resource_handle(self._velocities[index]),
            beta1_power=tf.pow(tf.cast(self.beta_1, dtype), step),
            beta2_power=tf.pow(tf.cast(self.beta_2, dtype), step),
            lr=tf.cast(learning_rate, dtype),
            beta1=tf.cast(self.beta_1, dtype),
            beta2=tf.cast(self.beta_2, dtype),
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
            use_locking=False,
        )


def shapes(params: float) -> list[tuple[int, ...]]:
    """8 large kernels holding ~95% of ``params`` and 40 small convolution kernels and biases."""
    small = [(3, 3, 64, 64)] * 20 + [(64,)] * 20
    left = params - sum(int(np.prod(s)) for s in small)
    side = int((left / 8) ** 0.5)
    return [(side, side)] * 8 + small


def make_case(name: str, grads: list[tf.Tensor]):
    variables = [keras.Variable(tf.zeros_like(g), name=f"kernel_{i}") for i, g in enumerate(grads)]
    if name == "keras Adam":
        optimizer = keras.optimizers.Adam(learning_rate=5e-5, epsilon=1e-7)
    elif name == "fused, constant eps":
        optimizer = ConstantEpsilonAdam(learning_rate=5e-5, epsilon=1e-7)
    else:
        optimizer = FsAdam(learning_rate=5e-5, epsilon=1e-7)
        optimizer.fused = name != "plain ops"
    optimizer.build(variables)

    @tf.function
    def step():
        optimizer.apply(grads, variables)

    step()  # trace and warm up
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=float, default=82e6)
    parser.add_argument("--steps", type=int, default=5, help="steps per timing")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    grads = [tf.constant(rng.normal(size=s).astype(np.float32) * 1e-3) for s in shapes(args.params)]
    total = sum(int(np.prod(g.shape)) for g in grads)
    names = ["fused, constant eps", "fused, per-step eps", "plain ops", "keras Adam"]
    steps = {name: make_case(name, grads) for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.rounds):
        for name in names:
            start = time.perf_counter()
            for _ in range(args.steps):
                steps[name]()
            times[name].append((time.perf_counter() - start) / args.steps * 1000)
    base = statistics.median(times[names[0]])
    print(
        f"{total / 1e6:.1f} M weights in {len(grads)} variables, {args.rounds} rounds of "
        f"{args.steps} steps"
    )
    for name in names:
        median = statistics.median(times[name])
        paired = statistics.median(t / b for t, b in zip(times[name], times[names[0]]))
        print(
            f"{name:22s} {median:8.1f} ms/step   {median / base:5.2f}x baseline   "
            f"{paired:5.2f}x paired by round   (all: {', '.join(f'{t:.0f}' for t in times[name])})"
        )


if __name__ == "__main__":
    main()
