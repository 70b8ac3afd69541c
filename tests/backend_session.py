"""Training sessions of the tiny test model in this process, on whichever Keras backend it runs.

The backend tests start it in a subprocess with ``KERAS_BACKEND`` set (a process's backend is fixed
when Keras is first imported): ``python backend_session.py SPEC.json``. The spec names the two face
folders and a list of runs, each ``{"model_dir", "config", "iterations", "seed"}`` and optionally
``"live"`` (iteration -> settings changed live at it, as ``fs set`` would; the optimizer's rate
at each iteration is printed as ``live rates {...}``) and ``"dump_optimizer"``: a ``.npz`` path
where the optimizer's variables are written right after they are restored (before the first
step), to compare a switch of backend exactly. With ``"helpers"`` (a ``.npz`` path of inputs) it
writes the backend's extension helpers' values of those inputs beside it (``*_out.npz``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from fs_core import hookimpl


def _dump_optimizer_after_restore(path: str) -> None:
    from fs_core.training import build

    make = build.make_optimizer

    def make_and_dump(session: Any) -> Any:
        optimizer = make(session)
        values = {f"{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(optimizer.variables)}
        np.savez(path, **values)
        build.make_optimizer = make
        return optimizer

    build.make_optimizer = make_and_dump


def _helpers(path: str) -> None:
    from fs_core import backend

    implementation = backend.get()
    with np.load(path) as data:
        pred, target, mask = data["pred"], data["target"], data["mask"]
    out = {
        "blur": implementation.gaussian_blur(mask, 2),
        "colour": implementation.colour_statistics_loss(pred, target),
        "dssim": implementation.dssim(pred, target, 5),
    }
    np.savez(
        path.replace(".npz", "_out.npz"),
        **{k: np.asarray(__import__("keras").ops.convert_to_numpy(v)) for k, v in out.items()},
    )


class _LiveChanger:
    """Asks the loop for live changes of settings at given iterations, as the record's ``set``
    command does, and keeps the optimizer's rate at each iteration."""

    def __init__(self, changes: dict[str, Any]) -> None:
        self.changes = {int(at): values for at, values in changes.items()}
        self.rates: dict[int, float] = {}

    @hookimpl
    def fs_iteration_end(self, session: Any, iteration: int) -> None:
        import keras

        rate = keras.ops.convert_to_numpy(session.optimizer.learning_rate)
        self.rates[iteration] = float(rate)
        if iteration in self.changes:
            session.running.ask("settings", changes=self.changes.pop(iteration))


def main(spec_path: str) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    import tiny_plugin
    from train_request import tiny_request

    from fs_core.plugin_manager import load_registry
    from fs_core.training.run import run_train

    spec = json.loads(Path(spec_path).read_text())
    if spec.get("helpers"):
        _helpers(spec["helpers"])
    registry = load_registry(extra_plugins={"tiny_plugin": tiny_plugin})
    faces = [Path(p) for p in spec.get("faces", ())]
    for run in spec.get("runs", ()):
        if run.get("dump_optimizer"):
            _dump_optimizer_after_restore(run["dump_optimizer"])
        request = tiny_request(
            faces,
            Path(run["model_dir"]),
            Path(run["config"]),
            iterations=run["iterations"],
            seed=run.get("seed", 0),
            save_interval=run.get("save_interval", 100),
        )
        changer = None
        if run.get("live"):
            changer = _LiveChanger(run["live"])
        extra = {"live": changer} if changer is not None else {}
        plugins = load_registry(extra_plugins={"tiny_plugin": tiny_plugin, **extra})
        reason = run_train(request, plugins if extra else registry, print)
        print(f"run {run['model_dir']}: {reason}", flush=True)
        if changer is not None:
            print("live rates " + json.dumps(changer.rates), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
