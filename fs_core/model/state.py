"""``state.toml``: what a model is, how it was configured at creation, and its training history.

The file is the model's memory across sessions (README.md, "The model folder"): total
iterations, the lowest average loss (for backups), the learning rate the LR finder found, the
options stored at creation (locked ones win on resume) and one ``[[sessions]]`` entry per training
run.
"""

from __future__ import annotations

import datetime as _dt
import tomllib
from pathlib import Path
from typing import Any

import attrs
import tomli_w

from fs_core.atomic import atomic_write_bytes
from fs_core.errors import FsUserError
from fs_core.version import __version__

FORMAT = 1


def recovery_hint(path: str | Path, what: str = "it") -> str:
    """What to do about a damaged model file: restore the backup, unless it *is* the backup."""
    folder = Path(path).parent  # backups/<N>_iters/, or backups/ itself (before generations)
    if folder.name == "backups" or (
        folder.parent.name == "backups" and folder.name.endswith("_iters")
    ):
        return (
            "this is the backup itself; the model beside backups/ is untouched (a snapshot "
            "folder, if any, is another copy)"
        )
    return f"restore {what} from backups/ with 'fs restore'"


def now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


@attrs.define
class ModelState:
    model: str
    model_distribution: str = "?"
    model_version: str = "?"
    created: str = attrs.field(factory=now)
    iterations: int = 0
    lowest_avg_loss: float | None = None
    lr_finder: float | None = None
    config: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    sessions: list[dict[str, Any]] = attrs.field(factory=list)
    #: the schedule stage the model is in (``--schedule``): file, stage number, its ``at``
    schedule: dict[str, Any] | None = None
    #: where the weights came from (``--from-pretrained``): folder, model, its iterations, ...
    pretrained: dict[str, Any] | None = None
    #: the held-out faces (``--holdout``): count, file names per side, the best held-out loss
    holdout: dict[str, Any] | None = None
    fs_version: str = __version__
    format: int = FORMAT

    def to_toml(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": self.format,
            "fs_version": __version__,
            "model": {
                "name": self.model,
                "distribution": self.model_distribution,
                "version": self.model_version,
            },
            "created": self.created,
            "iterations": self.iterations,
        }
        if self.lowest_avg_loss is not None:
            data["lowest_avg_loss"] = float(self.lowest_avg_loss)
        if self.lr_finder is not None:
            data["lr_finder"] = float(self.lr_finder)
        if self.schedule is not None:
            data["schedule"] = dict(self.schedule)
        if self.pretrained is not None:
            data["pretrained"] = dict(self.pretrained)
        if self.holdout is not None:
            data["holdout"] = dict(self.holdout)
        data["config"] = self.config
        data["sessions"] = [{k: v for k, v in s.items() if v is not None} for s in self.sessions]
        return data

    @classmethod
    def from_toml(cls, data: dict[str, Any], path: str) -> ModelState:
        try:
            model = data["model"]
            state = cls(
                model=str(model["name"]),
                model_distribution=str(model.get("distribution", "?")),
                model_version=str(model.get("version", "?")),
                created=str(data.get("created", "")),
                iterations=int(data["iterations"]),
                lowest_avg_loss=data.get("lowest_avg_loss"),
                lr_finder=data.get("lr_finder"),
                config=dict(data.get("config", {})),
                sessions=list(data.get("sessions", [])),
                schedule=dict(data["schedule"]) if "schedule" in data else None,
                pretrained=dict(data["pretrained"]) if "pretrained" in data else None,
                holdout=dict(data["holdout"]) if "holdout" in data else None,
                fs_version=str(data.get("fs_version", "?")),
                format=int(data["format"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise FsUserError(
                f"model state is incomplete or damaged ({error!s}); {recovery_hint(path)}", path
            ) from None
        if state.format > FORMAT:
            raise FsUserError(
                f"model state format {state.format} is newer than this fs understands "
                f"({FORMAT}); upgrade fs-core",
                path,
            )
        if state.iterations < 0:
            raise FsUserError("model state has a negative iteration count", path)
        return state

    def new_session(self, batch_size: int, changeable: dict[str, Any]) -> dict[str, Any]:
        session = {
            "id": len(self.sessions) + 1,
            "start": now(),
            "end": None,
            "batch_size": batch_size,
            "iterations": 0,
            "examples_per_second": 0.0,
            "config": changeable,
        }
        self.sessions.append(session)
        return session


def read_state(path: str | Path) -> ModelState:
    """The state in the file ``path`` (a model folder's ``state.toml``: ask
    :func:`fs_core.folder.state.load_state` to read a folder's)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise FsUserError(
            f"model state is not valid TOML ({error}); {recovery_hint(path)}", path
        ) from None
    except UnicodeDecodeError:
        raise FsUserError(f"model state is not a text file; {recovery_hint(path)}", path) from None
    except OSError as error:
        raise FsUserError(f"cannot read model state: {error.strerror or error}", path) from None
    return ModelState.from_toml(data, str(path))


def write_state(path: str | Path, state: ModelState) -> None:
    """Write ``state`` to the file ``path``, atomically."""
    atomic_write_bytes(Path(path), tomli_w.dumps(state.to_toml()).encode())
