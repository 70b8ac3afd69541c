"""Save cycles of the real training loop, fast: for the retention, disk-guard and kill tests.

:func:`cycle` prepares a session of the tiny test model in ``model_dir`` as ``fs train`` does
(model folder opened, weights and optimizer state loaded, hooks: status line, snapshots, training
record) and runs :func:`fs_core.training.loop.train` with a stand-in for the compiled step whose
loss falls at every iteration, so that every save from the second on is a new low and writes a
backup. Saves, backups, snapshots and their retention are the real code; only the arithmetic of a
training step is left out, which is what makes hundreds of save cycles a second possible.

:func:`cycle_forever` is the body of the kill test's child processes (started from a fork server
that has TensorFlow imported already, so a child is ready in a fraction of a second).
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable
from pathlib import Path

TINY_CONFIG = (
    "[global.loss]\nloss_function = 'mae'\nloss_function_2 = 'none'\n"
    "penalized_mask_loss = false\n[global.mask]\nmask_type = 'none'\n"
)


def write_config(path: Path, **global_options: int | str) -> Path:
    """A config file for the tiny model, with ``[global]`` options added."""
    lines = ["[global]"] + [
        f"{key} = {value!r}" if isinstance(value, str) else f"{key} = {value}"
        for key, value in global_options.items()
    ]
    path.write_text("\n".join(lines) + "\n" + TINY_CONFIG)
    return path


class FallingLoss:
    """Stands in for the compiled step: a loss that falls at every call."""

    def __init__(self, start: int) -> None:
        self.count = start

    def __call__(self, batch: object) -> dict[str, float]:
        self.count += 1
        loss = 1.0 / (self.count + 1)
        return {"loss_a": loss, "loss_b": loss}


def cycle(
    model_dir: Path,
    config: Path,
    iterations: int,
    *,
    registry: object | None = None,
    save_interval: int = 1,
    snapshot_interval: int = 2,
    free_space: Callable[[Path], int] | None = None,
    messages: list[str] | None = None,
) -> str:
    """Train the tiny model in ``model_dir`` for ``iterations`` save cycles; returns why it
    stopped (exceptions, FsUserError included, propagate as from ``fs train``)."""
    from fs_core.folder.model_files import training_lock
    from fs_core.training.loop import train
    from fs_core.training.optimizer import make_optimizer
    from fs_core.training.session import TrainRequest, prepare_session

    if registry is None:
        registry = tiny_registry()
    request = TrainRequest(
        input_a="unused",
        input_b="unused",
        model_dir=str(model_dir),
        model_name="tiny",
        batch_size=2,
        iterations=iterations,
        save_interval=save_interval,
        snapshot_interval=snapshot_interval,
        config_path=str(config),
        no_logs=True,
    )
    notify = messages.append if messages is not None else (lambda text: None)
    with training_lock(model_dir):
        session = prepare_session(request, registry, notify)  # type: ignore[arg-type]
        try:
            if free_space is not None:
                session = session.with_setup(free_space=free_space)
            session = session.with_setup(optimizer=make_optimizer(session))
            session.running.base_learning_rate = float(session.config.global_.learning_rate)
            session.running.record = session.state.new_session(request.batch_size, {})
            return train(session, itertools.repeat({}), FallingLoss(session.state.iterations))
        finally:
            session.distribution.close()


def tiny_registry() -> object:
    import tiny_plugin

    from fs_core.plugin_manager import load_registry

    return load_registry(extra_plugins={"tiny_plugin": tiny_plugin})


def cycle_forever(model_dir: str, config: str, log: str) -> None:
    """A kill-test child: save cycles until it is killed (its output goes to ``log``)."""
    handle = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(handle, 1)
    os.dup2(handle, 2)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
    cycle(Path(model_dir), Path(config), 10**9, messages=None)
