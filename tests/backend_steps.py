"""Optimizer and clipper scenarios run through the active backend's compiled train step, for
comparing backends (``tests/test_backend_jax.py`` runs them on TensorFlow in-process and on JAX in
a subprocess: ``KERAS_BACKEND=jax python tests/backend_steps.py OUT.npz``).

Each step's loss is ``Σ v · g_t``, so the gradient is exactly the step's ``g_t`` from the batch:
what is compared is each optimizer's update rule, weight decay, gradient accumulation, the
clippers (AutoClip's history too) and loss scaling with a non-finite step, inside the compiled
step.
"""

from __future__ import annotations

import sys
import types

import keras
import numpy as np
from keras import ops

from fs_core import backend
from fs_core.builtins import optimizers

MAKERS = {
    "adam": optimizers.make_adam,
    "nadam": optimizers.make_nadam,
    "adamax": optimizers.make_adamax,
    "adamw": optimizers.make_adamw,
    "rms-prop": optimizers.make_rmsprop,
    "adabelief": optimizers.make_adabelief,
    "lion": optimizers.make_lion,
}
SHAPES = {"kernel": (4, 3), "bias": (3,)}
STEPS = 4


def _options(accumulation: int = 1) -> types.SimpleNamespace:
    return types.SimpleNamespace(
        learning_rate=1e-2,
        weight_decay=0.01,
        gradient_accumulation=accumulation,
        epsilon_exponent=-7,
        ada_beta_1=0.9,
        ada_beta_2=0.999,
        ada_amsgrad=False,
    )


def _gradients(scenario: str) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    steps = []
    for step in range(STEPS):
        scale = 3.0 if step % 2 else 0.5  # norms that cross the clipping thresholds
        grads = {k: (rng.standard_normal(s) * scale).astype(np.float32) for k, s in SHAPES.items()}
        if scenario == "loss-scaled" and step == 1:
            grads["bias"][0] = np.inf  # a non-finite step: skipped, the scale halves
        steps.append(grads)
    return steps


def run(scenario: str) -> dict[str, np.ndarray]:
    """The variables and optimizer state after :data:`STEPS` steps of ``scenario``."""
    optimizer_name, _, extra = scenario.partition(":")
    if optimizer_name == "loss-scaled":
        optimizer_name = "adam"
    rng = np.random.default_rng(3)
    variables = [
        keras.Variable(rng.standard_normal(s).astype(np.float32), name=name)
        for name, s in SHAPES.items()
    ]
    options = extra.split("+")
    accumulation = 2 if "accumulate" in options else 1
    optimizer = MAKERS[optimizer_name](_options(accumulation))
    clipper = None
    for option in options:
        if option.startswith("clip-"):
            clipper = backend.get().gradient_clipper(option[len("clip-") :], 1.0, 3)
            optimizer.set_gradient_clipper(clipper)
    if scenario == "loss-scaled":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=2.0**4)
    optimizer.build(variables)

    def forward(batch: dict) -> tuple:
        total = ops.sum(variables[0] * batch["kernel"]) + ops.sum(variables[1] * batch["bias"])
        return total, {"loss": total}

    step = backend.get().compile_train_step(forward, variables, optimizer)
    for grads in _gradients(scenario.split(":", maxsplit=1)[0]):
        step(grads)
    out = {f"var/{v.name}": np.asarray(v.numpy()) for v in variables}
    for index, v in enumerate(optimizer.variables):
        out[f"opt/{index:02d}_{v.name}"] = np.asarray(v.numpy())
    for v in getattr(clipper, "state_variables", ()):
        name = v.name.split(":")[0]
        out[f"clip/{name}"] = np.asarray(v.numpy()).astype(np.float64)  # int32 on JAX
    return out


SCENARIOS = [
    *MAKERS,
    "adam:accumulate",
    "nadam:accumulate",
    "adam:clip-norm",
    "adam:clip-global_norm",
    "adam:clip-value",
    "adam:clip-autoclip",
    "adam:accumulate+clip-autoclip",
    "loss-scaled",
]


def helpers() -> dict[str, np.ndarray]:
    """The extensions' image operations and the check helpers' gradients on fixed inputs."""
    implementation = backend.get()
    rng = np.random.default_rng(5)
    pred = rng.random((2, 24, 24, 3), dtype=np.float32)
    true = rng.random((2, 24, 24, 3), dtype=np.float32)
    mask = np.asarray(implementation.keep_mask((1000,), 0.25, implementation.seed_pair(3, 9)))
    variable = keras.Variable(pred[0, :4, :4, 0], name="probe")
    _, grads = implementation.gradients(lambda: ops.sum(ops.square(variable)), [variable])
    return {
        "blur": np.asarray(implementation.gaussian_blur(pred, 3)),
        "colour": np.asarray(implementation.colour_statistics_loss(pred, true)),
        "dssim": np.asarray(implementation.dssim(pred, true, 7)),
        "keep_fraction": np.asarray(mask.mean()),
        "gradients": np.asarray(grads[0]),
        "input_gradient": np.asarray(
            implementation.input_gradient(lambda x: ops.sum(ops.square(x)), pred[0])
        ),
    }


def seeded_dropout() -> dict[str, np.ndarray]:
    """A dropout layer's seed generator inside the step: its state advances once per step (it is
    part of the step's state, not a constant traced in), so two steps draw different masks."""
    variable = keras.Variable(np.ones((64,), np.float32), name="dropped")
    layer = keras.layers.Dropout(0.5, seed=11)
    optimizer = optimizers.Lion(learning_rate=1.0)
    optimizer.build([variable])

    def forward(batch: dict) -> tuple:
        total = ops.sum(layer(batch["x"], training=True) * variable)
        return total, {"loss": total, "a_after": total}  # not in sorted order

    step = backend.get().compile_train_step(forward, [variable], optimizer)
    before = np.asarray(layer.seed_generator.state.numpy())
    changes, keys = [], []
    for _ in range(2):
        old = np.asarray(variable.numpy()).copy()
        keys = list(step({"x": np.ones((64,), np.float32)}))
        changes.append(np.asarray(variable.numpy()) != old)
    after = np.asarray(layer.seed_generator.state.numpy())
    return {
        "seed_advance": (after - before).astype(np.float64),
        "masks_differ": np.asarray(bool(np.any(changes[0] != changes[1]))),
        "order_kept": np.asarray(keys == ["loss", "a_after"]),
    }


def run_all() -> dict[str, np.ndarray]:
    results = {f"helpers|{key}": value for key, value in helpers().items()}
    results.update({f"dropout|{key}": value for key, value in seeded_dropout().items()})
    for scenario in SCENARIOS:
        for key, value in run(scenario).items():
            results[f"{scenario}|{key}"] = value
    return results


if __name__ == "__main__":
    np.savez(sys.argv[1], **run_all())
