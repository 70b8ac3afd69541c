"""One case of the GPU benchmark, run in its own process: fs's model under Keras 3's JAX backend,
trained with a jitted stateless step, timed.

Why JAX: the lent GPU machine has no TensorFlow (and its CUDA wheels are far too large to carry),
but fs's models are Keras 3 and build unchanged with ``KERAS_BACKEND=jax``. So this measures fs's
architectures with fs's default loss and optimizer under XLA on the GPU; it is not ``fs train``
(whose step is a TensorFlow ``tf.function``).

What it mirrors from the engine:

- the model: built through the same path as ``fs train`` (``fs_core.model.build.build_from_config``
  with the default config, the pack registered through ``fs_core.plugin_manager.load_registry``,
  the compute precision set as Keras' global dtype policy as ``fs_core.training.session`` does);
- the step (``fs_core.training.step``): both sides' faces through the model in one call (shared
  encoder, each side's decoder), outputs cast to float32, each side's loss (``gpu_loss``, fs's
  default ssim + mse with the face mask and eye/mouth weighting), their sum differentiated in one
  backward pass, one optimizer update; with ``mixed_float16`` the optimizer is wrapped in Keras'
  ``LossScaleOptimizer`` as ``fs_core.training.loop`` does;
- the optimizer: fs's default (adam, learning rate, betas, epsilon 10^epsilon_exponent from
  ``[global]``) with torch's epsilon placement like fs's ``FsAdam`` (whose fused update is a
  TensorFlow kernel, so it cannot run here: :class:`TorchRuleAdam` is the same arithmetic in
  ``keras.ops``).

Two rates are measured: ``loop`` feeds a host (NumPy) batch each iteration and reads both losses
back, as fs's training loop does (so it includes the host-to-device copy and one synchronisation
per step); ``device`` runs the same compiled step on batches already on the GPU without waiting
between steps (the GPU's own rate).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

PRECISIONS = {  # benchmark name -> (Keras dtype policy, JAX default matmul precision)
    "float32": ("float32", None),
    "float32_highest": ("float32", "highest"),
    "mixed_bfloat16": ("mixed_bfloat16", None),
    "mixed_float16": ("mixed_float16", None),
}


def load_registry(with_models: bool = True) -> Any:
    """The registry ``fs train`` would see for the model: the core's initializers and augmenters
    and (``with_models``) the model pack, registered directly (the repository is not
    pip-installed on the GPU machine, so there are no entry points to discover)."""
    from fs_core.plugin_manager import load_registry as load

    extra: dict[str, Any] = {}
    if with_models:
        from fs_plugins_models import plugin

        extra["fs_plugins_models"] = plugin
    return load(
        builtins=("fs_core.builtins.initializers", "fs_core.augment.builtin"),
        extra_plugins=extra,
        entry_points=False,
    )


def build_model(name: str, policy: str) -> Any:
    """``BuiltModel`` of ``name`` with the default config under Keras dtype ``policy``."""
    import keras

    from fs_core.config import config_from_mapping
    from fs_core.model.build import build_from_config

    keras.config.set_dtype_policy(policy)
    keras.utils.set_random_seed(0)
    registry = load_registry()
    config = config_from_mapping({}, registry.model_config_classes())
    return build_from_config(registry, name, config)


def _torch_rule_adam_class() -> type:
    import keras
    from keras import ops

    class TorchRuleAdam(keras.optimizers.Adam):
        """Adam with torch's epsilon placement (eps added to the bias-corrected √v̂), as FsAdam.

        Keras adds eps to √v; multiplying torch's rule through by √(1 − β2^t) gives Keras' formula
        with eps·√(1 − β2^t), which is what this passes. Same element-wise work as Keras' Adam.
        """

        def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
            dtype = variable.dtype
            lr = ops.cast(learning_rate, dtype)
            gradient = ops.cast(gradient, dtype)
            step = ops.cast(self.iterations + 1, dtype)
            beta1_power = ops.power(ops.cast(self.beta_1, dtype), step)
            beta2_power = ops.power(ops.cast(self.beta_2, dtype), step)
            index = self._get_variable_index(variable)
            m, v = self._momentums[index], self._velocities[index]
            self.assign_add(m, (gradient - m) * (1.0 - self.beta_1))
            self.assign_add(v, (ops.square(gradient) - v) * (1.0 - self.beta_2))
            alpha = lr * ops.sqrt(1.0 - beta2_power) / (1.0 - beta1_power)
            epsilon = ops.cast(self.epsilon, dtype) * ops.sqrt(1.0 - beta2_power)
            self.assign_sub(variable, alpha * m / (ops.sqrt(v) + epsilon))

    return TorchRuleAdam


def make_optimizer(model: Any, policy: str) -> Any:
    """fs's default optimizer from the default ``[global]`` options, built for ``model``."""
    import keras

    from fs_core.config.sections import GlobalOptions

    options = GlobalOptions()
    if options.optimizer != "adam":
        raise RuntimeError(f"fs's default optimizer is now {options.optimizer!r}; update the bench")
    optimizer = _torch_rule_adam_class()(
        learning_rate=float(options.learning_rate),
        beta_1=float(options.ada_beta_1),
        beta_2=float(options.ada_beta_2),
        epsilon=10.0 ** int(options.epsilon_exponent),
        amsgrad=bool(options.ada_amsgrad),
    )
    if policy == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    optimizer.build(model.trainable_variables)
    return optimizer


def make_step(model: Any, optimizer: Any, outputs_per_side: int) -> Any:
    """``step(state, batch) -> (state, losses)``, pure, for ``jax.jit`` (or plain calls).

    ``state`` = (trainable values, non-trainable values, optimizer variable values).
    """
    import jax
    import keras
    from gpu_loss import side_loss
    from keras import ops

    scales_loss = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    def loss_fn(trainable: list, non_trainable: list, optimizer_values: list, batch: dict) -> Any:
        outputs, non_trainable = model.stateless_call(
            trainable, non_trainable, [batch["a"]["input"], batch["b"]["input"]], training=True
        )
        outputs = [ops.cast(o, "float32") for o in jax.tree_util.tree_leaves(outputs)]
        loss_a, _ = side_loss(outputs[:outputs_per_side], batch["a"])
        loss_b, _ = side_loss(outputs[outputs_per_side:], batch["b"])
        total = loss_a + loss_b
        if scales_loss:  # the scale is an optimizer variable: read it from the state passed in
            mapping = list(zip(optimizer.variables, optimizer_values))
            with keras.StatelessScope(state_mapping=mapping):
                total = optimizer.scale_loss(total)
        return total, (non_trainable, loss_a, loss_b)

    gradient_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def step(state: tuple, batch: dict) -> tuple[tuple, dict]:
        trainable, non_trainable, optimizer_values = state
        (_, (non_trainable, loss_a, loss_b)), grads = gradient_fn(
            trainable, non_trainable, optimizer_values, batch
        )
        trainable, optimizer_values = optimizer.stateless_apply(optimizer_values, grads, trainable)
        return (trainable, non_trainable, optimizer_values), {"loss_a": loss_a, "loss_b": loss_b}

    return step


def load_pool(path: Path) -> list[dict]:
    """The training batches ``bench_gpu.save_pool`` wrote (NumPy, as the loader gives them)."""
    with np.load(path) as data:
        count = int(data["count"])
        sizes = int(data["outputs"])
        names = [str(n) for n in data["mask_names"]]
        return [
            {
                side: {
                    "input": data[f"{i}/{side}/input"],
                    "targets": [data[f"{i}/{side}/targets/{k}"] for k in range(sizes)],
                    "masks": {
                        name: [data[f"{i}/{side}/masks/{name}/{k}"] for k in range(sizes)]
                        for name in names
                    },
                }
                for side in ("a", "b")
            }
            for i in range(count)
        ]


def run_case(
    model_name: str,
    batch_size: int,
    precision: str,
    jit: bool,
    pool: Path,
    iterations: int,
    seconds: float,
    warmup: int,
) -> dict:
    """Build, compile, train and time one case; every figure the report needs, as a dict."""
    started = time.perf_counter()
    import jax

    policy, matmul_precision = PRECISIONS[precision]
    if matmul_precision is not None:
        jax.config.update("jax_default_matmul_precision", matmul_precision)
    built = build_model(model_name, policy)
    model = built.model
    optimizer = make_optimizer(model, policy)
    state = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in optimizer.variables],
    )
    host = load_pool(pool)
    if int(host[0]["a"]["input"].shape[0]) != batch_size:
        raise RuntimeError(f"{pool} holds batches of {host[0]['a']['input'].shape[0]}")
    step = make_step(model, optimizer, built.outputs_per_side)
    result: dict[str, Any] = {
        "parameters": int(model.count_params()),
        "input_size": built.input_size,
        "output_sizes": list(built.output_sizes),
        "build_s": time.perf_counter() - started,
    }
    device_batches = [jax.device_put(b) for b in host]
    if jit:
        start = time.perf_counter()
        lowered = jax.jit(step, donate_argnums=0).lower(state, device_batches[0])
        result["trace_s"] = time.perf_counter() - start
        start = time.perf_counter()
        run = lowered.compile()
        result["compile_s"] = time.perf_counter() - start
    else:
        run = step
    start = time.perf_counter()
    state, losses = run(state, jax.device_put(host[0]))
    first = (float(losses["loss_a"]), float(losses["loss_b"]))
    result["first_step_s"] = time.perf_counter() - start
    for index in range(warmup):
        state, losses = run(state, jax.device_put(host[index % len(host)]))
        float(losses["loss_a"])

    # as fs's loop: a host batch in, both losses read back, every iteration
    durations: list[float] = []
    began = time.perf_counter()
    while len(durations) < iterations and (
        time.perf_counter() - began < seconds or len(durations) < 2
    ):
        start = time.perf_counter()
        state, losses = run(state, jax.device_put(host[len(durations) % len(host)]))
        last = (float(losses["loss_a"]), float(losses["loss_b"]))
        durations.append(time.perf_counter() - start)
    loop_s = sum(durations) / len(durations)

    # the GPU's own rate: batches already there, no wait between steps
    start = time.perf_counter()
    for index in range(len(durations)):
        state, losses = run(state, device_batches[index % len(device_batches)])
    jax.block_until_ready((state, losses))
    device_s = (time.perf_counter() - start) / len(durations)

    ordered = sorted(durations)
    result.update(
        {
            "iterations": len(durations),
            "loop_step_ms": 1000 * loop_s,
            "loop_examples_per_second": 2 * batch_size / loop_s,
            "slowest_over_median": ordered[-1] / ordered[len(ordered) // 2],
            "device_step_ms": 1000 * device_s,
            "device_examples_per_second": 2 * batch_size / device_s,
            "loss_first": list(first),
            "loss_last": list(last),
            "losses_finite": bool(np.all(np.isfinite(first + last))),
            "peak_gpu_gib": _peak_memory_gib(jax),
            "total_s": time.perf_counter() - started,
        }
    )
    return result


def _peak_memory_gib(jax: Any) -> float | None:
    stats = jax.local_devices()[0].memory_stats()
    if not stats or "peak_bytes_in_use" not in stats:
        return None
    return float(stats["peak_bytes_in_use"]) / 1024**3


def flops_per_example(model_name: str) -> dict:
    """Training FLOPs of one face (bench/flops.py's count), sizes and parameters of a model.

    Built under float32 on whichever device JAX has; the count depends only on the layers.
    """
    from flops import training_flops_per_example

    built = build_model(model_name, "float32")
    return {
        "flops_per_example": training_flops_per_example(built.model),
        "input_size": built.input_size,
        "output_sizes": list(built.output_sizes),
        "color_order": built.descriptor.color_order,
        "parameters": int(built.model.count_params()),
    }
