"""Pretraining: a base model trained on one generic face set, and new models started from it.

``fs train --pretrain -A GENERIC_FACES`` trains both sides on the same faces, so the encoder and
both decoders learn faces in general rather than two people; the result is an ordinary model folder.
``fs train --from-pretrained BASE_DIR`` starts a *new* model from such a base: every part whose
variables match in name and shape is copied (the rest keep their fresh initial values and are
reported), the iteration count starts at 0 and the state records where the weights came from.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from fs_core.errors import FsUserError
from fs_core.folder.layout import STATE_FILE, WEIGHTS_FILE, state_file, weights_file
from fs_core.folder.state import load_state
from fs_core.model.state import now
from fs_core.model.weights import load_weights, model_groups, parts_of

if TYPE_CHECKING:
    from fs_core.training.session import TrainingSession

FLAG = "--from-pretrained"


def load_pretrained(session: TrainingSession, notify: Callable[[str], None]) -> None:
    """Copy every compatible part of the base model into the new model and record the source
    in ``state.toml`` (``[pretrained]``: folder, model, its iterations, when)."""
    assert session.request.from_pretrained is not None  # called only with --from-pretrained
    source = Path(session.request.from_pretrained)
    if not weights_file(source).is_file() or not state_file(source).is_file():
        raise FsUserError(f"{FLAG}: not a model folder (no {WEIGHTS_FILE} or {STATE_FILE})", source)
    base = load_state(source)
    model = session.built.model
    parts = sorted(parts_of(model))
    skipped = load_weights(
        weights_file(source),
        model,
        model_name=session.built.name,
        parts=parts,
        strict=False,
        renamed_parts=session.built.descriptor.legacy_part_names,
    )
    groups = model_groups(model)
    copied = [
        name
        for name in parts
        if not any(key.startswith(f"{name}/") for key in skipped) and groups.get(name)
    ]
    partial = sorted({key.split("/", 1)[0] for key in skipped})
    notify(
        f"Started from the pretrained model {source} ({base.model}, {base.iterations:,} "
        f"iterations): copied {', '.join(copied) or 'no whole part'}"
        + (f"; not copied (names or shapes differ): {', '.join(partial)}" if partial else "")
    )
    session.state.pretrained = {
        "from": str(source.resolve()),
        "model": base.model,
        "iterations": base.iterations,
        "copied": copied,
        "when": now(),
    }
