"""Keras variables made functional for ``jax.jit``: the scope that maps them to traced values,
finds the ones a stateful function touches, and branches on a traced condition.

fs's steps are written statefully (``model(...)`` reads the weights, optimizers ``assign`` their
slots, LR dropout bumps a counter). Under JAX a compiled function must take every value it reads
as an argument and return every value it changes, so each step runs inside a
:class:`keras.StatelessScope` that maps each variable to its traced value and collects the
assignments, as Keras 3's own JAX trainer does. Which variables a step touches is found by
tracing it once abstractly (:func:`jax.eval_shape`) with a scope that records every variable read
or assigned outside its mapping, so nothing read inside the step is baked in as a constant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import keras
from keras import StatelessScope
from keras.src.backend.common.stateless_scope import get_stateless_scope


class Scope(StatelessScope):
    """A stateless scope that also remembers what was read (all reads) and what was touched
    outside its mapping (``missed``: id -> variable), so the caller can add it to the state."""

    def __init__(self, mapping: Iterable[tuple[Any, Any]]) -> None:
        pairs = list(mapping)
        super().__init__(state_mapping=pairs)
        self.variables = [variable for variable, _ in pairs]
        self.known = set(self.state_mapping)
        self.read: set[int] = set()
        self.missed: dict[int, Any] = {}

    def get_current_value(self, variable: Any) -> Any:
        key = id(variable)
        self.read.add(key)
        if key not in self.state_mapping:
            self.missed.setdefault(key, variable)
        return self.state_mapping.get(key)

    def add_update(self, update: tuple[Any, Any]) -> None:
        variable, _ = update
        if id(variable) not in self.known:
            self.missed.setdefault(id(variable), variable)
        super().add_update(update)

    def value_of(self, variable: Any) -> Any:
        """The variable's value in this scope (its latest assignment), without autocasting."""
        value = self.state_mapping.get(id(variable))
        return variable.value if value is None else value

    def merge_missed(self, into: dict[int, Any]) -> None:
        """Report what this scope saw outside its mapping to an enclosing scope's record."""
        for key, variable in self.missed.items():
            into.setdefault(key, variable)


def current_value(variable: Any) -> Any:
    """``variable``'s value in the innermost stateless scope (its own value outside one); a value
    that is no variable is returned as it is."""
    if not isinstance(variable, keras.Variable):
        return variable
    scope = get_stateless_scope()
    value = scope.get_current_value(variable) if scope is not None else None
    return variable.value if value is None else value


def stateful_cond(
    pred: Any, true_fn: Callable[[], None], false_fn: Callable[[], None], state: Sequence[Any]
) -> None:
    """``true_fn()`` or ``false_fn()`` by a traced ``pred``, both assigning ``state`` variables.

    ``jax.lax.cond`` traces each branch as its own function, so an assignment made inside a
    branch must come out as a branch result, not as a value left in the enclosing scope (a leaked
    tracer). Each branch runs in a scope of its own over ``state`` and returns every value;
    the chosen ones are assigned in the enclosing scope.
    """
    current = [current_value(v) for v in state]
    outer = get_stateless_scope()

    def run(function: Callable[[], None]) -> Callable[[list[Any]], list[Any]]:
        def branch(values: list[Any]) -> list[Any]:
            with Scope(zip(state, values)) as scope:
                function()
            if isinstance(outer, Scope):
                scope.merge_missed(outer.missed)
            return [
                jnp.asarray(scope.value_of(variable), dtype=value.dtype)
                for variable, value in zip(state, values)
            ]

        return branch

    values = [jnp.asarray(value) for value in current]
    for variable, value in zip(state, jax.lax.cond(pred, run(true_fn), run(false_fn), values)):
        variable.assign(value)
