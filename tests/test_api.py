"""The small public Python API of ``fs_core`` (docs/plugins.md §8 says what is stable)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

import fs_core


def test_plugins_is_loaded_once_and_lists_every_kind():
    registry = fs_core.plugins()
    assert fs_core.plugins() is registry
    assert {"original", "lightweight"} <= set(registry.models)
    assert {"mae", "mse", "ssim"} <= set(registry.losses)
    assert {"he_uniform", "icnr", "conv_aware"} <= set(registry.initializers)
    assert "adam" in registry.optimizers and "flip" in registry.augmenters


def test_a_loss_descriptor_is_callable_on_nhwc_images():
    loss = fs_core.plugins().losses["mse"]
    true = tf.zeros((2, 8, 8, 3))
    pred = tf.fill((2, 8, 8, 3), 0.5)
    value = loss(true, pred)
    assert loss.per_pixel and value.shape[:3] == (2, 8, 8)
    np.testing.assert_allclose(value.numpy(), 0.25, rtol=1e-6)


def test_build_model_returns_the_named_parts():
    model = fs_core.build_model("lightweight")
    names = {layer.name for layer in model.layers}
    assert {"encoder", "decoder_a", "decoder_b"} <= names
    assert len(model.outputs) == 2 and tuple(model.outputs[0].shape[1:]) == (64, 64, 3)
    masked = fs_core.build_model("lightweight", learn_mask=True)
    assert len(masked.outputs) == 4 and masked.outputs[1].shape[-1] == 1


def test_read_face_gives_image_landmarks_masks_and_metadata(tmp_path):
    from fs_core.faces.demo import write_demo_data

    folder_a, _ = write_demo_data(tmp_path / "demo", count=2, size=128)
    image, landmarks, masks, metadata = fs_core.read_face(sorted(folder_a.glob("*.png"))[0])
    assert image.dtype == np.uint8 and image.shape == (128, 128, 3)
    assert landmarks.shape == (68, 2)
    assert all(m.dtype == np.uint8 for m in masks.values()) and masks
    assert "alignments" in metadata
