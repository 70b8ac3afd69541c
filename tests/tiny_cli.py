"""The ``fs`` command with the tiny test model registered, for the tests that run it in a
subprocess under another Keras backend: ``python tiny_cli.py SPEC.json``.

The spec's ``"commands"`` (lists of ``fs`` arguments) run one after another in this process, as
``fs`` would run each; the registry is loaded only when a command asks for it, so ``fs train`` and
``fs export`` still choose their backend before Keras is imported. With ``"block_tensorflow"``
TensorFlow cannot be imported (as on a machine without it); with ``"check_inference"`` the
backend's inference function is first compared with the model's plain call, before and after its
weights change. The last line printed is JSON: each command's exit code and whether TensorFlow
was imported.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _registry(disabled: Any = None) -> Any:
    import tiny_plugin

    from fs_core.plugin_manager import load_registry

    return load_registry(extra_plugins={"tiny_plugin": tiny_plugin})


def _check_inference() -> dict[str, float]:
    """The largest difference between the inference function and the model's own call, with the
    built weights and again after every weight is changed (the function must read them anew)."""
    import numpy as np
    from keras import ops

    from fs_core import backend
    from fs_core.config import load_config
    from fs_core.model.build import build_from_config

    registry = _registry()
    built = build_from_config(registry, "tiny", load_config(None, registry.model_config_classes()))
    faces = np.random.default_rng(0).random((3, 32, 32, 3), dtype=np.float32)
    infer = backend.get().inference_function(built.model)

    def gap() -> float:
        plain = [ops.convert_to_numpy(o) for o in built.model([faces, faces], training=False)]
        fast = infer([faces, faces])
        return max(float(np.max(np.abs(a - b))) for a, b in zip(plain, fast, strict=True))

    before = gap()
    first = infer([faces, faces])[0]
    for variable in built.model.variables:
        variable.assign(ops.convert_to_numpy(variable) * 0.5)
    after = gap()
    moved = float(np.max(np.abs(infer([faces, faces])[0] - first)))
    return {"before": before, "after": after, "moved": moved}


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    if spec.get("block_tensorflow"):
        sys.modules["tensorflow"] = None  # importing it raises ImportError
    sys.path.insert(0, str(Path(__file__).parent))
    import fs_core.plugin_manager

    fs_core.plugin_manager.get_registry = _registry
    from fs_core.cli.main import main as fs

    result: dict[str, Any] = {}
    if spec.get("check_inference"):
        result["inference"] = _check_inference()
    result["codes"] = [fs(list(args)) for args in spec.get("commands", ())]
    result["tensorflow"] = sys.modules.get("tensorflow") is not None
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
