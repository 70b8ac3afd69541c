"""``fs import``: faceswap model folders (written by tests/faceswap_fixtures.py in faceswap's
exact format) become fs model folders whose outputs equal the faceswap model's, and anything that
does not map, or a damaged file, is refused with nothing written."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from faceswap_fixtures import (
    SMALL_OPTIONS,
    adam_state,
    keras_archive_bytes,
    write_faceswap_model,
)

from fs_core.cli.main import main
from fs_core.config import config_from_mapping
from fs_core.errors import FsUserError
from fs_core.folder.state import load_state
from fs_core.importing import import_faceswap_model
from fs_core.model.build import build_model
from fs_core.model.weights import has_optimizer_state, load_optimizer_state, load_weights

SLOW_FAMILIES = [
    ("original", True),
    ("lightweight", False),
    ("iae", True),
    ("dfaker", True),
    ("unbalanced", False),
    ("dfl_h128", True),
    ("villain", False),
    ("realface", True),
    ("dlight", False),
    ("dfl_sae", True),
    ("dfl_sae", False),
]


@pytest.fixture(scope="module")
def registry():
    from fs_core.plugin_manager import get_registry

    return get_registry()


def _outputs(model: keras.Model, seed: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    size = int(model.inputs[0].shape[1])
    faces = [rng.random((2, size, size, 3), dtype=np.float32) for _ in range(2)]
    result = model.predict(faces, verbose=0)
    return [np.asarray(out) for out in (result if isinstance(result, list) else [result])]


def _round_trip(
    tmp_path: Path, registry, name: str, learn_mask: bool, options: dict | None = None
) -> None:
    options = SMALL_OPTIONS[name] if options is None else options
    source = write_faceswap_model(tmp_path / "fsw", name, options, learn_mask=learn_mask, seed=11)
    expected = _outputs(source)
    result = import_faceswap_model(tmp_path / "fsw", tmp_path / "fs", registry)
    assert result.model_name == name and result.weights == len(source.weights)
    keras.utils.set_random_seed(99)  # a different draw: only the imported weights can match
    rebuilt = build_model(name, options, learn_mask=learn_mask)
    before = _outputs(rebuilt)
    load_weights(tmp_path / "fs" / "weights.h5", rebuilt, model_name=name)
    after = _outputs(rebuilt)
    assert len(after) == len(expected) == (4 if learn_mask else 2)
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(before, expected)) > 1e-4
    for mine, theirs in zip(after, expected):
        np.testing.assert_allclose(mine, theirs, atol=1e-5, rtol=0)


@pytest.mark.parametrize("learn_mask", [False, True])
def test_phaze_a_round_trips(tmp_path, registry, learn_mask):
    _round_trip(tmp_path, registry, "phaze_a", learn_mask)


def test_phaze_a_with_a_keras_encoder_round_trips(tmp_path, registry):
    """A nested Keras application (with batch-norm statistics) inside the encoder part."""
    options = dict(
        SMALL_OPTIONS["phaze_a"],
        enc_architecture="mobilenet_v3_small",
        enc_load_weights=False,
        enc_scaling=29,
    )
    source = write_faceswap_model(tmp_path / "fsw", "phaze_a", options, seed=11)
    nested = [m for m in source.get_layer("encoder").layers if isinstance(m, keras.Model)]
    assert nested and nested[0].non_trainable_weights
    for variable in nested[0].non_trainable_weights:  # statistics unlike their initial values
        variable.assign(np.random.default_rng(2).random(variable.shape) + 0.5)
    (tmp_path / "fsw" / "phaze_a.keras").write_bytes(keras_archive_bytes(source, "phaze_a"))
    import_faceswap_model(tmp_path / "fsw", tmp_path / "fs", registry)
    keras.utils.set_random_seed(99)
    rebuilt = build_model("phaze_a", options)
    load_weights(tmp_path / "fs" / "weights.h5", rebuilt, model_name="phaze_a")
    assert len(rebuilt.weights) == len(source.weights)
    for mine, theirs in zip(rebuilt.weights, source.weights):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy(), err_msg=theirs.path)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "learn_mask"), SLOW_FAMILIES)
def test_every_family_round_trips(tmp_path, registry, name, learn_mask):
    _round_trip(tmp_path, registry, name, learn_mask)


@pytest.fixture(scope="module")
def phaze(tmp_path_factory) -> Path:
    """One small faceswap Phaze-A folder, shared by the tests that only read it."""
    folder = tmp_path_factory.mktemp("faceswap") / "model"
    write_faceswap_model(
        folder,
        "phaze_a",
        config_changes={"coverage": 87.5, "learning_rate": 3e-05, "mask_type": "components"},
    )
    return folder


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_state_and_options_carry_over_and_the_source_is_untouched(tmp_path, registry, phaze):
    before = _digest(phaze)
    notes: list[str] = []
    import_faceswap_model(phaze, tmp_path / "fs", registry, note=notes.append)
    assert _digest(phaze) == before
    state = load_state(tmp_path / "fs")
    assert state.model == "phaze_a" and state.iterations == 1234
    assert state.lowest_avg_loss == pytest.approx(0.0421)
    assert state.lr_finder == pytest.approx(3.5e-05)
    assert state.config["global"]["coverage"] == 87.5
    assert state.config["global"]["learning_rate"] == pytest.approx(3e-05)
    assert state.config["global.mask"]["mask_type"] == "components"
    assert state.config["model.phaze_a"]["fc_max_filters"] == 128
    assert [s["id"] for s in state.sessions] == [1, 2]  # faceswap's 1 and 3, renumbered
    assert [s["faceswap_session"] for s in state.sessions] == [1, 3]
    assert [s["iterations"] for s in state.sessions] == [1034, 200]
    assert any("mixed_precision" in note for note in notes)


def test_cli_import_prints_a_summary(tmp_path, phaze, capsys):
    assert main(["import", "-i", str(phaze), "-m", str(tmp_path / "fs")]) == 0
    out = capsys.readouterr().out
    assert "Imported faceswap 'phaze_a'" in out and "1234 iterations" in out
    assert sorted(p.name for p in (tmp_path / "fs").iterdir()) == ["state.toml", "weights.h5"]


def _nothing_written(tmp_path: Path) -> None:
    assert not (tmp_path / "fs").exists()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".fs.")]
    assert leftovers == []


def _expect_refusal(tmp_path: Path, registry, source: Path, *words: str) -> str:
    with pytest.raises(FsUserError) as caught:
        import_faceswap_model(source, tmp_path / "fs", registry)
    text = caught.value.one_line()
    assert "\n" not in text
    for word in words:
        assert word in text
    _nothing_written(tmp_path)
    return text


def _copy(phaze: Path, to: Path) -> Path:
    to.mkdir()
    for path in phaze.iterdir():
        (to / path.name).write_bytes(path.read_bytes())
    return to


def test_truncated_archive(tmp_path, registry, phaze):
    source = _copy(phaze, tmp_path / "src")
    keras_file = source / "phaze_a.keras"
    data = keras_file.read_bytes()
    keras_file.write_bytes(data[: len(data) // 2])
    _expect_refusal(tmp_path, registry, source, "phaze_a.keras", "not a readable")


def test_corrupted_weights_member(tmp_path, registry, phaze):
    source = _copy(phaze, tmp_path / "src")
    keras_file = source / "phaze_a.keras"
    data = bytearray(keras_file.read_bytes())
    with zipfile.ZipFile(keras_file) as archive:
        info = archive.getinfo("model.weights.h5")
    middle = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
    data[middle] ^= 0xFF  # stored, not deflated: the CRC is what notices
    keras_file.write_bytes(bytes(data))
    _expect_refusal(tmp_path, registry, source, "phaze_a.keras")


def test_not_a_zip(tmp_path, registry, phaze):
    source = _copy(phaze, tmp_path / "src")
    (source / "phaze_a.keras").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(200))
    _expect_refusal(tmp_path, registry, source, "phaze_a.keras", "not a readable")


def test_member_outside_the_archive(tmp_path, registry, phaze):
    source = _copy(phaze, tmp_path / "src")
    with zipfile.ZipFile(source / "phaze_a.keras", "a") as archive:
        archive.writestr("../../escape.txt", b"x")
    _expect_refusal(tmp_path, registry, source, "outside the archive")
    assert not (tmp_path / "escape.txt").exists()


def test_unknown_architecture(tmp_path, registry, phaze):
    source = _copy(phaze, tmp_path / "src")
    state = json.loads((source / "phaze_a_state.json").read_text())
    state["name"] = "stylegan"
    (source / "phaze_a_state.json").write_text(json.dumps(state))
    _expect_refusal(tmp_path, registry, source, "unknown architecture 'stylegan'", "original")


def test_locked_option_fs_cannot_take(tmp_path, registry, phaze):
    source = _copy(phaze, tmp_path / "src")
    state = json.loads((source / "phaze_a_state.json").read_text())
    state["config"]["enc_architecture"] = "resnet9000"
    (source / "phaze_a_state.json").write_text(json.dumps(state))
    _expect_refusal(tmp_path, registry, source, "enc_architecture", "resnet9000")


def test_weights_of_other_options_are_refused_naming_the_part(tmp_path, registry):
    """The state says one size, the weights are another's: nothing is half-imported."""
    source = tmp_path / "src"
    write_faceswap_model(source, "phaze_a")
    state = json.loads((source / "phaze_a_state.json").read_text())
    state["config"]["dec_min_filters"] = 64
    (source / "phaze_a_state.json").write_text(json.dumps(state))
    _expect_refusal(tmp_path, registry, source, "do not map", "decoder_", "shape")


def test_an_extra_weight_is_refused(tmp_path, registry):
    """A faceswap part with a layer fs's model lacks: named, nothing written."""
    source = tmp_path / "src"
    model = write_faceswap_model(source, "phaze_a")
    extra = keras.layers.Dense(3, name="surplus")
    extra.build((None, 5))
    archive = keras_archive_bytes(model, "phaze_a", extra_layers={"encoder": [extra]})
    (source / "phaze_a.keras").write_bytes(archive)
    _expect_refusal(tmp_path, registry, source, "encoder", "surplus")


def test_target_must_be_new_or_empty(tmp_path, registry, phaze):
    target = tmp_path / "fs"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(FsUserError, match="not empty"):
        import_faceswap_model(phaze, target, registry)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    import_faceswap_model(phaze, empty, registry)
    assert (empty / "state.toml").is_file()


def test_a_failed_write_leaves_no_model(tmp_path, registry, phaze, monkeypatch):
    from fs_core.folder import new_folder

    def full_disk(*args, **kwargs):
        raise FsUserError("cannot write the file: no space left on the disk", "weights.h5")

    monkeypatch.setattr(new_folder, "save_state", full_disk)
    with pytest.raises(FsUserError, match="no space"):
        import_faceswap_model(phaze, tmp_path / "fs", registry)
    _nothing_written(tmp_path)


class _Boom:
    """A pickle that would make a folder if anything unpickled it."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.makedirs, (self.path,))


def _evil_torch_file(marker: Path) -> bytes:
    """torch.save's layout around a pickle that calls os.makedirs."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"optimizer": _Boom(str(marker))}, 2))
        archive.writestr("archive/byteorder", b"little")
    return buffer.getvalue()


def test_torch_optimizer_state_is_never_unpickled(tmp_path, registry):
    marker = tmp_path / "unpickled"
    source = tmp_path / "src"
    write_faceswap_model(
        source, "phaze_a", extra_members={"optimizer.pt": _evil_torch_file(marker)}
    )
    notes: list[str] = []
    result = import_faceswap_model(source, tmp_path / "fs", registry, note=notes.append)
    assert not marker.exists()
    assert not result.optimizer_imported
    assert any("not data" in note and "fresh optimizer state" in note for note in notes)
    assert not has_optimizer_state(tmp_path / "fs" / "weights.h5")


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["import", "-i", str(tmp_path / "nothing"), "-m", str(tmp_path / "fs")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nothing" in err


@pytest.mark.slow
def test_imported_model_trains_on_swaps_and_exports(tmp_path, demo):
    source = tmp_path / "fsw"
    write_faceswap_model(source, "phaze_a", iterations=40)
    model = tmp_path / "fs"
    assert main(["import", "-i", str(source), "-m", str(model)]) == 0
    faces = ["-A", str(demo / "A"), "-B", str(demo / "B"), "-m", str(model), "-t", "phaze_a"]
    assert main(["train", *faces, "-b", "2", "-i", "2", "-s", "100", "-n"]) == 0
    state = load_state(model)
    assert state.iterations == 42
    assert len(state.sessions) == 3 and state.sessions[-1]["iterations"] == 2
    assert main(["swap", "-m", str(model), "-i", str(demo / "A"), "-o", str(tmp_path / "sw")]) == 0
    assert len(list((tmp_path / "sw").glob("*.png"))) == 8
    assert main(["export", "-m", str(model), "-o", str(tmp_path / "saved")]) == 0
    assert (tmp_path / "saved" / "saved_model.pb").is_file()


def test_optimizer_state_is_imported_when_it_maps(tmp_path, registry):
    source = tmp_path / "src"
    model = write_faceswap_model(source, "phaze_a", adam_step=7)
    notes: list[str] = []
    result = import_faceswap_model(source, tmp_path / "fs", registry, note=notes.append)
    assert result.optimizer_imported and any("step 7" in note for note in notes)
    weights = tmp_path / "fs" / "weights.h5"
    assert has_optimizer_state(weights)
    keras.utils.set_random_seed(99)
    rebuilt = build_model("phaze_a", SMALL_OPTIONS["phaze_a"])
    load_weights(weights, rebuilt, model_name="phaze_a")
    options = config_from_mapping({}, {}).global_
    optimizer = registry.optimizers["adam"].make(options)
    optimizer.build(rebuilt.trainable_variables)
    assert load_optimizer_state(weights, optimizer)  # what fs train does on resume
    assert int(optimizer.iterations.numpy()) == 7
    saved = adam_state(model, 7)["optimizer"]["state"]
    trainables = list(rebuilt.trainable_variables)
    decayed = [v for v in trainables if len(v.shape) > 1 and not v.name.endswith("bias")]
    ordered = decayed + [v for v in trainables if all(v is not d for d in decayed)]
    assert len(ordered) == len(saved)
    for index, variable in enumerate(ordered):
        slot = optimizer._get_variable_index(variable)
        np.testing.assert_array_equal(
            optimizer._momentums[slot].numpy(), saved[index]["exp_avg"].value
        )
        np.testing.assert_array_equal(
            optimizer._velocities[slot].numpy(), saved[index]["exp_avg_sq"].value
        )


def test_optimizer_state_that_does_not_map_gives_a_fresh_one(tmp_path, registry):
    source = tmp_path / "src"
    write_faceswap_model(source, "phaze_a", adam_step=7, adam_drop=1)
    notes: list[str] = []
    result = import_faceswap_model(source, tmp_path / "fs", registry, note=notes.append)
    assert not result.optimizer_imported
    assert any("not imported" in note and "fresh optimizer state" in note for note in notes)
    assert not has_optimizer_state(tmp_path / "fs" / "weights.h5")
    assert (tmp_path / "fs" / "state.toml").is_file()  # the weights came over all the same


def test_state_file_values(tmp_path):
    from fs_core.importing.faceswap_state import read_state

    path = tmp_path / "original_state.json"
    path.write_text(
        json.dumps(
            {
                "name": "original",
                "iterations": 5,
                "lowest_avg_loss": {"a": 0.1, "b": 0.2},
                "lr_finder": -1.0,
                "config": {},
                "sessions": {},
            }
        )
    )
    state = read_state(path)
    assert state.lowest_avg_loss == pytest.approx(0.3)  # faceswap 1's per-side losses, summed
    assert state.lr_finder is None and state.sessions == []
    path.write_text(json.dumps({"name": "original", "iterations": -2}))
    with pytest.raises(FsUserError, match="iterations"):
        read_state(path)
    path.write_text("{not json")
    with pytest.raises(FsUserError, match=r"original_state\.json"):
        read_state(path)
