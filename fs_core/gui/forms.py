"""The New training form: every field checked before anything starts.

A wrong field answers 400 with one line naming it, and no process starts: the checks cover types and
ranges (as ``fs train`` accepts them), face folders that exist inside the root, a usable model
folder name, an installed architecture, and a config text read by fs's own TOML loader.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from fs_core.config import config_from_mapping
from fs_core.errors import FsUserError
from fs_core.folder.layout import has_state
from fs_core.folder.state import load_state
from fs_core.gui.installed import Installed
from fs_core.gui.security import model_path, new_model_name, path_inside

#: the largest config text accepted (the complete file with every model is about 60 KiB)
MAX_CONFIG_CHARS = 1_000_000
#: integer fields: (default, minimum, maximum), as ``fs train`` accepts them
INTEGERS: dict[str, tuple[int, int, int]] = {
    "batch_size": (16, 1, 256),
    "iterations": (1_000_000, 1, 1_000_000_000),
    "save_interval": (250, 1, 1_000_000_000),
    "snapshot_interval": (0, 0, 1_000_000_000),
    "warmup": (0, 0, 5000),
}
#: switches, with the ``fs train`` flag each sets
FLAGS: dict[str, str] = {
    "no_warp": "-W",
    "no_flip": "-P",
    "no_color": "-c",
    "warp_to_landmarks": "-M",
    "lr_finder": "-r",
}
TEXTS = ("faces_a", "faces_b", "model_dir", "model", "config_toml", "preset")
REQUIRED = ("faces_a", "faces_b", "model_dir", "model")


@attrs.frozen
class TrainForm:
    """A checked form: absolute paths and values ready to become ``fs train`` arguments."""

    faces_a: Path
    faces_b: Path
    name: str
    model_dir: Path
    model: str
    numbers: Mapping[str, int]
    flags: tuple[str, ...]
    config_toml: str | None
    preset_file: Path | None

    def train_args(self, config_file: Path | None) -> list[str]:
        """The arguments after ``fs train``; ``config_file`` holds ``config_toml`` when given."""
        args = [
            "-A",
            str(self.faces_a),
            "-B",
            str(self.faces_b),
            "-m",
            str(self.model_dir),
            "-t",
            self.model,
            "-b",
            str(self.numbers["batch_size"]),
            "-i",
            str(self.numbers["iterations"]),
            "-s",
            str(self.numbers["save_interval"]),
            "-I",
            str(self.numbers["snapshot_interval"]),
            "-a",
            str(self.numbers["warmup"]),
        ]
        args += self.flags
        source = config_file if self.config_toml is not None else self.preset_file
        if source is not None:
            args += ["-C", str(source)]
        return args


def _integer(data: Mapping[str, Any], key: str) -> int:
    default, low, high = INTEGERS[key]
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        value = int(value.strip())
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FsUserError(f"{key} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise FsUserError(f"{key} must be from {low} to {high}, got {value}")
    return value


def _flag(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise FsUserError(f"{key} must be true or false, got {value!r}")
    return value


def _faces(root: Path, data: Mapping[str, Any], key: str) -> Path:
    from fs_core.faces.faceset import list_images  # noqa: PLC0415 (OpenCV: gui.forms loads without it)

    folder = path_inside(root, data[key], key)
    if not folder.is_dir():
        raise FsUserError(f"{key}: no such folder inside the root: {data[key]}")
    try:
        list_images(folder)
    except FsUserError as error:
        raise FsUserError(f"{key}: {error.message}: {data[key]}") from None
    return folder


def check_config_text(text: str, installed: Installed) -> None:
    """Read ``text`` as ``fs train -C`` would read the file, so a bad option fails here."""
    if len(text) > MAX_CONFIG_CHARS:
        raise FsUserError(f"config_toml is too long ({len(text)} characters)")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise FsUserError(f"config_toml is not valid TOML: {error}") from None
    try:
        config_from_mapping(data, installed.config_classes)
    except FsUserError as error:
        raise FsUserError(f"config_toml: {error.one_line()}") from None


def _existing_model(folder: Path, model: str) -> None:
    """An existing folder must be a folder, and an fs model in it must be of the chosen kind."""
    if folder.exists() and not folder.is_dir():
        raise FsUserError(f"model_dir '{folder.name}' is a file, not a folder")
    if has_state(folder):
        try:
            stored = load_state(folder).model
        except FsUserError as error:
            raise FsUserError(f"model_dir '{folder.name}': {error.message}") from None
        if stored != model:
            raise FsUserError(f"model_dir '{folder.name}' holds a '{stored}' model, not '{model}'")


def parse_train_form(data: Any, root: Path, installed: Installed) -> TrainForm:
    """The checked form, or FsUserError with one line about the first wrong field."""
    if not isinstance(data, dict):
        raise FsUserError("the form must be a JSON object")
    known = set(TEXTS) | set(INTEGERS) | set(FLAGS)
    unknown = sorted(set(data) - known)
    if unknown:
        raise FsUserError(f"unknown field '{unknown[0]}' (fields: {', '.join(sorted(known))})")
    for key in REQUIRED:
        if data.get(key) in (None, ""):
            raise FsUserError(f"{key} is required")
    for key in TEXTS:
        if data.get(key) is not None and not isinstance(data[key], str):
            raise FsUserError(f"{key} must be text, got {data[key]!r}")
    numbers = {key: _integer(data, key) for key in INTEGERS}
    flags = tuple(flag for key, flag in FLAGS.items() if _flag(data, key))
    model = data["model"]
    if model not in installed.models:
        raise FsUserError(
            f"model '{model}' is not installed (models: "
            f"{', '.join(sorted(installed.models)) or 'none'})"
        )
    name = new_model_name(data["model_dir"])
    folder = model_path(root, name, "model_dir")
    _existing_model(folder, model)
    faces_a, faces_b = _faces(root, data, "faces_a"), _faces(root, data, "faces_b")
    preset_file = None
    if data.get("preset"):
        if data["preset"] not in installed.presets:
            raise FsUserError(f"unknown preset '{data['preset']}'")
        owner, preset_file = installed.presets[data["preset"]]
        if owner != model:
            raise FsUserError(f"preset '{data['preset']}' is for model '{owner}', not '{model}'")
    config_toml = data.get("config_toml")
    if config_toml is not None and not config_toml.strip():
        config_toml = None
    if config_toml is not None:
        check_config_text(config_toml, installed)
    return TrainForm(
        faces_a=faces_a,
        faces_b=faces_b,
        name=name,
        model_dir=folder.absolute(),
        model=model,
        numbers=numbers,
        flags=flags,
        config_toml=config_toml,
        preset_file=preset_file,
    )
