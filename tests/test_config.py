"""Configuration: the rendered file round-trips, bad keys and values name the file and key."""

from __future__ import annotations

import tomllib

import attrs
import pytest

from fs_core.config import Config, apply_locked, changeable_values, load_config, render_config
from fs_core.config.options import LOCKED, option
from fs_core.errors import FsUserError


@pytest.fixture()
def classes(registry):
    return {name: d.config_class for name, d in registry.models.items()}


def test_rendered_config_is_complete_valid_toml_and_round_trips(tmp_path, classes):
    text = render_config(Config(), classes)
    data = tomllib.loads(text)
    assert data["global"]["loss"]["loss_function"] == "ssim"
    assert data["global"]["mask"]["mask_type"] == "extended"
    assert data["model"]["tiny"]["size"] == 32
    assert "# Allowed: 62.5 to 100.0" in text
    path = tmp_path / "fs.toml"
    path.write_text(text)
    assert load_config(path, classes).loss.loss_weight_2 == 100.0


def test_values_from_the_file_are_used(tmp_path, classes):
    path = tmp_path / "fs.toml"
    path.write_text(
        "[global]\nlearning_rate = 2e-5\n[global.loss]\nloss_function = 'mae'\n"
        "[model.tiny]\nsize = 16\n"
    )
    config = load_config(path, classes)
    assert config.global_.learning_rate == 2e-5
    assert config.loss.loss_function == "mae"
    assert config.models["tiny"].size == 16


@pytest.mark.parametrize(
    "body, expected",
    [
        ("[global]\nnot_an_option = 1\n", "unknown key 'not_an_option' in \\[global\\]"),
        ("[global]\ncoverage = 10.0\n", "coverage.*at least 62.5"),
        ("[global]\ncentering = 'middle'\n", "centering.*one of face, head, legacy"),
        ("[global.mask]\nlearn_mask = 'yes'\n", "learn_mask.*true or false"),
        ("[model.tiny]\nsize = 48\n", "size.*one of 16, 32, 64"),
        ("[model.nope]\nx = 1\n", "no model plugin named 'nope'"),
        ("[strange]\n", "unknown section"),
        ("this is = not toml =\n", "not valid TOML"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path, classes, body, expected):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(FsUserError, match=expected) as info:
        load_config(path, classes)
    assert info.value.path == str(path)


def test_missing_config_file(tmp_path, classes):
    with pytest.raises(FsUserError, match="not found"):
        load_config(tmp_path / "absent.toml", classes)


def test_locked_options_stored_at_creation_win_and_changeable_ones_do_not(tmp_path, classes):
    created = Config()
    stored = created.stored_sections("tiny", classes["tiny"])
    path = tmp_path / "later.toml"
    path.write_text("[global]\ncentering = 'head'\nlearning_rate = 1e-5\n[model.tiny]\nsize = 64\n")
    later = load_config(path, classes)
    messages = []
    apply_locked(later, stored, "tiny", classes["tiny"], messages.append)
    assert later.global_.centering == "face"  # locked: the model's value
    assert later.models["tiny"].size == 32  # model options are locked
    assert later.global_.learning_rate == 1e-5  # changeable: the file's value
    assert any("centering" in m for m in messages) and any("size" in m for m in messages)
    session = changeable_values(later, "tiny", classes["tiny"])
    assert session["global"]["learning_rate"] == 1e-5
    assert "centering" not in session["global"]


def _names(value: object) -> object:
    """One name or a sequence of them, as a new list."""
    if isinstance(value, str):
        return [value]
    return list(value) if isinstance(value, (list, tuple)) else value


def _known(instance: object, attribute: object, value: object) -> None:
    if not isinstance(value, list) or any(v not in ("a", "b") for v in value):
        raise ValueError(f"must be a list of a and b, got {value!r}")


@attrs.define
class ListConfig:
    parts: list[str] = option(
        ("a",), "Parts.", choices=("a", "b"), locked=True, converter=_names, validator=_known
    )


def test_option_with_its_own_converter_and_validator(tmp_path):
    """A list option: the given converter and validator replace the scalar ones, the metadata
    (help, choices, lock) stays, and a bad value still names the file and key."""
    classes = {"listy": ListConfig}
    text = render_config(Config(), classes)
    assert (
        '# Parts. Locked when the model is created.\n# Allowed: one of a, b. Default: ["a"].'
        in text
    )
    path = tmp_path / "fs.toml"
    path.write_text(text)
    assert load_config(path, classes).models["listy"].parts == ["a"]
    path.write_text("[model.listy]\nparts = 'b'\n")
    assert load_config(path, classes).models["listy"].parts == ["b"]
    path.write_text("[model.listy]\nparts = ['a', 'c']\n")
    with pytest.raises(FsUserError, match=r"parts.*must be a list of a and b") as info:
        load_config(path, classes)
    assert info.value.path == str(path)
    assert attrs.fields(ListConfig).parts.metadata[LOCKED] is True
