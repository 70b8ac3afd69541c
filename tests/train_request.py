"""A short training request on the tiny test model, shared by the tests that drive ``run_train``
directly (held-out set, collapse guard, training controls, training-step extensions)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fs_core.training.session import TrainRequest

#: the cheapest loss set-up: one MAE term, no mask
FAST = (
    "[global.loss]\nloss_function = 'mae'\nloss_function_2 = 'none'\n"
    "penalized_mask_loss = false\n[global.mask]\nmask_type = 'none'\n"
)


def tiny_request(
    faces: Sequence[Path], model_dir: Path, config: Path, **changes: Any
) -> TrainRequest:
    """The tiny model at batch 2 for 3 iterations, no save before the end; ``changes`` win."""
    values: dict[str, Any] = dict(
        input_a=str(faces[0]),
        input_b=str(faces[1]),
        model_dir=str(model_dir),
        model_name="tiny",
        batch_size=2,
        iterations=3,
        save_interval=100,
        config_path=str(config),
        seed=0,
    )
    values.update(changes)
    return TrainRequest(**values)
