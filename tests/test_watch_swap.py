"""Using a trained model: ``fs swap`` (count, size, direction, learned mask as alpha, plain crops,
batching) and ``fs export`` (the SavedModel reloads and gives the model's output).

The model folders are written directly (state + weights of a freshly built tiny model), so these
tests need no training; the CLI finds the tiny test model through a patched registry."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fs_core.cli.main import main


@pytest.fixture(autouse=True)
def tiny_registry(registry, monkeypatch):
    import fs_core.plugin_manager

    monkeypatch.setattr(fs_core.plugin_manager, "get_registry", lambda disabled=None: registry)
    return registry


def _model_dir(registry, folder: Path, learn_mask: bool, convert_batchsize: int | None = None):
    """A saved (untrained) tiny model, as a training run leaves it."""
    import tiny_plugin

    from fs_core.config import config_from_mapping
    from fs_core.folder.model_files import save_model_files
    from fs_core.model.build import build_from_config
    from fs_core.model.state import ModelState
    from fs_core.model.weights import save_weights

    config = config_from_mapping(
        {"global": {"mask": {"learn_mask": learn_mask}}, "model": {"tiny": {"size": 32}}},
        {"tiny": tiny_plugin.TinyConfig},
    )
    built = build_from_config(registry, "tiny", config)
    state = ModelState(
        model="tiny", iterations=7, config=config.stored_sections("tiny", tiny_plugin.TinyConfig)
    )
    if convert_batchsize:
        state.sessions.append(
            {
                "id": 1,
                "start": "2026-01-01T00:00:00+00:00",
                "batch_size": 2,
                "iterations": 7,
                "config": {"global": {"convert_batchsize": convert_batchsize}},
            }
        )
    save_model_files(
        folder, state, lambda path: save_weights(path, built.model, model_name="tiny", iterations=7)
    )
    return built


@pytest.fixture(scope="module")
def masked(registry, tmp_path_factory):
    folder = tmp_path_factory.mktemp("models") / "masked"
    return folder, _model_dir(registry, folder, True, convert_batchsize=3)


@pytest.fixture(scope="module")
def plain_model(registry, tmp_path_factory):
    folder = tmp_path_factory.mktemp("models") / "plain"
    return folder, _model_dir(registry, folder, False)


def _expected(built, face_path: Path, side: str) -> tuple[np.ndarray, np.ndarray | None]:
    """What the model gives for one face through decoder ``side``, computed here independently."""
    from fs_core.faces.prepare import PrepareSpec, prepare_face
    from fs_core.faces.read import read_face

    image = prepare_face(read_face(face_path), PrepareSpec(size=32), face_path).image
    faces = image[None].astype(np.float32) / 255.0
    outputs = [np.asarray(o) for o in built.model([faces, faces], training=False)]
    face, mask = (outputs[2], outputs[3]) if side == "b" else (outputs[0], outputs[1])
    if not built.learn_mask:
        face, mask = outputs[1 if side == "b" else 0], None
    return face[0], None if mask is None else mask[0, ..., 0]


def test_swap_writes_each_face_with_the_learned_mask_as_alpha(demo, masked, tmp_path):
    folder, built = masked
    out = tmp_path / "out"
    assert main(["swap", "-m", str(folder), "-i", str(demo / "A"), "-o", str(out)]) == 0
    written = sorted(out.glob("*.png"))
    assert [p.stem for p in written] == sorted(p.stem for p in (demo / "A").glob("*.png"))
    image = cv2.imread(str(written[0]), cv2.IMREAD_UNCHANGED)
    assert image.shape == (32, 32, 4)
    face, mask = _expected(built, sorted((demo / "A").glob("*.png"))[0], "b")
    assert np.abs(image[..., :3].astype(int) - np.rint(face * 255)).max() <= 1
    assert np.abs(image[..., 3].astype(int) - np.rint(mask * 255)).max() <= 1


def test_direction_picks_the_decoder(demo, masked, tmp_path):
    folder, built = masked
    out = tmp_path / "out"
    assert (
        main(
            [
                "swap",
                "-m",
                str(folder),
                "-i",
                str(demo / "B"),
                "-o",
                str(out),
                "--direction",
                "b-to-a",
            ]
        )
        == 0
    )
    first = sorted((demo / "B").glob("*.png"))[0]
    image = cv2.imread(str(out / f"{first.stem}.png"), cv2.IMREAD_UNCHANGED)
    face_a, _ = _expected(built, first, "a")
    face_b, _ = _expected(built, first, "b")
    assert np.abs(image[..., :3].astype(int) - np.rint(face_a * 255)).max() <= 1
    assert np.abs(image[..., :3].astype(int) - np.rint(face_b * 255)).max() > 1


def test_batches_follow_the_last_session_convert_batchsize(masked, registry):
    from fs_core.inference.trained import load_trained

    trained = load_trained(masked[0], registry)
    assert trained.batch_size == 3 and trained.state.iterations == 7 and trained.built.learn_mask


def test_plain_crops_are_swapped_without_alpha(plain_model, tmp_path):
    folder, _ = plain_model
    crops = tmp_path / "crops"
    crops.mkdir()
    rng = np.random.default_rng(0)
    for index in range(5):
        cv2.imwrite(str(crops / f"c{index}.jpg"), rng.integers(0, 255, (80, 80, 3), np.uint8))
    out = tmp_path / "out"
    assert main(["swap", "-m", str(folder), "-i", str(crops), "-o", str(out)]) == 0
    written = sorted(out.glob("*.png"))
    assert len(written) == 5
    assert all(cv2.imread(str(p), cv2.IMREAD_UNCHANGED).shape == (32, 32, 3) for p in written)


def test_export_reloads_and_gives_the_same_output(masked, tmp_path):
    import tensorflow as tf

    folder, built = masked
    out = tmp_path / "saved"
    assert main(["export", "-m", str(folder), "-o", str(out)]) == 0
    assert (out / "saved_model.pb").exists() and (out / "fs_export.toml").exists()
    loaded = tf.saved_model.load(str(out))
    serve = loaded.signatures["serving_default"]
    faces = np.random.default_rng(1).random((3, 32, 32, 3), dtype=np.float32)
    result = serve(faces=tf.constant(faces))
    expected = [np.asarray(o) for o in built.model([faces, faces], training=False)]
    np.testing.assert_allclose(result["face"].numpy(), expected[2], atol=1e-5)
    np.testing.assert_allclose(result["mask"].numpy(), expected[3], atol=1e-5)


@pytest.mark.parametrize(
    "case",
    [
        "missing model folder",
        "not a model folder",
        "empty faces folder",
        "missing faces folder",
        "export into a non-empty folder",
    ],
)
def test_bad_input_is_one_line_and_exit_1(case, demo, masked, tmp_path, capsys):
    folder = str(masked[0])
    (tmp_path / "empty").mkdir()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("keep me")
    args = {
        "missing model folder": [
            "swap",
            "-m",
            str(tmp_path / "nope"),
            "-i",
            str(demo / "A"),
            "-o",
            str(tmp_path / "o"),
        ],
        "not a model folder": ["export", "-m", str(tmp_path / "empty"), "-o", str(tmp_path / "o")],
        "empty faces folder": [
            "swap",
            "-m",
            folder,
            "-i",
            str(tmp_path / "empty"),
            "-o",
            str(tmp_path / "o"),
        ],
        "missing faces folder": [
            "swap",
            "-m",
            folder,
            "-i",
            str(tmp_path / "nope"),
            "-o",
            str(tmp_path / "o"),
        ],
        "export into a non-empty folder": ["export", "-m", folder, "-o", str(tmp_path / "full")],
    }[case]
    assert main(args) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "o").exists()
    assert (tmp_path / "full" / "x.txt").read_text() == "keep me"
