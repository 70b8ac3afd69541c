"""The convert, export and import forms of the page, checked and turned into ``fs`` arguments.

Every path is a path inside the root (:func:`fs_core.gui.security.path_inside`); every option is
checked as ``fs`` itself checks it: the ``[convert]`` options by building
:class:`~fs_core.config.convert.ConvertOptions` with them (its choices and ranges), the plugin
names against the installed plugins, the export choices against ``fs export``'s own lists. What
is wrong is one :class:`~fs_core.errors.FsUserError` line, and nothing starts.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from pathlib import Path
from typing import Any

import attrs

from fs_core.config.convert import ConvertOptions
from fs_core.errors import FsUserError
from fs_core.export import FORMATS, PRECISIONS, missing_converter
from fs_core.faces.alignments_file import VIDEO_EXTENSIONS, default_alignments_path
from fs_core.gui.models import is_model_folder
from fs_core.gui.security import model_path, new_model_name, path_inside

#: the ``[convert]`` options the page sets (the others keep their defaults)
CONVERT_FIELDS = (
    "color_adjustment",
    "mask_type",
    "writer",
    "writer_format",
    "video_container",
    "output_scale",
    "swap_model",
)
#: options whose choices are installed plugins, not a fixed list: option -> registry attribute
PLUGIN_FIELDS = {"color_adjustment": "convert_colors", "writer": "convert_writers"}
DIRECTIONS = ("a-to-b", "b-to-a")
EXPORT_SUFFIX = {"savedmodel": "", "onnx": ".onnx", "dfm": ".dfm"}
#: where the page puts what it makes, unless told otherwise
CONVERTED_DIR = "converted"
EXPORTS_DIR = "exports"


def _form(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise FsUserError("the request must be a JSON object")
    return data


def existing_model(root: Path, name: Any) -> Path:
    """The folder of an existing model ``name`` under the root."""
    if not isinstance(name, str) or not name:
        raise FsUserError("choose a model")
    folder = model_path(root, name)
    if not is_model_folder(folder):
        raise FsUserError(f"no model '{name}' in {root}")
    return folder


def convert_choices(registry: Any) -> dict[str, Any]:
    """What the page offers for each convert option: the ``[convert]`` section's own choices and
    ranges, the installed plugins for plugin options, and the defaults."""
    fields = {field.name: field for field in attrs.fields(ConvertOptions)}
    out: dict[str, Any] = {}
    for name in CONVERT_FIELDS:
        field = fields[name]
        meta = field.metadata
        entry: dict[str, Any] = {"default": field.default, "help": meta.get("help", "")}
        if name in PLUGIN_FIELDS:
            entry["choices"] = sorted(getattr(registry, PLUGIN_FIELDS[name]))
        elif meta.get("choices"):
            entry["choices"] = list(meta["choices"])
        if meta.get("min") is not None:
            entry["min"], entry["max"] = meta["min"], meta["max"]
        out[name] = entry
    return out


def convert_options(data: Any, registry: Any) -> dict[str, Any]:
    """The page's convert options, checked; only the known fields, defaults for the rest."""
    given = data if data is not None else {}
    if not isinstance(given, dict):
        raise FsUserError("options must be a JSON object")
    unknown = sorted(set(given) - set(CONVERT_FIELDS))
    if unknown:
        raise FsUserError(f"unknown convert option(s): {', '.join(unknown)}")
    for name, kind in PLUGIN_FIELDS.items():
        if name in given and given[name] not in getattr(registry, kind):
            installed = ", ".join(sorted(getattr(registry, kind)))
            raise FsUserError(f"{name} {given[name]!r} is not installed (installed: {installed})")
    options = ConvertOptions()
    for name, value in given.items():  # one at a time, so the message names the option
        try:
            options = attrs.evolve(options, **{name: value})
        except (ValueError, TypeError) as error:
            raise FsUserError(f"convert option {name}: {error}") from None
    return {name: getattr(options, name) for name in CONVERT_FIELDS}


def convert_toml(options: dict[str, Any]) -> str:
    """The options as a ``[convert]`` section for ``fs convert -C`` (values already checked)."""
    lines = ["[convert]"]
    for key, value in options.items():
        text = ("true" if value else "false") if isinstance(value, bool) else json.dumps(value)
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


@attrs.frozen
class ConvertSource:
    """A checked convert input: frames folder or video, and its alignments file."""

    input: Path
    alignments: Path

    @property
    def stem(self) -> str:
        return self.input.stem if self.input.is_file() else self.input.name


def convert_source(root: Path, data: dict[str, Any]) -> ConvertSource:
    source = path_inside(root, data.get("input"), "input")
    if source.is_file():
        if source.suffix.lower() not in VIDEO_EXTENSIONS:
            raise FsUserError(f"input is not a video file nor a folder of frames: {source.name}")
    elif not source.is_dir():
        raise FsUserError(f"input does not exist: {data.get('input')}")
    text = data.get("alignments")
    if text in (None, ""):
        alignments = default_alignments_path(source)
        if not alignments.is_file():
            raise FsUserError(
                f"no alignments file beside the input ({alignments.name}); give its path"
            )
    else:
        alignments = path_inside(root, text, "alignments")
        if not alignments.is_file():
            raise FsUserError(f"alignments file does not exist: {text}")
    return ConvertSource(source, alignments)


#: how deep and how many convert inputs :func:`convert_inputs` looks for
INPUT_SCAN_DEPTH = 3
INPUT_SCAN_LIMIT = 200


def convert_inputs(root: Path) -> list[str]:
    """What the page suggests as a convert input: the video files, and the folders holding an
    ``alignments.fsa``, up to :data:`INPUT_SCAN_DEPTH` folders below the root (hidden folders
    and model folders skipped), at most :data:`INPUT_SCAN_LIMIT`, as paths relative to it."""
    base = root.resolve()
    found: list[str] = []
    layer = [base]
    for _ in range(INPUT_SCAN_DEPTH):
        below: list[Path] = []
        for folder in layer:
            try:
                entries = sorted(folder.iterdir())
            except OSError:
                continue
            for entry in entries:
                if entry.name.startswith(".") or len(found) >= INPUT_SCAN_LIMIT:
                    continue
                if entry.is_dir() and not is_model_folder(entry):
                    if default_alignments_path(entry).is_file():
                        found.append(entry.relative_to(base).as_posix())
                    below.append(entry)
                elif entry.suffix.lower() in VIDEO_EXTENSIONS and entry.is_file():
                    found.append(entry.relative_to(base).as_posix())
        layer = below
    return sorted(found)


def _new_output(root: Path, text: Any, default: str, what: str) -> Path:
    """A new output path under the root (``default`` when not given); an existing folder must be
    empty, an existing file is refused."""
    path = path_inside(root, text if text not in (None, "") else default, what)
    if path == root.resolve():
        raise FsUserError(f"{what} must be a new folder inside the root, not the root itself")
    if path.is_file() or (path.is_dir() and any(path.iterdir())):
        raise FsUserError(
            f"{what} already exists and is not empty: {path.relative_to(root.resolve())}"
        )
    return path


@attrs.frozen
class ConvertForm:
    model_dir: Path
    source: ConvertSource
    output: Path
    options: dict[str, Any]

    def argv(self, config_file: str | Path) -> list[str]:
        return [
            "convert",
            "-i",
            str(self.source.input),
            "-o",
            str(self.output),
            "-m",
            str(self.model_dir),
            "-p",
            str(self.source.alignments),
            "-C",
            str(config_file),
        ]


def parse_convert(root: Path, data: Any, registry: Any, need_output: bool = True) -> ConvertForm:
    form = _form(data)
    model_dir = existing_model(root, form.get("model"))
    source = convert_source(root, form)
    options = convert_options(form.get("options"), registry)
    output = Path()
    if need_output:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        default = f"{CONVERTED_DIR}/{source.stem}_{model_dir.name}_{stamp}"
        output = _new_output(root, form.get("output"), default, "output")
    return ConvertForm(model_dir, source, output, options)


def tensorflow_missing() -> bool:
    return importlib.util.find_spec("tensorflow") is None


@attrs.frozen
class ExportForm:
    model_dir: Path
    format: str
    direction: str
    precision: str
    output: Path

    def argv(self) -> list[str]:
        return [
            "export",
            "-m",
            str(self.model_dir),
            "-o",
            str(self.output),
            "--format",
            self.format,
            "--direction",
            self.direction,
            "--precision",
            self.precision,
        ]


def parse_export(root: Path, data: Any) -> ExportForm:
    """The export form; refused up front where ``fs export`` could not run (no TensorFlow, no
    ONNX converter), so the page says it in one line instead of starting a job that fails."""
    form = _form(data)
    model_dir = existing_model(root, form.get("model"))
    fmt = form.get("format", "savedmodel")
    direction = form.get("direction", "a-to-b")
    precision = form.get("precision", "float32")
    if fmt not in FORMATS:
        raise FsUserError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if direction not in DIRECTIONS:
        raise FsUserError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    if precision not in PRECISIONS:
        raise FsUserError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if fmt == "savedmodel" and precision != "float32":
        raise FsUserError("a SavedModel is float32 only; float16 is for onnx and dfm")
    if tensorflow_missing():
        raise FsUserError(
            "fs export needs TensorFlow, which is not installed: pip install tensorflow"
        )
    if fmt != "savedmodel" and missing_converter():
        raise FsUserError(
            f'{fmt} export needs {", ".join(missing_converter())}: pip install "fs-core[export]"'
        )
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = f"{model_dir.name}_{direction}_{stamp}{'_fp16' if precision == 'float16' else ''}"
    output = _new_output(root, f"{EXPORTS_DIR}/{name}{EXPORT_SUFFIX[fmt]}", "", "export")
    return ExportForm(model_dir, fmt, direction, precision, output)


@attrs.frozen
class ImportForm:
    input: Path
    model_dir: Path

    def argv(self) -> list[str]:
        return ["import", "-i", str(self.input), "-m", str(self.model_dir)]


def parse_import(root: Path, data: Any) -> ImportForm:
    form = _form(data)
    source = path_inside(root, form.get("input"), "faceswap model folder")
    if not source.is_dir():
        raise FsUserError(f"faceswap model folder does not exist: {form.get('input')}")
    if not any(source.glob("*.keras")):  # said now rather than by a job that fails
        raise FsUserError(f"no faceswap model (<name>.keras) in {form.get('input')}")
    name = new_model_name(form.get("name"))
    target = model_path(root, name)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise FsUserError(f"'{name}' already exists in the root; choose a new model name")
    return ImportForm(source, target)
