"""PyTorch's training steps, as Keras 3's own torch trainer runs them: eager, the gradients from
autograd, the optimizer's update under ``torch.no_grad()``.

The core's forward pass (Keras layers and ``keras.ops``) builds torch's autograd graph as it runs;
``loss.backward()`` leaves each gradient in its parameter's ``.grad`` (cleared before every step,
as ``Module.zero_grad`` does), and Keras' optimizer applies them without recording. Nothing is
compiled: ``torch.compile`` is not used (eager is what Keras' trainer runs; compiling has not
been measured yet). The step returns the results detached, so the loop reads them as numbers
without holding the graph.

Under ``-d ddp`` (:mod:`fs_core.backend.torch.distribute`) the step broadcasts rank 0's variables
when it is made, sums the gradients over the replicas before the update, reports the workers'
mean losses and keeps the non-trainable state equal to rank 0's after each update.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import torch

from fs_core.backend.torch.distribute import DataParallel, parallel_of


def _scaled(optimizer: Any, loss: Any) -> Any:
    """The loss as the optimizer differentiates it (Keras' ``LossScaleOptimizer`` scales it)."""
    return optimizer.scale_loss(loss) if hasattr(optimizer, "scale_loss") else loss


def _tensors(batch: Any) -> Any:
    """The batch's NumPy arrays as tensors on Keras' device (``tf.function`` converts them on
    TensorFlow; here the model and the loss composer would mix NumPy with torch)."""
    return keras.tree.map_structure(keras.ops.convert_to_tensor, batch)


def _detached(result: Mapping[str, Any]) -> dict:
    return {
        key: value.detach() if torch.is_tensor(value) else value for key, value in result.items()
    }


def _gradients(loss: Any, variables: Sequence[Any]) -> list[Any]:
    """d loss / d each variable (None where it does not reach one); the graph is kept for the
    other losses of the same forward pass (the persistent tape of TensorFlow's extended step)."""
    parameters = [variable.value for variable in variables]
    if not parameters:
        return []
    return list(torch.autograd.grad(loss, parameters, retain_graph=True, allow_unused=True))


def _start_equal(
    parallel: DataParallel | None, variables: Sequence[Any], optimizers: Sequence[Any]
) -> None:
    """Under ``-d ddp``: every variable the step uses, and the shared state, set to rank 0's."""
    if parallel is not None:
        owned = [v for optimizer in optimizers for v in optimizer.variables]
        parallel.broadcast_variables([*variables, *owned, *parallel.state])


def _finish(parallel: DataParallel | None, result: dict) -> dict:
    """The results to report: the workers' mean under ``-d ddp``, after the shared state was set
    to rank 0's again (BatchNorm statistics the forward pass moved)."""
    if parallel is None:
        return _detached(result)
    if parallel.state:
        parallel.broadcast_variables(parallel.state)
    return parallel.mean_results(result)


def compile_train_step(
    forward: Callable[[Any], tuple[Any, dict]],
    variables: Sequence[Any],
    optimizer: Any,
    distribution: Any = None,
) -> Callable[[dict], dict]:
    """The step: ``forward(batch)``, its loss scaled, ``backward()`` over ``variables``, then
    ``optimizer.apply`` without recording; returns ``forward``'s results.

    Under ``-d ddp`` the gradients are summed over the replicas before ``apply`` (the core
    divided each replica's loss by the replica count) and the results are the workers' mean.
    """
    variables = list(variables)
    parallel = parallel_of(distribution)
    _start_equal(parallel, variables, [optimizer])

    def step(batch: dict) -> dict:
        for variable in variables:  # Module.zero_grad(): set_to_none
            variable.value.grad = None
        total, result = forward(_tensors(batch))
        _scaled(optimizer, total).backward()
        gradients = [variable.value.grad for variable in variables]
        if parallel is not None:
            gradients = parallel.sum_gradients(gradients)
        with torch.no_grad():
            optimizer.apply(gradients, variables)
        return _finish(parallel, result)

    return step


def compile_extended_step(
    forward: Callable[[Any], tuple[Any, dict, dict]],
    variables: Sequence[Any],
    optimizer: Any,
    own_variables: Mapping[str, Sequence[Any]],
    own_optimizers: Mapping[str, Any],
    filters: Sequence[Any],
    distribution: Any = None,
) -> Callable[[dict], dict]:
    """The step with extensions.

    ``forward(batch) -> (total, own, result)``: the model's loss, each extension network's own
    loss by name, and the values to report. The gradients of every loss come from the one forward
    pass (its graph kept until the last is taken), so a discriminator's view of the fakes serves
    both the generator's term and its own loss. After the model's update each of ``filters`` sees
    the variables before and after it; then each extension network's optimizer applies its own.
    Under ``-d ddp`` all of those gradients are summed over the replicas together (one set of
    buckets), as the plain step's are.
    """
    variables = list(variables)
    parallel = parallel_of(distribution)
    networks = [v for name in own_optimizers for v in own_variables[name]]
    _start_equal(parallel, [*variables, *networks], [optimizer, *own_optimizers.values()])

    def step(batch: dict) -> dict:
        total, own, result = forward(_tensors(batch))
        gradients = _gradients(_scaled(optimizer, total), variables)
        own_gradients = {
            name: _gradients(_scaled(own_optimizers[name], value), own_variables[name])
            for name, value in own.items()
        }
        if parallel is not None:
            gradients, own_gradients = _summed(parallel, gradients, own_gradients)
        with torch.no_grad():
            before = [variable.value.detach().clone() for variable in variables] if filters else []
            optimizer.apply(gradients, variables)
            for extension in filters:
                extension.filter_update(variables, before)
            for name, grads in own_gradients.items():
                own_optimizers[name].apply(grads, list(own_variables[name]))
        return _finish(parallel, result)

    return step


def _summed(
    parallel: DataParallel, gradients: list[Any], own: dict[str, list[Any]]
) -> tuple[list[Any], dict[str, list[Any]]]:
    """The model's and every extension network's gradients summed over the replicas at once."""
    names = list(own)
    every = parallel.sum_gradients([*gradients, *(g for name in names for g in own[name])])
    model, rest = every[: len(gradients)], every[len(gradients) :]
    summed: dict[str, list[Any]] = {}
    for name in names:
        summed[name], rest = rest[: len(own[name])], rest[len(own[name]) :]
    return model, summed


def compile_function(function: Callable) -> Callable:
    """``function`` as the training step runs it: eagerly."""
    return function


def gradients(loss: Callable[[], Any], variables: Sequence[Any]) -> tuple[Any, list[Any]]:
    """``loss()`` and its gradients over ``variables`` (None where none reaches one)."""
    value = loss()
    return value.detach(), _gradients(value, variables)


def input_gradient(loss: Callable[[Any], Any], value: Any) -> Any:
    """The gradient of ``loss(x)`` at ``x = value`` as NumPy, or None where none reaches it."""
    x = keras.ops.convert_to_tensor(value).detach().clone().requires_grad_(True)
    total = loss(x)
    if not total.requires_grad:
        return None
    (gradient,) = torch.autograd.grad(total, [x], allow_unused=True)
    return None if gradient is None else gradient.detach().cpu().numpy()
