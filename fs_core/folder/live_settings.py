"""``MODEL_DIR/settings.toml``: the settings a user changed while training (``fs set``, the GUI).

They must outlast the run that applied them: Stop and Resume, or any later ``fs train`` of the
model, applies them over the config file until ``fs set --reset`` forgets them. The file keeps,
beside each value, the value it replaced when it was first set, so ``fs set --list`` can say what
each one overrides. Names are the schedule's (``"section.key"``, or a run setting such as
``batch_size``). Written atomically; an empty set of settings removes the file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
import tomli_w

from fs_core.atomic import atomic_write_bytes
from fs_core.errors import FsUserError
from fs_core.folder.layout import live_settings_file

_HEADER = (
    "# Settings changed while training (fs set, or the Settings tab of fs gui). Every fs train of\n"
    "# this model applies them over its config file. Forget them with:\n"
    "#   fs set -m MODEL_DIR --reset KEY   (or --reset all)\n"
)


@attrs.frozen
class LiveSettings:
    """The stored settings (``"section.key"`` -> value) and what each replaced when first set."""

    values: Mapping[str, Any] = attrs.field(factory=dict)
    replaced: Mapping[str, Any] = attrs.field(factory=dict)

    def updated(self, changes: Mapping[str, tuple[Any, Any]]) -> LiveSettings:
        """With ``changes`` (key -> (old, new)) set; a key's first old value is kept."""
        values, replaced = dict(self.values), dict(self.replaced)
        for key, (old, new) in changes.items():
            values[key] = new
            if key not in replaced and old is not None:
                replaced[key] = old
        return LiveSettings(values, replaced)

    def forgetting(self, keys: Iterable[str]) -> LiveSettings:
        """Without ``keys`` ("all": without any)."""
        keys = set(keys)
        if "all" in keys:
            return LiveSettings()
        return LiveSettings(
            {k: v for k, v in self.values.items() if k not in keys},
            {k: v for k, v in self.replaced.items() if k not in keys},
        )


def read_live_settings(model_dir: str | Path) -> LiveSettings:
    """The stored settings (none when the file does not exist); a damaged file is an
    FsUserError naming it and how to start again without it."""
    path = live_settings_file(model_dir)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return LiveSettings()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise FsUserError(
            f"cannot read the changed settings ({error}); delete the file to forget them", path
        ) from None
    values, replaced = data.get("settings", {}), data.get("replaced", {})
    if not isinstance(values, dict) or not isinstance(replaced, dict):
        raise FsUserError(
            "[settings] and [replaced] must be tables; delete the file to forget them", path
        )
    return LiveSettings(dict(values), {k: v for k, v in replaced.items() if k in values})


def write_live_settings(model_dir: str | Path, live: LiveSettings) -> None:
    """Store ``live`` (atomically); no settings: the file is removed."""
    path = live_settings_file(model_dir)
    if not live.values:
        path.unlink(missing_ok=True)
        return
    body = {"settings": dict(live.values)}
    if live.replaced:
        body["replaced"] = dict(live.replaced)
    atomic_write_bytes(path, (_HEADER + "\n" + tomli_w.dumps(body)).encode("utf-8"))
