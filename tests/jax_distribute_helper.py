"""Runs ``run_train`` on Keras' JAX backend in a fresh process for
tests/test_backend_jax_distribute.py.

The number of devices (``XLA_FLAGS=--xla_force_host_platform_device_count=N``) and, for
``-d multi-worker``, Keras' ``KERAS_DISTRIBUTION_*`` variables must be set before JAX starts, so
the tests start this script with them in its environment::

    KERAS_BACKEND=jax python jax_distribute_helper.py REQUEST_JSON [REQUEST_JSON ...]

Each REQUEST_JSON is a mapping of :class:`fs_core.training.session.TrainRequest` fields; the runs
go one after another with the tiny test plugin registered. After each run a line
``RESULT {json}`` gives the reason training stopped, the session's batch sizes, replicas and
save folder, and the ``.npz`` file (beside the model folder, named after the process and the
run) of the model's weights as the run ended; ``*_initial.npz`` beside it holds them as the step
was made. A user error prints ``fs train: error: ...`` and exits 1, as ``fs`` does.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).parent))


def main() -> int:
    import tiny_plugin

    from fs_core import hookimpl
    from fs_core.errors import FsUserError
    from fs_core.model.weights import model_groups
    from fs_core.plugin_manager import load_registry
    from fs_core.training import run as run_module
    from fs_core.training.session import TrainRequest

    def weights(model) -> dict:
        return {
            f"{part}/{path}": np.asarray(variable.numpy())
            for part, items in model_groups(model).items()
            for path, variable in items
        }

    initial: list = []
    make_step = run_module.make_train_step

    def recording_make_step(model, *args, **kwargs):
        initial.append(weights(model))
        return make_step(model, *args, **kwargs)

    run_module.make_train_step = recording_make_step

    registry = load_registry(extra_plugins={"tiny_plugin": tiny_plugin})
    sessions: list = []

    class Capture:
        @hookimpl
        def fs_train_end(self, session):
            sessions.append(session)

    registry.manager.register(Capture(), "jax_distribute_helper_capture")
    process = os.environ.get("KERAS_DISTRIBUTION_PROCESS_ID", "0")
    for run, text in enumerate(sys.argv[1:]):
        fields = json.loads(text)
        try:
            reason = run_module.run_train(TrainRequest(**fields), registry, print)
        except FsUserError as error:
            sys.stdout.flush()
            print(f"fs train: error: {error.one_line()}", file=sys.stderr)
            return 1
        session = sessions[-1]
        model_dir = Path(fields["model_dir"])
        dump = model_dir.with_name(f"{model_dir.name}_{process}_{run}.npz")
        np.savez(dump, **weights(session.model))
        np.savez(dump.with_name(f"{dump.stem}_initial.npz"), **initial[-1])
        print(
            "RESULT "
            + json.dumps(
                {
                    "reason": reason,
                    "weights": str(dump),
                    "save_dir": str(session.model_dir),
                    "batch_size": session.batch_size,
                    "local_batch_size": session.local_batch_size,
                    "replicas": session.distribution.replicas,
                }
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
