"""Pretrained encoder weights, from the local Keras cache only.

fs never downloads anything at run time. When ``enc_load_weights`` asks for ImageNet (or CLIP)
weights, the file must already be in the Keras cache folder (``$KERAS_HOME/models``, by default
``~/.keras/models``) under the name Keras itself would have given it; otherwise the user gets one
line naming that file and the option that turns pretrained weights off. The networks are then
built with ``weights=None`` and the file is loaded into them, so Keras never tries to fetch it.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras

from fs_core.errors import FsUserError
from fs_plugins_models.phaze_a.config import PhazeAConfig


def cache_dir() -> Path:
    """Keras' cache folder for model files (``$KERAS_HOME/models`` or ``~/.keras/models``)."""
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(base) / "models"


def _bad_option(option: str, message: str) -> FsUserError:
    return FsUserError(f"[model.phaze_a] {option}: {message} (or set enc_load_weights = false)")


def _mobilenet_rows(size: int, allowed: tuple[int, ...]) -> int:
    """Keras falls back to the 224 px weights when the input size has no weights of its own."""
    return size if size in allowed else 224


def keras_weights_file(config: PhazeAConfig, size: int) -> str:
    """The no-top weights file name Keras uses for this encoder and these options."""
    arch = config.enc_architecture
    alpha = config.mobilenet_width
    if arch.startswith("densenet") or arch in (
        "inception_resnet_v2",
        "inception_v3",
        "vgg16",
        "vgg19",
        "xception",
    ):
        return f"{arch}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    if arch.startswith("resnet"):
        return f"{arch.replace('_', '')}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    if arch.startswith("efficientnet_v2_"):
        return f"efficientnetv2-{arch.rsplit('_', 1)[-1]}_notop.h5"
    if arch.startswith("efficientnet_b"):
        return f"efficientnet{arch.rsplit('_', 1)[-1]}_notop.h5"
    if arch.startswith("convnext_"):
        return f"{arch.replace('extra_large', 'xlarge')}_notop.h5"
    if arch.startswith("nasnet_"):
        return f"NASNet-{arch.split('_')[1]}-no-top.h5"
    if arch == "mobilenet":
        texts = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}
        if alpha not in texts:
            raise _bad_option(
                "mobilenet_width",
                f"ImageNet weights exist only for 0.25, 0.5, 0.75 and 1.0, got {alpha}",
            )
        if config.mobilenet_depth != 1:
            raise _bad_option("mobilenet_depth", "ImageNet weights need a depth of 1")
        rows = _mobilenet_rows(size, (128, 160, 192, 224))
        return f"mobilenet_{texts[alpha]}_{rows}_tf_no_top.h5"
    if arch == "mobilenet_v2":
        if alpha not in (0.35, 0.5, 0.75, 1.0, 1.3, 1.4):
            raise _bad_option(
                "mobilenet_width",
                f"ImageNet weights exist only for 0.35, 0.5, 0.75, 1.0, 1.3 and 1.4, got {alpha}",
            )
        rows = _mobilenet_rows(size, (96, 128, 160, 192, 224))
        return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}_no_top.h5"
    if arch.startswith("mobilenet_v3_"):
        if alpha not in (0.75, 1.0):
            raise _bad_option(
                "mobilenet_width", f"ImageNet weights exist only for 0.75 and 1.0, got {alpha}"
            )
        kind = arch.rsplit("_", 1)[-1]
        minimal = "_minimalistic" if config.mobilenet_minimalistic else ""
        return f"weights_mobilenet_v3_{kind}{minimal}_224_{alpha}_float_no_top_v2.h5"
    raise ValueError(f"no Keras weights file known for {arch}")


def clip_weights_file(architecture: str) -> str:
    """The weights file of a CLIP/FaRL visual transformer (Keras ``save_weights`` format)."""
    return f"{architecture}_visual.weights.h5"


def require(file_name: str, architecture: str) -> Path:
    """The cached file's path, or the one-line error that says where to put it."""
    path = cache_dir() / file_name
    if not path.is_file():
        raise FsUserError(
            f"[model.phaze_a] enc_load_weights: pretrained weights for "
            f"{architecture} are not in the Keras cache and fs never downloads; "
            f"place {file_name} at {path}, or set enc_load_weights = false"
        )
    return path


def keras_weights_path(config: PhazeAConfig, size: int) -> Path:
    return require(keras_weights_file(config, size), config.enc_architecture)


def load_keras_weights(model: keras.Model, path: Path) -> None:
    """Load a Keras-applications weights file, turning a bad file into a user error."""
    try:
        model.load_weights(str(path))
    except Exception as err:  # any h5/shape problem is a bad file the user placed
        raise FsUserError(f"cannot load pretrained weights from {path}: {err}", path) from err
