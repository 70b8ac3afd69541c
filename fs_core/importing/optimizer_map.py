"""faceswap's saved optimizer state (torch ``Adam``/``AdamW``) as fs's optimizer slots.

faceswap (``lib/training/optimizer.py``) hands torch two parameter groups built from the Keras
model's ``trainable_variables``: first every weight with more than one dimension whose name does
not end in ``bias`` (the ones weight decay applies to), then the rest, each in model order; torch's
``state_dict`` numbers the parameters across the groups in that order and keeps, per parameter,
``step``, ``exp_avg`` and ``exp_avg_sq``. fs's Adam and AdamW follow torch's update rule on
Keras's slots (``momentum`` = ``exp_avg``, ``velocity`` = ``exp_avg_sq``, ``iterations`` =
``step``), so the state moves over exactly when every count and shape agrees; anything else (other
optimizers, AMSGrad, gradient accumulation, a count or shape that differs) is reported and training
resumes with a fresh optimizer state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: the fs optimizers whose slots are torch's Adam state one for one
SUPPORTED = ("adam", "adamw")


class NotMappable(ValueError):
    """Why the saved state cannot be put on fs's optimizer exactly."""


def torch_order(trainables: Sequence[Any]) -> list[Any]:
    """faceswap's parameter order: the decayed weights, then the others (each in model order)."""
    decayed = [v for v in trainables if len(v.shape) > 1 and not v.name.endswith("bias")]
    chosen = {id(v) for v in decayed}
    return decayed + [v for v in trainables if id(v) not in chosen]


def _check_groups(optimizer_state: Any, expected: int) -> dict[int, Any]:
    if not isinstance(optimizer_state, dict):
        raise NotMappable("the saved state is not a torch state_dict")
    groups, state = optimizer_state.get("param_groups"), optimizer_state.get("state")
    if not isinstance(groups, list) or not isinstance(state, dict):
        raise NotMappable("the saved state has no param_groups/state")
    ids = [pid for group in groups if isinstance(group, dict) for pid in group.get("params", [])]
    if ids != list(range(expected)):
        raise NotMappable(
            f"faceswap's optimizer holds {len(ids)} parameters, fs's model {expected}"
        )
    if any(group.get("amsgrad") for group in groups if isinstance(group, dict)):
        raise NotMappable("AMSGrad state is not mapped")
    return state


def map_optimizer_state(
    saved: Any, trainables: Sequence[Any], optimizer_name: str, accumulation: int
) -> tuple[int, list[tuple[Any, np.ndarray, np.ndarray]]]:
    """(step, [(fs variable, exp_avg, exp_avg_sq)]) for ``trainables`` (fs's variables in
    faceswap's model order); NotMappable saying why when the state does not map exactly."""
    if optimizer_name not in SUPPORTED:
        raise NotMappable(f"optimizer '{optimizer_name}' state is not mapped (only adam, adamw)")
    if accumulation != 1:
        raise NotMappable("gradient accumulation counts steps differently")
    if not isinstance(saved, dict) or "optimizer" not in saved:
        raise NotMappable("the saved state is not faceswap's optimizer file")
    ordered = torch_order(trainables)
    state = _check_groups(saved["optimizer"], len(ordered))
    steps: set[float] = set()
    moments: list[tuple[Any, np.ndarray, np.ndarray]] = []
    for index, variable in enumerate(ordered):
        entry = state.get(index)
        if not isinstance(entry, dict) or not {"step", "exp_avg", "exp_avg_sq"} <= set(entry):
            raise NotMappable(f"parameter {index} ({variable.path}) has no Adam state")
        shape = tuple(int(n) for n in variable.shape)
        first, second = entry["exp_avg"], entry["exp_avg_sq"]
        if not all(isinstance(a, np.ndarray) and a.shape == shape for a in (first, second)):
            raise NotMappable(f"parameter {index} ({variable.path}) has another shape than {shape}")
        step = entry["step"]
        steps.add(float(step.reshape(()) if isinstance(step, np.ndarray) else step))
        moments.append((variable, first.astype(np.float32), second.astype(np.float32)))
    if len(steps) != 1:
        raise NotMappable("the parameters were stepped different numbers of times")
    step = steps.pop()
    if step != int(step) or step < 0:
        raise NotMappable(f"step {step} is not a count")
    return int(step), moments


def build_fs_optimizer(
    registry: Any, options: Any, model: Any, step: int, moments: list[tuple[Any, Any, Any]]
) -> Any:
    """fs's optimizer for ``model`` as ``fs train`` builds it, with the mapped state assigned."""
    optimizer = registry.optimizers[options.optimizer].make(options)
    optimizer.build(model.trainable_variables)
    slots = (getattr(optimizer, "_momentums", None), getattr(optimizer, "_velocities", None))
    if slots[0] is None or slots[1] is None:
        raise NotMappable(f"fs's '{options.optimizer}' has no Adam slots")
    for variable, first, second in moments:
        index = optimizer._get_variable_index(variable)
        slots[0][index].assign(first)
        slots[1][index].assign(second)
    optimizer.iterations.assign(step)
    return optimizer
