"""The import: read the faceswap folder, build fs's model, copy the weights, write atomically.

The fs folder is written by :func:`fs_core.folder.new_folder.write_new_folder` (assembled beside
the target with fs's own savers and renamed into place only when complete), so a failed import
leaves nothing that looks like a model, and the target, when it existed (empty), is untouched.
The faceswap folder is opened for reading only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import h5py
import keras

from fs_core.config import Config
from fs_core.errors import FsUserError
from fs_core.folder.new_folder import check_new_folder, write_new_folder
from fs_core.importing.archive import (
    TORCH_OPTIMIZER,
    KerasArchive,
    read_archive,
    read_member,
    weights_file,
)
from fs_core.importing.faceswap_state import FaceswapState, read_state, state_file
from fs_core.importing.names import fs_model_name, map_options
from fs_core.importing.optimizer_map import (
    NotMappable,
    build_fs_optimizer,
    map_optimizer_state,
)
from fs_core.importing.torch_state import TorchFileError, read_torch_state
from fs_core.importing.weights_map import (
    has_optimizer_group,
    map_weights,
    read_value,
    source_parts,
)
from fs_core.model.build import BuiltModel, build_from_config
from fs_core.model.state import ModelState
from fs_core.model.weights import model_groups, save_weights

if TYPE_CHECKING:
    from fs_core.plugin_manager import Registry

FRESH_OPTIMIZER = (
    "training resumes with a fresh optimizer state (as faceswap does when it was not saved)"
)


@attrs.frozen
class ImportResult:
    """What was imported, for the command's summary."""

    model_dir: Path
    model_name: str
    iterations: int
    weights: int
    sessions: int
    optimizer_imported: bool
    notes: tuple[str, ...]


def find_model_file(folder: Path) -> Path:
    """The one ``<name>.keras`` of a faceswap model folder."""
    if not folder.is_dir():
        raise FsUserError("not a folder (give the faceswap model folder)", folder)
    found = sorted(path for path in folder.glob("*.keras") if path.is_file())
    if not found:
        legacy = sorted(folder.glob("*.h5"))
        hint = (
            " (a faceswap 2 .h5 model: open it once with faceswap 3 to update it)" if legacy else ""
        )
        raise FsUserError(f"no faceswap model (<name>.keras) in this folder{hint}", folder)
    if len(found) > 1:
        names = ", ".join(path.name for path in found)
        raise FsUserError(f"several faceswap models in this folder ({names}); keep one", folder)
    return found[0]


def _architecture(
    registry: Registry, archive_config: dict[str, Any], state: FaceswapState, model_file: Path
) -> str:
    inner = archive_config.get("config")
    keras_name = str(inner.get("name", "")) if isinstance(inner, dict) else ""
    raw = state.name or keras_name or model_file.stem
    name = fs_model_name(raw)
    if name not in registry.models:
        known = ", ".join(sorted(registry.models)) or "none installed"
        raise FsUserError(
            f"unknown architecture '{raw}': fs has no model of that name (fs models: {known}); "
            "nothing was written",
            model_file,
        )
    return name


@contextlib.contextmanager
def _float32_policy() -> Iterator[None]:
    """Build in float32 whatever policy the process has: the file's values are float32."""
    saved = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(saved)


def _copy_weights(
    built: BuiltModel, archive: KerasArchive, note: Callable[[str], None]
) -> list[Any]:
    """Assign every faceswap weight to its fs variable (all mapped and checked first); the fs
    variables in faceswap's order."""
    model_file = archive.path
    with weights_file(model_file) as path:
        try:
            handle = h5py.File(path, "r")
        except OSError as error:
            raise FsUserError(
                f"model.weights.h5 in the archive is not an HDF5 file ({error})", model_file
            ) from None
        with handle:
            source = source_parts(archive.config, handle, model_file)
            pairs = map_weights(source, model_groups(built.model), model_file)
            values = [
                (variable, read_value(handle, weight, model_file)) for weight, _, variable in pairs
            ]
            if has_optimizer_group(handle):
                note(
                    "the model file holds a Keras optimizer state fs does not map; "
                    + FRESH_OPTIMIZER
                )
    for variable, value in values:
        variable.assign(value)
    return [variable for _, _, variable in pairs]


def _optimizer(
    registry: Registry,
    config: Config,
    built: BuiltModel,
    ordered: list[Any],
    archive: KerasArchive,
    note: Callable[[str], None],
) -> Any:
    """fs's optimizer with faceswap's saved state, or None (with a note saying why)."""
    if not archive.has_torch_optimizer:
        note(f"faceswap did not save its optimizer state; {FRESH_OPTIMIZER}")
        return None
    options = config.global_
    try:
        saved = read_torch_state(read_member(archive.path, TORCH_OPTIMIZER))
        step, moments = map_optimizer_state(
            saved,
            [variable for variable in ordered if variable.trainable],
            options.optimizer,
            options.gradient_accumulation,
        )
        optimizer = build_fs_optimizer(registry, options, built.model, step, moments)
    except (TorchFileError, NotMappable) as error:
        note(f"faceswap's optimizer state was not imported ({error}); {FRESH_OPTIMIZER}")
        return None
    note(f"optimizer state imported ({options.optimizer}, step {step})")
    return optimizer


def _sessions(state: FaceswapState) -> list[dict[str, Any]]:
    """faceswap's sessions, numbered 1.. as fs numbers them (faceswap drops empty ones, so its
    ids can have gaps); faceswap's own id is kept as ``faceswap_session``."""
    sessions = []
    for number, entry in enumerate(state.sessions, start=1):
        session = {key: value for key, value in entry.items() if value is not None}
        session["faceswap_session"] = session["id"]
        session["id"] = number
        session["faceswap_config"] = {
            key: value
            for key, value in session.get("faceswap_config", {}).items()
            if value is not None
        }
        sessions.append(session)
    return sessions


def _write(target: Path, built: BuiltModel, model_state: ModelState, optimizer: Any) -> None:
    write_new_folder(
        target,
        model_state,
        lambda path: save_weights(
            path,
            built.model,
            model_name=built.name,
            iterations=model_state.iterations,
            optimizer=optimizer,
        ),
        "import",
    )


def import_faceswap_model(
    source_dir: str | Path,
    model_dir: str | Path,
    registry: Registry,
    note: Callable[[str], None] = lambda text: None,
) -> ImportResult:
    """Import the faceswap model in ``source_dir`` as a new fs model folder ``model_dir``."""
    source, target = Path(source_dir), Path(model_dir)
    model_file = find_model_file(source)
    check_new_folder(target)
    archive = read_archive(model_file)
    state = read_state(state_file(source, model_file.stem))
    name = _architecture(registry, archive.config, state, model_file)
    descriptor = registry.models[name]
    notes: list[str] = []

    def add(text: str) -> None:
        notes.append(text)
        note(text)

    config = map_options(
        state.config, name, descriptor.config_class, str(state_file(source, model_file.stem)), add
    )
    with _float32_policy():
        built = build_from_config(registry, name, config)
        ordered = _copy_weights(built, archive, add)
        optimizer = _optimizer(registry, config, built, ordered, archive, add)
    provider = registry.provider("model", name)
    model_state = ModelState(
        model=name,
        model_distribution=provider.distribution if provider is not None else "?",
        model_version=provider.version if provider is not None else "?",
        iterations=state.iterations,
        lowest_avg_loss=state.lowest_avg_loss,
        lr_finder=state.lr_finder,
        config=config.stored_sections(name, descriptor.config_class),
        sessions=_sessions(state),
    )
    _write(target, built, model_state, optimizer)
    return ImportResult(
        model_dir=target,
        model_name=name,
        iterations=state.iterations,
        weights=len(ordered),
        sessions=len(model_state.sessions),
        optimizer_imported=optimizer is not None,
        notes=tuple(notes),
    )
