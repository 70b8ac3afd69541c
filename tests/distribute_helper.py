"""Runs ``run_train`` in a fresh process for the distribution tests (tests/test_distribute.py).

Logical CPU devices and multi-worker collectives must be set up before TensorFlow initialises,
which a pytest process that already trained cannot do; so the tests start this script::

    python distribute_helper.py --cpus 2 REQUEST_JSON [REQUEST_JSON ...]

Each REQUEST_JSON is a mapping of :class:`fs_core.training.session.TrainRequest` fields; the runs go
one after another in this process with the tiny test plugin registered. After each run a line
``RESULT {json}`` reports the reason training stopped, how often the step was traced, and a
checksum of the model's weights. A user error prints ``fs train: error: ...`` and exits 1, as the
``fs`` command does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).parent))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--cpus", type=int, default=1, help="logical CPU devices to split CPU:0 into"
    )
    parser.add_argument("requests", nargs="+")
    args = parser.parse_args()
    import tensorflow as tf

    if args.cpus > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * args.cpus
        )

    import tiny_plugin

    from fs_core.errors import FsUserError
    from fs_core.plugin_manager import load_registry
    from fs_core.training import run as run_module
    from fs_core.training.session import TrainRequest

    registry = load_registry(extra_plugins={"tiny_plugin": tiny_plugin})
    steps: list = []
    make_step = run_module.make_train_step

    def spying_make_step(*a, **k):
        step = make_step(*a, **k)
        steps.append(step)
        return step

    run_module.make_train_step = spying_make_step
    sessions: list = []

    class Capture:
        from fs_core import hookimpl

        @hookimpl
        def fs_train_end(self, session):
            sessions.append(session)

    registry.manager.register(Capture(), "distribute_helper_capture")
    for text in args.requests:
        fields = json.loads(text)
        fields["exclude_gpus"] = tuple(fields.get("exclude_gpus", ()))
        try:
            reason = run_module.run_train(TrainRequest(**fields), registry, print)
        except FsUserError as error:
            sys.stdout.flush()
            print(f"fs train: error: {error.one_line()}", file=sys.stderr)
            return 1
        session = sessions[-1]
        compiled = getattr(steps[-1], "compiled", steps[-1])
        print(
            "RESULT "
            + json.dumps(
                {
                    "reason": reason,
                    "traces": int(compiled.experimental_get_tracing_count()),
                    "checksum": float(
                        sum(float(abs(v.numpy()).sum()) for v in session.model.weights)
                    ),
                    "save_dir": str(session.model_dir),
                    "batch_size": session.batch_size,
                    "local_batch_size": session.local_batch_size,
                }
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
