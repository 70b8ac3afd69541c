"""One training step of the tiny model with per-face losses on, on whichever Keras backend this
process runs: the tests compare each side's per-face mean with its batch loss. The losses are set
up to take every path of the composition: two weighted losses, the face mask (penalized), the eye
and mouth weighting and a learned mask. ``tests/test_face_losses.py`` runs it in-process on
TensorFlow and as ``KERAS_BACKEND=torch|jax python tests/face_loss_steps.py OUT.npz``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

BATCH = 4


def run() -> dict[str, np.ndarray]:
    """``loss_a``, ``loss_b`` and the per-face values ``faces_a``, ``faces_b`` of one step."""
    sys.path.insert(0, str(Path(__file__).parent))
    import keras
    import tiny_plugin
    from keras import ops

    from fs_core.config import Config
    from fs_core.config.sections import GlobalOptions, LossOptions, MaskOptions
    from fs_core.losses.compose import PER_FACE_KEYS, LossComposer
    from fs_core.model.build import build_from_config
    from fs_core.plugin_manager import load_registry
    from fs_core.training.step import make_train_step

    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)
    registry = load_registry(extra_plugins={"tiny_plugin": tiny_plugin})
    loss = LossOptions(loss_function="ssim", loss_function_2="mse", loss_weight_2=50.0)
    mask = MaskOptions(mask_type="extended", learn_mask=True)
    config = Config(loss=loss, mask=mask)
    built = build_from_config(registry, "tiny", config)
    composer = LossComposer(loss, mask, registry.losses, len(built.output_sizes))
    optimizer = registry.optimizers["adam"].make(GlobalOptions())
    optimizer.build(built.model.trainable_variables)
    step = make_train_step(built.model, composer, optimizer, built.outputs_per_side, per_face=True)
    rng = np.random.default_rng(1)
    size = built.input_size

    def side() -> dict:
        def image(channels: int) -> np.ndarray:
            return rng.random((BATCH, size, size, channels), dtype=np.float32)

        return {
            "input": image(3),
            "targets": (image(3),),
            "masks": {name: ((image(1) > 0.5).astype(np.float32),) for name in composer.mask_names},
        }

    result = step({"a": side(), "b": side()})
    return {
        "loss_a": np.asarray(ops.convert_to_numpy(result["loss_a"])),
        "loss_b": np.asarray(ops.convert_to_numpy(result["loss_b"])),
        "faces_a": np.asarray(ops.convert_to_numpy(result[PER_FACE_KEYS["a"]])),
        "faces_b": np.asarray(ops.convert_to_numpy(result[PER_FACE_KEYS["b"]])),
    }


if __name__ == "__main__":
    np.savez(sys.argv[1], **run())
