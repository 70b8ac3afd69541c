"""Model state and weights: atomic saves, checksums, and clear errors for damaged files."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import keras
import numpy as np
import pytest

import fs_core
from fs_core.atomic import atomic_path
from fs_core.config import Config
from fs_core.errors import FsUserError
from fs_core.folder.model_files import open_model_dir
from fs_core.folder.state import load_state, save_state
from fs_core.model.build import build_from_config
from fs_core.model.state import ModelState
from fs_core.model.weights import load_weights, part_variables, parts_of, save_weights


def _tiny(registry, seed=0):
    keras.utils.set_random_seed(seed)
    return build_from_config(registry, "tiny", Config(mask=Config().mask)).model


def test_state_round_trip(tmp_path):
    state = ModelState(
        model="tiny", iterations=7, lowest_avg_loss=0.5, config={"global": {"coverage": 100.0}}
    )
    state.new_session(4, {"global": {"learning_rate": 5e-5}})
    save_state(tmp_path, state)
    loaded = load_state(tmp_path)
    assert loaded.iterations == 7 and loaded.lowest_avg_loss == 0.5 and loaded.lr_finder is None
    assert loaded.sessions[0]["batch_size"] == 4 and "end" not in loaded.sessions[0]


@pytest.mark.parametrize("content", [b"iterations = ", b"\x00\x01\x02", b"format = 1\n"])
def test_damaged_state_is_a_user_error(tmp_path, content):
    (tmp_path / "state.toml").write_bytes(content)
    with pytest.raises(FsUserError, match="state"):
        load_state(tmp_path)


def test_weights_round_trip_into_a_fresh_build(tmp_path, registry):
    first = _tiny(registry, seed=1)
    save_weights(tmp_path / "w.h5", first, model_name="tiny", iterations=3)
    second = _tiny(registry, seed=2)
    assert not np.allclose(first.weights[0].numpy(), second.weights[0].numpy())
    load_weights(tmp_path / "w.h5", second, model_name="tiny")
    for a, b in zip(first.weights, second.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_weights_keys_are_structural_and_grouped_by_part(registry):
    model = _tiny(registry)
    assert set(parts_of(model)) == {"encoder", "decoder_a", "decoder_b"}
    keys = [key for key, _ in part_variables(parts_of(model)["encoder"])]
    assert keys[0].startswith("001_conv2d/00_kernel")


def test_damaged_weights_are_detected(tmp_path, registry):
    import h5py

    model = _tiny(registry)
    path = tmp_path / "w.h5"
    save_weights(path, model, model_name="tiny", iterations=1)
    with h5py.File(path, "r+") as handle:
        name = next(iter(handle["encoder"]))
        dataset = next(iter(handle["encoder"][name].values()))
        dataset[...] = dataset[()] + 1.0
    with pytest.raises(FsUserError, match="checksum"):
        load_weights(path, model, model_name="tiny")
    path.write_bytes(b"garbage")
    with pytest.raises(FsUserError, match="damaged"):
        load_weights(path, model, model_name="tiny")


def test_partial_load_copies_only_the_named_parts(tmp_path, registry):
    source, target = _tiny(registry, 1), _tiny(registry, 2)
    save_weights(tmp_path / "w.h5", source, model_name="tiny", iterations=1)
    before = parts_of(target)["decoder_a"].weights[0].numpy().copy()
    load_weights(tmp_path / "w.h5", target, model_name="tiny", parts=["encoder"], strict=False)
    np.testing.assert_array_equal(
        parts_of(target)["encoder"].weights[0].numpy(),
        parts_of(source)["encoder"].weights[0].numpy(),
    )
    np.testing.assert_array_equal(parts_of(target)["decoder_a"].weights[0].numpy(), before)


def test_atomic_path_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "file.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["file.bin"]


def test_model_folder_checks(tmp_path):
    assert open_model_dir(tmp_path / "new", "tiny") is None
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(FsUserError, match="not empty"):
        open_model_dir(tmp_path / "other", "tiny")
    folder = tmp_path / "model"
    folder.mkdir()
    save_state(folder, ModelState(model="original"))
    (folder / "weights.h5").write_bytes(b"x")
    with pytest.raises(FsUserError, match="holds a 'original' model"):
        open_model_dir(folder, "tiny")


def test_optimizer_state_loads_in_saved_order_beyond_9999_variables(tmp_path):
    """Saved keys are numbered 0000_..., 9999_..., 10000_...: loading must follow the numbers,
    not the text order (where 10000 sorts before 2)."""
    import types

    import h5py

    from fs_core.model.weights import load_optimizer_state

    count = 10_003
    path = tmp_path / "weights.h5"
    with h5py.File(path, "w") as handle:
        for index in range(count):
            handle.create_dataset(f"optimizer/{index:04d}_momentum", data=np.float32(index))
    variables = [keras.Variable(0.0) for _ in range(count)]
    assert load_optimizer_state(path, types.SimpleNamespace(variables=variables))
    assert [int(v.numpy()) for v in variables[-5:]] == list(range(count - 5, count))
    assert all(int(v.numpy()) == index for index, v in enumerate(variables))


#: file and folder names of a model folder, which only fs_core.folder.layout spells
LAYOUT_NAMES = {
    "state.toml",
    "weights.h5",
    "preview.png",
    "backups",
    "logs",
    "record",
    "events.jsonl",
    "trainer.json",
    "trainer.log",
    "gui_config.toml",
    "face_losses.npz",
    "face_losses.json",
    "archived_",
    ".fs.lock",
}
#: (module, name) pairs that are not paths: the record plugin's stash label, and the damaged-file
#: hint of the model's file readers, which names the backup folder in its message
NOT_PATHS = {("fs_core/builtins/record.py", "record"), ("fs_core/model/state.py", "backups")}


def test_only_the_folder_layout_spells_the_model_folder_names():
    """Every path inside a model folder is built by fs_core.folder (its layout module names
    them): a string literal naming one anywhere else in fs_core is a second copy of the layout."""
    root = Path(fs_core.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        module = path.relative_to(root.parent).as_posix()
        if module.startswith("fs_core/folder/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
                continue
            text = node.value
            if (text in LAYOUT_NAMES or text.endswith("_snapshot_")) and (
                module,
                text,
            ) not in NOT_PATHS:
                found.append(f"{module}:{node.lineno}: {text!r}")
    assert not found, "model-folder names outside fs_core.folder.layout:\n" + "\n".join(found)
