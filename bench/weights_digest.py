"""Digests of model weights, to show that a change to the engine changed no number.

Two parts, each printing one line per case (``case  sha256  count``):

* ``build``: every installed model with its defaults, with ``learn_mask`` on, and every Phaze-A
  preset, each built after ``keras.utils.set_random_seed(1234)``; the digest covers every
  variable's path, shape, dtype and bytes.
* ``train``: a few short seeded ``fs train`` runs on the demo faces (a plain run, one with
  gradient clipping, the mixed loss and a learned mask, and a resumed run); the digest covers
  every dataset of the saved ``weights.h5``, optimizer state included.

Run it before and after a change, on the same machine, and compare the two outputs (``diff``):
identical lines mean identical weights. Usage::

    python bench/weights_digest.py [build] [train] [train=CASE] > digest.txt
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

#: float32 throughout: bfloat16 on CPUs with AMX is not bit-repeatable from run to run (oneDNN's
#: kernels), which would hide a real difference among the random ones
FLOAT32 = "[global]\nmixed_precision = 'none'\n"
TRAIN_CASES = {
    "lightweight": ([], FLOAT32),
    "original-clip-mask": (
        [],
        FLOAT32 + "gradient_clipping = 'autoclip'\n[global.mask]\nlearn_mask = true\n"
        "[global.loss]\nloss_function_2 = 'mse'\nloss_weight_2 = 50\n",
    ),
    "original-extensions": (
        [],
        FLOAT32 + "optimizer = 'adabelief'\n[training_step]\ngan_power = 0.1\n"
        "lr_dropout = 0.3\nface_style_power = 0.01\n",
    ),
}


def _digest_arrays(items) -> tuple[str, int]:
    digest = hashlib.sha256()
    count = 0
    for name, array in sorted(items, key=lambda item: item[0]):
        digest.update(f"{name}|{array.shape}|{array.dtype}|".encode())
        digest.update(array.tobytes())
        count += 1
    return digest.hexdigest(), count


def build_cases() -> None:
    import keras

    from fs_core import plugin_manager
    from fs_core.config import load_config
    from fs_core.errors import FsUserError
    from fs_core.model.build import build_from_config

    registry = plugin_manager.get_registry()
    classes = registry.model_config_classes()
    for name in sorted(registry.models):
        cases = {f"{name}": None, f"{name}+learn_mask": "[global.mask]\nlearn_mask = true\n"}
        for preset, path in sorted(getattr(registry.models[name], "presets", {}).items()):
            cases[f"{name}@{preset}"] = Path(path).read_text()
        for case, text in cases.items():
            with tempfile.TemporaryDirectory() as folder:
                config_path = None
                if text is not None:
                    config_path = Path(folder) / "fs.toml"
                    config_path.write_text(text)
                config = load_config(config_path, classes)
                keras.utils.set_random_seed(1234)
                try:
                    built = build_from_config(registry, name, config)
                except FsUserError as error:  # e.g. pretrained weights not on this machine
                    if text is None or "enc_load_weights" not in str(error):
                        print(f"build {case:40s} skipped: {error.one_line()}", flush=True)
                        continue
                    # the preset's architecture, with its encoder's weights random
                    config_path.write_text(_without_pretrained(text, name))
                    config = load_config(config_path, classes)
                    keras.utils.set_random_seed(1234)
                    built = build_from_config(registry, name, config)
            arrays = [(v.path, keras.ops.convert_to_numpy(v)) for v in built.model.weights]
            sha, count = _digest_arrays(arrays)
            print(f"build {case:40s} {sha} {count}", flush=True)
            del built
            keras.backend.clear_session()


def _without_pretrained(text: str, name: str) -> str:
    import tomllib

    import tomli_w

    table = tomllib.loads(text)
    table.setdefault("model", {}).setdefault(name, {})["enc_load_weights"] = False
    return tomli_w.dumps(table)


def _fs(*args: str) -> None:
    # TensorFlow's deterministic kernels: some cases (the training extensions, a resumed autoclip
    # run) otherwise differ in the last bits from one run to the next on a busy machine
    env = {**os.environ, "TF_DETERMINISTIC_OPS": "1"}
    subprocess.run(
        [sys.executable, "-m", "fs_core", *args], check=True, capture_output=True, env=env
    )


def train_cases(only: str | None = None) -> None:
    import h5py

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        _fs("demo-data", str(root / "demo"))
        for case, (extra, config) in TRAIN_CASES.items():
            if only is not None and case != only:
                continue
            model = "lightweight" if case == "lightweight" else "original"
            flags = ["-A", str(root / "demo/A"), "-B", str(root / "demo/B"), "-t", model]
            flags += ["-b", "4", "-i", "6", "-s", "3", "--seed", "7", "-n", *extra]
            if config:
                (root / f"{case}.toml").write_text(config)
                flags += ["-C", str(root / f"{case}.toml")]
            model_dir = root / case
            _fs("train", "-m", str(model_dir), *flags)
            _print_weights(h5py, f"train {case}", model_dir / "weights.h5")
            _fs("train", "-m", str(model_dir), *flags)  # resumed: optimizer state carried over
            _print_weights(h5py, f"train {case}+resumed", model_dir / "weights.h5")


def _print_weights(h5py, case: str, path: Path) -> None:
    arrays = []
    with h5py.File(path, "r") as file:
        file.visititems(
            lambda name, item: (
                arrays.append((name, item[()])) if isinstance(item, h5py.Dataset) else None
            )
        )
    sha, count = _digest_arrays(arrays)
    print(f"{case:46s} {sha} {count}", flush=True)


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parts = sys.argv[1:] or ["build", "train"]
    if "build" in parts:
        build_cases()
    if "train" in parts:
        train_cases()
    for part in parts:
        if part.startswith("train="):  # one training case: train=NAME
            train_cases(part.partition("=")[2])


if __name__ == "__main__":
    main()
