"""JAX's training steps: the core's stateful forward pass made a pure function of the variables'
values (:mod:`fs_core.backend.jax.state`), differentiated by ``jax.value_and_grad``, the
optimizer applied in the same scope, the whole compiled once by ``jax.jit``.

The state of a step is every Keras variable it reads or assigns: the trainable weights, the
model's other variables (normalisation statistics, dropout seed generators), the optimizer's
slots, iteration count and learning rate, the clipper's AutoClip history, an extension's counter.
They are found on the first call by tracing the step abstractly (the batch shapes are known only
then). Each call passes their values in, gets the new ones out and assigns them back to the
variables, so everything that reads weights between steps (saves, previews, the collapse guard,
held-out losses, rollback) sees current values; the old buffers are donated to the step, so the
write-back costs no copy.

Under ``-d mirrored`` or ``multi-worker`` (:class:`~fs_core.backend.jax.distribute.DataParallel`)
the same step is compiled over every device of every process: the values go in replicated, the
batch as one global array split on its first axis, so the loss is the global batch's mean and
``jax.jit`` all-reduces the gradients itself; everything after (clipping, AutoClip's history, the
loss scaler's check, the optimizer) sees the global gradient, and the new values and the losses
come out replicated, the same on every process.

A trainable variable the forward pass never reads gets no gradient (``None``), as a TensorFlow
tape gives, so the optimizer leaves it and its slots alone instead of decaying them with zeros.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import keras
import numpy as np

from fs_core.backend.jax.distribute import DataParallel
from fs_core.backend.jax.state import Scope, current_value, stateful_cond

#: how many abstract traces may find new variables before the step gives up (one finds them all
#: unless a variable is first touched inside a branch only a previous trace revealed)
DISCOVERY_ROUNDS = 4


class DeviceOutOfMemory(MemoryError):
    """The accelerator ran out of memory inside the step (XLA's ``RESOURCE_EXHAUSTED``)."""


def _scaled(optimizer: Any, loss: Any) -> Any:
    return optimizer.scale_loss(loss) if hasattr(optimizer, "scale_loss") else loss


def _inner(optimizer: Any) -> Any:
    return getattr(optimizer, "inner_optimizer", optimizer)


def apply_gradients(optimizer: Any, grads: Sequence[Any], variables: Sequence[Any]) -> None:
    """``optimizer.apply`` inside a :class:`Scope` that maps every state variable.

    Keras' loss-scale optimizer branches with ``ops.cond`` over assignments, which under JAX leak
    tracers out of the branches; its rule is repeated here with :func:`stateful_cond` (finite
    gradients: unscale, apply, grow the scale every ``dynamic_growth_steps``; otherwise halve the
    scale and skip the update). With gradient accumulation the clipper runs on every micro-batch
    under Keras' JAX optimizer; its AutoClip history is kept only on the steps that update, as
    the TensorFlow optimizer clips only then.
    """
    inner = _inner(optimizer)
    clipper = getattr(inner, "_fs_gradient_clipper", None)
    clipper_state = list(getattr(clipper, "state_variables", ()))
    accumulation = inner.gradient_accumulation_steps
    clipper_before = [current_value(v) for v in clipper_state] if accumulation else []
    iterations = current_value(inner._iterations)  # micro-steps (`iterations` counts updates)
    pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
    kept_grads, kept_vars = [g for g, _ in pairs], [v for _, v in pairs]
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        _loss_scaled_apply(optimizer, kept_grads, kept_vars)
    else:
        optimizer.apply(kept_grads, kept_vars)
    if accumulation and clipper_state:
        update = (iterations + 1) % accumulation == 0
        for variable, old in zip(clipper_state, clipper_before):
            variable.assign(jnp.where(update, current_value(variable), old))


def _loss_scaled_apply(optimizer: Any, grads: list[Any], variables: list[Any]) -> None:
    state = _scope_variables()
    scale = current_value(optimizer.dynamic_scale)

    def finite() -> None:
        unscaled = [g / jnp.asarray(scale, g.dtype) for g in grads]
        optimizer.inner_optimizer.apply(unscaled, variables)
        stateful_cond(
            current_value(optimizer.step_counter) == optimizer.dynamic_growth_steps - 1,
            grow,
            count,
            state,
        )

    def grow() -> None:
        optimizer.step_counter.assign(0)
        optimizer.dynamic_scale.assign(scale * 2.0)

    def count() -> None:
        optimizer.step_counter.assign_add(1)

    def not_finite() -> None:
        optimizer.step_counter.assign(0)
        optimizer.dynamic_scale.assign(scale * 0.5)

    stateful_cond(optimizer.check_finite(grads), finite, not_finite, state)


def _scope_variables() -> list[Any]:
    """Every variable the innermost :class:`Scope` maps (the step's whole state)."""
    from keras.src.backend.common.stateless_scope import get_stateless_scope  # noqa: PLC0415 (Keras internals kept to one place)

    scope = get_stateless_scope()
    assert isinstance(scope, Scope)
    return list(scope.variables)


class CompiledStep:
    """A stateful step made pure and jitted; called with a batch, it updates the variables.

    ``body(state, values, batch, unread)`` runs the step's work given the state's variables and
    values and returns ``(new values, results)``; :meth:`__call__` finds the state on the first
    call, then runs the jitted body and assigns the new values back. With ``placement`` the body
    runs data parallel over its devices (the batch given is this process's share).
    """

    def __init__(
        self,
        body: Callable[[list[Any], list[Any], Any, dict], tuple[list[Any], dict]],
        known: Sequence[Any],
        order: list[str],
        placement: DataParallel | None = None,
    ) -> None:
        self._body = body
        self._known = list(known)
        self._state: list[Any] | None = None
        self._compiled: Any = None
        self._order = order  # the results' keys as the forward pass made them (body fills it)
        self._placement = placement

    @property
    def state(self) -> list[Any]:
        """The variables the step reads or assigns (after the first call)."""
        return list(self._state or ())

    def _discover(self, batch: Any) -> list[Any]:
        state = _unique(self._known)
        for _ in range(DISCOVERY_ROUNDS):
            missed: dict[int, Any] = {}

            def probe(
                values: list[Any], batch: Any, state: list[Any] = state, missed: dict = missed
            ) -> Any:
                _, result, seen = self._trace(state, values, batch)
                missed.update(seen)
                return result

            jax.eval_shape(probe, [_abstract(v) for v in state], batch)
            if not missed:
                return state
            state = _unique(state + list(missed.values()))
        raise RuntimeError("the training step keeps touching variables it was not given")

    def _trace(self, state: list[Any], values: list[Any], batch: Any) -> tuple[Any, Any, dict]:
        missed: dict[int, Any] = {}
        new_values, result = self._body(state, values, batch, missed)
        return new_values, result, missed

    def _compile(self, state: list[Any]) -> Any:
        def pure(values: list[Any], batch: Any) -> tuple[list[Any], dict]:
            new_values, result, missed = self._trace(state, values, batch)
            if missed:
                names = ", ".join(str(getattr(v, "path", v)) for v in list(missed.values())[:3])
                raise RuntimeError(f"the training step touched variables it was not given: {names}")
            return new_values, result

        placement = self._placement
        if placement is None:
            return jax.jit(pure, donate_argnums=(0,))
        return jax.jit(
            pure,
            in_shardings=(placement.replicated, placement.batch_sharding),
            out_shardings=(placement.replicated, placement.replicated),
            donate_argnums=(0,),
        )

    def __call__(self, batch: Any) -> dict:
        placement = self._placement
        if placement is not None:
            batch = placement.global_batch(batch)
        if self._state is None:
            self._state = self._discover(batch)
            self._compiled = self._compile(self._state)
            if placement is not None and placement.process_count > 1:
                shared = placement.broadcast([v.value for v in self._state])
                for variable, value in zip(self._state, shared):
                    variable.assign(value)
        state = self._state
        values = _distinct([v.value for v in state])
        if placement is not None:
            values = [placement.to_global(value) for value in values]
        try:
            new_values, result = self._compiled(values, batch)
        except jax.errors.JaxRuntimeError as error:
            if "RESOURCE_EXHAUSTED" in str(error):
                raise DeviceOutOfMemory(str(error).splitlines()[0]) from error
            raise
        if placement is not None:
            new_values = [placement.to_local(value) for value in new_values]
            result = {key: placement.to_local(value) for key, value in result.items()}
        for variable, value in zip(state, new_values):
            variable.assign(value)
        # JAX returns a dict with its keys sorted; the status line and the record keep the order
        # the forward pass gave (as on TensorFlow)
        return {key: result[key] for key in self._order} if self._order else result


def _unique(variables: Sequence[Any]) -> list[Any]:
    seen: set[int] = set()
    unique = []
    for variable in variables:
        if id(variable) not in seen:
            seen.add(id(variable))
            unique.append(variable)
    return unique


def _abstract(variable: Any) -> Any:
    value = variable.value
    return jax.ShapeDtypeStruct(np.shape(value), jnp.asarray(value).dtype)


def _distinct(values: list[Any]) -> list[Any]:
    """The values with any buffer that appears twice copied: a donated buffer is given once."""
    seen: set[int] = set()
    distinct = []
    for value in values:
        copied = jnp.array(value, copy=True) if id(value) in seen else value
        seen.add(id(copied))
        distinct.append(copied)
    return distinct


def _mapping(state: list[Any], values: list[Any]) -> list[tuple[Any, Any]]:
    return list(zip(state, values))


def compile_train_step(
    forward: Callable[[Any], tuple[Any, dict]],
    variables: Sequence[Any],
    optimizer: Any,
    distribution: Any = None,
) -> Callable[[dict], dict]:
    """The compiled step: ``forward(batch)`` as a function of the trainable values, its loss
    scaled, differentiated by ``jax.value_and_grad`` and applied by ``optimizer``; returns
    ``forward``'s results. Under ``distribution`` (a :class:`fs_core.training.strategy.Distribution`
    whose strategy is a :class:`~fs_core.backend.jax.distribute.DataParallel`) the step runs data
    parallel; ``forward``'s loss is then the global batch's mean, not divided per replica."""
    variables = list(variables)
    count = len(variables)
    order: list[str] = []

    def body(state: list[Any], values: list[Any], batch: Any, missed: dict) -> tuple[list, dict]:
        reads: set[int] = set()

        def loss(trainable: list[Any], rest: list[Any]) -> tuple[Any, tuple[dict, list]]:
            with Scope(_mapping(state, trainable + rest)) as scope:
                total, result = forward(batch)
                scaled = _scaled(optimizer, total)
            order[:] = list(result)
            scope.merge_missed(missed)
            reads.update(scope.read)
            return scaled, (result, [scope.value_of(v) for v in state[count:]])

        (_, (result, rest)), grads = jax.value_and_grad(loss, has_aux=True)(
            values[:count], values[count:]
        )
        grads = [g if id(v) in reads else None for g, v in zip(grads, variables)]
        with Scope(_mapping(state, values[:count] + rest)) as scope:
            apply_gradients(optimizer, grads, variables)
        scope.merge_missed(missed)
        return [scope.value_of(v) for v in state], result

    strategy = getattr(distribution, "strategy", None)
    placement = strategy if isinstance(strategy, DataParallel) else None
    return CompiledStep(body, variables + list(optimizer.variables), order, placement)


def compile_extended_step(
    forward: Callable[[Any], tuple[Any, dict, dict]],
    variables: Sequence[Any],
    optimizer: Any,
    own_variables: Mapping[str, Sequence[Any]],
    own_optimizers: Mapping[str, Any],
    filters: Sequence[Any],
) -> Callable[[dict], dict]:
    """The compiled step with extensions, on one device.

    ``forward(batch) -> (total, own, result)``: the model's loss, each extension network's own
    loss by name, and the values to report. One forward pass (``jax.vjp``) serves every
    gradient: the model's loss over the model's variables, each own loss over its network's.
    After the model's update each of ``filters`` sees the variables before and after it; then
    each extension network's optimizer applies its own gradients.
    """
    variables = list(variables)
    names = list(own_variables)
    own_lists = [list(own_variables[name]) for name in names]
    differentiated = variables + [v for group in own_lists for v in group]
    count = len(differentiated)
    known = differentiated + list(optimizer.variables)
    for name in names:
        known += list(own_optimizers[name].variables)
    order: list[str] = []

    def split(flat: list[Any]) -> tuple[list[Any], dict[str, list[Any]]]:
        model, start, groups = flat[: len(variables)], len(variables), {}
        for name, group in zip(names, own_lists):
            groups[name] = flat[start : start + len(group)]
            start += len(group)
        return model, groups

    def body(state: list[Any], values: list[Any], batch: Any, missed: dict) -> tuple[list, dict]:
        reads: set[int] = set()

        def losses(diff: list[Any]) -> tuple[tuple[Any, dict], tuple[dict, list]]:
            with Scope(_mapping(state, diff + values[count:])) as scope:
                total, own, result = forward(batch)
                scaled = _scaled(optimizer, total)
                own_scaled = {n: _scaled(own_optimizers[n], value) for n, value in own.items()}
            order[:] = list(result)
            scope.merge_missed(missed)
            reads.update(scope.read)
            return (scaled, own_scaled), (result, [scope.value_of(v) for v in state[count:]])

        (total, own), pullback, (result, rest) = jax.vjp(losses, values[:count], has_aux=True)

        def gradient_of(name: str | None) -> list[Any]:
            cotangent = (
                jnp.ones_like(total) if name is None else jnp.zeros_like(total),
                {n: jnp.ones_like(v) if n == name else jnp.zeros_like(v) for n, v in own.items()},
            )
            (flat,) = pullback(cotangent)
            return [g if id(v) in reads else None for g, v in zip(flat, differentiated)]

        model_grads, _ = split(gradient_of(None))
        own_grads = {name: split(gradient_of(name))[1][name] for name in own}
        with Scope(_mapping(state, values[:count] + rest)) as scope:
            before = [current_value(v) for v in variables] if filters else []
            apply_gradients(optimizer, model_grads, variables)
            for extension in filters:
                extension.filter_update(variables, before)
            for name, grads in own_grads.items():
                apply_gradients(own_optimizers[name], grads, list(own_variables[name]))
        scope.merge_missed(missed)
        return [scope.value_of(v) for v in state], result

    return CompiledStep(body, known, order)


def compile_function(function: Callable) -> Callable:
    """``function`` compiled as the training step compiles: ``jax.jit``."""
    return jax.jit(function)


def gradients(loss: Callable[[], Any], variables: Sequence[Any]) -> tuple[Any, list[Any]]:
    """``loss()`` and its gradients over ``variables`` (None where ``loss`` never reads one).

    Reads of other variables take their current values; assignments ``loss`` makes (a
    normalisation layer's statistics) are dropped, as a check's probe should leave no trace.
    """
    variables = list(variables)
    reads: set[int] = set()

    def pure(values: list[Any]) -> Any:
        with Scope(_mapping(variables, values)) as scope:
            value = loss()
        reads.update(scope.read - set(scope.missed))
        return value

    value, grads = jax.value_and_grad(pure)([v.value for v in variables])
    return value, [g if id(v) in reads else None for g, v in zip(grads, variables)]


def input_gradient(loss: Callable[[Any], Any], value: Any) -> Any:
    """The gradient of ``loss(x)`` at ``x = value`` as NumPy."""
    return np.asarray(jax.grad(loss)(jnp.asarray(value)))
