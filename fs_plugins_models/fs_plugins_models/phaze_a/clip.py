"""The CLIP vision transformer (ViT) used by the ``clipv_*`` encoders, built here in Keras 3.

The architecture is the published CLIP image tower: a patch-embedding convolution (no bias), a
learned class token and positional embedding, a pre-norm LayerNorm, ``layers`` residual attention
blocks (LayerNorm -> multi-head self-attention -> add; LayerNorm -> Dense(4w) -> QuickGELU ->
Dense(w) -> add), a LayerNorm on the class token and a bias-free projection to the embedding size.
FaRL uses the ViT-B/16 tower. The network is named ``visual`` (what ``keras_encoder`` stands for).

Pretrained weights are read only from the Keras cache (see :mod:`.weights`). They were made at the
tower's native resolution; at another input size the positional embedding grid is resized
bilinearly, the usual way to carry a ViT to a new resolution.
"""

from __future__ import annotations

from typing import Any

import attrs
import keras
import numpy as np
from keras import ops

from fs_core.errors import FsUserError
from fs_plugins_models.phaze_a import geometry as geo
from fs_plugins_models.phaze_a import weights as pretrained
from fs_plugins_models.phaze_a.config import PhazeAConfig


@attrs.frozen
class ViTSpec:
    width: int
    layers: int
    patch: int
    embed_dim: int
    resolution: int = 224

    @property
    def heads(self) -> int:
        return self.width // 64


SPECS: dict[str, ViTSpec] = {
    "ViT-B-16": ViTSpec(768, 12, 16, 512),
    "ViT-B-32": ViTSpec(768, 12, 32, 512),
    "ViT-L-14": ViTSpec(1024, 24, 14, 768),
    "ViT-L-14-336px": ViTSpec(1024, 24, 14, 768, 336),
    "FaRL-B-16-16": ViTSpec(768, 12, 16, 512),
    "FaRL-B-16-64": ViTSpec(768, 12, 16, 512),
}


@keras.saving.register_keras_serializable(package="fs_phaze_a")
class ClassTokenAndPositions(keras.layers.Layer):
    """Prepend the learned class token to the patch tokens and add the positional embedding."""

    def __init__(self, tokens: int, width: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tokens = tokens
        self.width = width

    def build(self, input_shape: Any) -> None:
        init = keras.initializers.RandomNormal(stddev=self.width**-0.5)
        self.class_embedding = self.add_weight(
            shape=(self.width,), initializer=init, name="class_embedding"
        )
        self.positional_embedding = self.add_weight(
            shape=(self.tokens + 1, self.width), initializer=init, name="positional_embedding"
        )

    def call(self, inputs: Any) -> Any:
        batch = ops.shape(inputs)[0]
        token = ops.broadcast_to(
            ops.reshape(ops.cast(self.class_embedding, inputs.dtype), (1, 1, self.width)),
            (batch, 1, self.width),
        )
        x = ops.concatenate([token, inputs], axis=1)
        return x + ops.cast(self.positional_embedding, inputs.dtype)[None]

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (input_shape[0], self.tokens + 1, self.width)

    def get_config(self) -> dict:
        return {**super().get_config(), "tokens": self.tokens, "width": self.width}


@keras.saving.register_keras_serializable(package="fs_phaze_a")
class QuickGELU(keras.layers.Layer):
    """CLIP's GELU approximation: ``x * sigmoid(1.702 x)``."""

    def call(self, inputs: Any) -> Any:
        return inputs * ops.sigmoid(1.702 * inputs)


@keras.saving.register_keras_serializable(package="fs_phaze_a")
class TakeClassToken(keras.layers.Layer):
    """The first token of a (N, T, W) sequence: CLIP's image summary."""

    def call(self, inputs: Any) -> Any:
        return inputs[:, 0, :]

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (input_shape[0], input_shape[2])


def _block(x: Any, spec: ViTSpec, index: int) -> Any:
    name = f"resblock_{index}"
    y = keras.layers.LayerNormalization(epsilon=1e-5, name=f"{name}_ln_1")(x)
    y = keras.layers.MultiHeadAttention(spec.heads, spec.width // spec.heads, name=f"{name}_attn")(
        y, y
    )
    x = keras.layers.Add(name=f"{name}_add_attn")([x, y])
    y = keras.layers.LayerNormalization(epsilon=1e-5, name=f"{name}_ln_2")(x)
    y = keras.layers.Dense(spec.width * 4, name=f"{name}_c_fc")(y)
    y = QuickGELU(name=f"{name}_gelu")(y)
    y = keras.layers.Dense(spec.width, name=f"{name}_c_proj")(y)
    return keras.layers.Add(name=f"{name}_add_mlp")([x, y])


def vision_transformer(spec: ViTSpec, size: int) -> keras.Model:
    """The CLIP image tower at input ``size``: (size, size, 3) -> (embed_dim,)."""
    grid = size // spec.patch
    if grid < 1:
        raise FsUserError(
            f"[model.phaze_a] enc_scaling: a {size} px input is smaller than one "
            f"{spec.patch} px patch of the CLIP encoder"
        )
    inputs = keras.Input((size, size, 3), name="visual_in")
    x = keras.layers.Conv2D(
        spec.width, spec.patch, strides=spec.patch, use_bias=False, name="conv1"
    )(inputs)
    x = keras.layers.Reshape((grid * grid, spec.width), name="patches")(x)
    x = ClassTokenAndPositions(grid * grid, spec.width, name="embeddings")(x)
    x = keras.layers.LayerNormalization(epsilon=1e-5, name="ln_pre")(x)
    for index in range(spec.layers):
        x = _block(x, spec, index)
    x = TakeClassToken(name="class_token")(x)
    x = keras.layers.LayerNormalization(epsilon=1e-5, name="ln_post")(x)
    x = keras.layers.Dense(spec.embed_dim, use_bias=False, name="proj")(x)
    return keras.Model(inputs, x, name="visual")


def resize_positions(positions: np.ndarray, tokens: int) -> np.ndarray:
    """Carry a (1 + g0², w) positional embedding to (1 + g², w) by bilinear resize of its grid."""
    if positions.shape[0] == tokens + 1:
        return positions
    width = positions.shape[1]
    old = int(round((positions.shape[0] - 1) ** 0.5))
    new = int(round(tokens**0.5))
    grid = positions[1:].reshape(1, old, old, width)
    resized = ops.convert_to_numpy(ops.image.resize(grid, (new, new), interpolation="bilinear"))
    return np.concatenate([positions[:1], resized.reshape(new * new, width)], axis=0)


def load_clip_weights(model: keras.Model, spec: ViTSpec, architecture: str) -> None:
    """Load the cached weights (made at the native resolution) into ``model`` at any size."""
    path = pretrained.require(pretrained.clip_weights_file(architecture), architecture)
    native = (
        vision_transformer(spec, spec.resolution)
        if model.input_shape[1] != spec.resolution
        else model
    )
    try:
        native.load_weights(str(path))
    except Exception as err:  # a file of another layout or a corrupt file
        raise FsUserError(f"cannot load CLIP weights from {path}: {err}", path) from err
    if native is model:
        return
    for source, target in zip(native.weights, model.weights):
        value = ops.convert_to_numpy(source)
        if "positional_embedding" in target.path:
            value = resize_positions(value, target.shape[0] - 1)
        target.assign(value)


def build_clip(config: PhazeAConfig, size: int) -> keras.Model:
    """The ``visual`` network for ``config.enc_architecture`` at input ``size``."""
    name = geo.ENCODERS[config.enc_architecture].keras_name
    spec = SPECS[name]
    if config.enc_load_weights:  # fail fast, before building a large network
        pretrained.require(
            pretrained.clip_weights_file(config.enc_architecture), config.enc_architecture
        )
    model = vision_transformer(spec, size)
    if config.enc_load_weights:
        load_clip_weights(model, spec, config.enc_architecture)
    return model
