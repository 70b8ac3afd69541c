"""Training sessions of the tiny test model for the ``-d ddp`` tests (tests/test_backend_ddp.py).

Started once per process, by ``python -m torch.distributed.run --nproc_per_node=2 ddp_session.py
SPEC.json`` (two workers) or plainly (one process), with ``KERAS_BACKEND=torch``. The spec names
the two face folders, the global batch and a list of runs, each ``{"model_dir", "config",
"iterations", "seed", "distributed", "dump"}`` and optionally ``"perturb": true`` and
``"schedule"`` (a schedule file) and ``"slow_saves"`` (seconds rank 0 waits before writing each
save, so a worker that read the model folder without waiting for the chief would read it stale).

Every batch is a fixed function of the global iteration number: the global batch is drawn from a
generator seeded by it and each worker trains on its rank's slice, so a two-worker run sees
exactly the faces one process sees with the whole batch, while the two workers see different
faces (the gradient average is what makes them agree). With ``perturb`` every worker but rank 0
shifts its weights before the step is made: only the start-up broadcast makes them equal again.
After each run the process writes its model's weights (extension networks included), its
optimizer's variables and the losses it reported to ``DUMP_rankR.npz``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


class FixedBatches:
    """The loader's batches replaced by slices of a global batch drawn from the iteration."""

    def __init__(self, loader: Any, iteration: int, global_batch: int) -> None:
        self.loader = loader
        self.iteration = iteration
        self.global_batch = global_batch
        self.rank = int(os.environ.get("RANK", "0"))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)

    def __iter__(self) -> FixedBatches:
        return self

    def __next__(self) -> Any:
        import keras

        real = next(self.loader)
        rng = np.random.default_rng(1000 + self.iteration)
        self.iteration += 1

        def fixed(array: Any) -> Any:
            array = np.asarray(array)
            local = len(array)
            start = self.rank * local
            if np.issubdtype(array.dtype, np.floating):
                whole = rng.random((self.global_batch, *array.shape[1:])).astype(array.dtype)
            else:
                whole = np.repeat(array[:1], self.global_batch, axis=0)
            return whole[start : start + local]

        return keras.tree.map_structure(fixed, real)


def _dump(path: str, session: Any, losses: list) -> None:
    values = {f"model/{v.path}": np.asarray(v.numpy()) for v in session.model.weights}
    if session.extensions is not None:
        for name, part in session.extensions.parts().items():
            values.update({f"ext/{name}/{v.path}": np.asarray(v.numpy()) for v in part.weights})
    for index, variable in enumerate(session.optimizer.variables):
        values[f"optimizer/{index:04d}"] = np.asarray(variable.numpy())
    values["losses"] = np.asarray(losses, np.float64)
    rank = os.environ.get("RANK", "0")
    np.savez(f"{path}_rank{rank}.npz", **values)


def main(spec_path: str) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    import tiny_plugin
    from train_request import tiny_request

    from fs_core import hookimpl
    from fs_core.folder import model_files
    from fs_core.plugin_manager import load_registry
    from fs_core.training import build
    from fs_core.training import run as run_module
    from fs_core.training.schedule import load_schedule

    spec = json.loads(Path(spec_path).read_text())
    registry = load_registry(extra_plugins={"tiny_plugin": tiny_plugin})
    faces = [Path(p) for p in spec["faces"]]
    seen: dict[str, Any] = {}

    class Capture:
        @hookimpl
        def fs_iteration_end(self, session: Any, losses: Any) -> None:
            seen["losses"].append([losses["loss_a"], losses["loss_b"]])

        @hookimpl
        def fs_train_end(self, session: Any) -> None:
            seen["session"] = session

    registry.manager.register(Capture(), "ddp_session_capture")
    make_loader, make_step = build.make_loader, run_module.make_train_step
    save_files = model_files.save_model_files

    for run in spec["runs"]:
        seen["losses"] = []

        def fixed_loader(session: Any, composer: Any) -> Any:
            loader = make_loader(session, composer)
            return FixedBatches(loader, session.state.iterations, session.batch_size)

        def perturbed_step(model: Any, *args: Any, run: dict = run, **kwargs: Any) -> Any:
            if run.get("perturb") and int(os.environ.get("RANK", "0")) != 0:
                for variable in model.weights:
                    if np.issubdtype(np.dtype(variable.dtype), np.floating):
                        variable.assign(variable.numpy() + 0.05)
            return make_step(model, *args, **kwargs)

        def slow_save(*args: Any, run: dict = run, **kwargs: Any) -> Any:
            if int(os.environ.get("RANK", "0")) == 0:
                time.sleep(run.get("slow_saves", 0))
            return save_files(*args, **kwargs)

        build.make_loader = fixed_loader
        model_files.save_model_files = slow_save
        run_module.make_train_step = perturbed_step
        schedule = load_schedule(run["schedule"]) if run.get("schedule") else None
        request = tiny_request(
            faces,
            Path(run["model_dir"]),
            Path(run["config"]),
            iterations=run["iterations"],
            seed=run.get("seed"),
            save_interval=run.get("save_interval", 100),
            batch_size=spec["global_batch"],
            distributed=run.get("distributed", "default"),
            schedule=schedule,
        )
        reason = run_module.run_train(request, registry, print)
        _dump(run["dump"], seen["session"], seen["losses"])
        print(f"run {run['model_dir']}: {reason}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
