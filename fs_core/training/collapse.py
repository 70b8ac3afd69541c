"""The collapse guard (``[global] collapse_protection``, on by default).

The failure the guide describes: the previews turn to a solid colour and the loss jumps and never
recovers, usually long before anything becomes NaN. Two cheap signs are watched:

* **a sustained loss jump**: the median of the last ``collapse_window`` iterations' loss (A + B)
  above ``collapse_factor`` times the median of the iterations before them (up to four windows).
  Medians, so a few noisy batches neither trigger it nor hide a real jump; a loss that *falls*
  never triggers it, and each session (each schedule stage) starts its watch afresh, so a stage
  that changes the loss functions is not mistaken for a collapse.
* **reconstructions losing their variance**, checked just before each save: the pixel spread of
  the model's reconstructions of a few faces (the held-out ones, else a few training faces) fell
  under :data:`VARIANCE_FLOOR` of the faces' own spread, having been at least
  :data:`VARIANCE_SEEN` at an earlier save (a new model's grey first outputs are not a collapse).

Either one restores the last backup (or the last save), multiplies the learning rate by
``nan_lr_factor`` as NaN recovery does (:func:`fs_core.training.nan_recovery.restore_last_good`),
records it in the session (``collapse_rollbacks``), tells the plugins (``fs_collapse``: the
training record writes a ``collapse`` event), says so in the status output and the log, and goes
on; after ``collapse_max_rollbacks`` in one session it only warns.
"""

from __future__ import annotations

import collections
from typing import Any

import attrs
import numpy as np

from fs_core.preview.faces import pick_evenly
from fs_core.preview.render import faces_for
from fs_core.stash import StashKey
from fs_core.training import holdout
from fs_core.training.nan_recovery import restore_last_good

#: reconstructions whose spread is under this share of the faces' spread have collapsed ...
VARIANCE_FLOOR = 0.1
#: ... once an earlier save of the run saw at least this share
VARIANCE_SEEN = 0.3
PROBE_FACES = 4  # per side, when there is no held-out set


@attrs.define
class Watch:
    """The run's recent losses and the reconstructions' spread at the last save."""

    losses: collections.deque
    spread: float | None = None
    probe: Any = None  # (PreviewFaces, PreviewFaces) when there is no held-out set
    exhausted: bool = False  # the rollback limit was reached and said so


KEY: StashKey[Watch] = StashKey("collapse guard")


def _watch(session: Any) -> Watch:
    window = int(session.config.global_.collapse_window)
    memory = session.stash.get(KEY, None)
    if memory is None or memory.losses.maxlen != 5 * window:
        memory = Watch(losses=collections.deque(maxlen=5 * window))
        session.stash[KEY] = memory
    return memory


def jumped(losses: collections.deque, window: int, factor: float) -> tuple[float, float] | None:
    """(recent level, current level) when the last ``window`` losses' median is above ``factor``
    times the median of those before them (at least ``window`` of them), else None."""
    if len(losses) < 2 * window:
        return None
    values = np.asarray(losses, np.float64)
    before, current = float(np.median(values[:-window])), float(np.median(values[-window:]))
    return (before, current) if current > factor * before else None


def watch(session: Any, losses: dict[str, float]) -> bool:
    """After each iteration: True when a sustained loss jump made the guard roll back."""
    options = session.config.global_
    if not options.collapse_protection:
        return False
    memory = _watch(session)
    memory.losses.append(losses["loss_a"] + losses["loss_b"])
    window = int(options.collapse_window)
    found = jumped(memory.losses, window, float(options.collapse_factor))
    if found is None:
        return False
    before, current = found
    why = (
        f"loss {current:.5f} over the last {window} iterations, {current / before:.1f}x its "
        f"recent level {before:.5f}"
    )
    return _roll_back(session, "loss jump", why)


def before_save(session: Any) -> bool:
    """Just before a save: True when the reconstructions lost their variance and the guard
    rolled back (the save then holds the restored weights)."""
    if not session.config.global_.collapse_protection:
        return False
    memory = _watch(session)
    spread = _spread(session, memory)
    if spread is None:
        return False
    seen, memory.spread = memory.spread, spread
    if seen is None or seen < VARIANCE_SEEN or spread >= VARIANCE_FLOOR:
        return False
    why = (
        f"the reconstructions' spread fell to {spread:.0%} of the faces' (it was {seen:.0%}): "
        "they are turning to a solid colour"
    )
    return _roll_back(session, "variance lost", why)


def _spread(session: Any, memory: Watch) -> float | None:
    """The reconstructions' pixel spread as a share of the faces', the smaller of the sides."""
    faces = holdout.prepared_faces(session)
    if faces is None:
        if memory.probe is None:
            memory.probe = _probe_faces(session)
        faces = memory.probe
    if faces is None:
        return None
    batch = int(session.config.global_.convert_batchsize)
    ratios = [
        holdout.reconstruction_error(session.built, side_faces, side, batch)[1]
        for side_faces, side in zip(faces, ("a", "b"), strict=True)
    ]
    return min(ratios)


def _probe_faces(session: Any) -> Any:
    """A few training faces per side, spread over each set (the preview's choice)."""
    if session.faces_a is None or session.faces_b is None or session.prepare_spec is None:
        return None

    return tuple(
        faces_for(
            faces,
            pick_evenly(faces.paths, PROBE_FACES),
            session.prepare_spec,
            session.config,
            session.built,
        )
        for faces in (session.faces_a, session.faces_b)
    )


def _roll_back(session: Any, kind: str, why: str) -> bool:
    options = session.config.global_
    memory = _watch(session)
    done = session.record.setdefault("collapse_rollbacks", [])
    iteration = session.state.iterations
    if len(done) >= options.collapse_max_rollbacks:
        if not memory.exhausted:
            memory.exhausted = True
            _say(
                session,
                f"Collapse guard: {why} at iteration {iteration}; no rollbacks left "
                f"(collapse_max_rollbacks = {options.collapse_max_rollbacks}): restore a backup "
                "with 'fs restore' or lower [global] learning_rate",
            )
        return False
    restored = restore_last_good(session, float(options.nan_lr_factor))
    if restored is None:
        if not memory.exhausted:
            memory.exhausted = True
            _say(session, f"Collapse guard: {why} at iteration {iteration}; nothing saved yet")
        return False
    restored_to, source = restored
    entry = {
        "iteration": iteration,
        "cause": kind,
        "restored_to": restored_to,
        "from": source,
        "learning_rate": session.base_learning_rate,
    }
    done.append(entry)
    memory.losses.clear()
    memory.spread = None
    _say(
        session,
        f"Collapse guard: {why} at iteration {iteration}; rolled back to {restored_to} "
        f"iterations ({source}), learning rate now {session.base_learning_rate:.3g} "
        f"(rollback {len(done)} of {options.collapse_max_rollbacks})",
    )
    _record_event(session, entry)
    return True


def _say(session: Any, message: str) -> None:
    """To the console and, through the run's message channel, the -F log and the record."""
    session.print("\n" + message)


def _record_event(session: Any, entry: dict[str, Any]) -> None:
    """Tell the plugins (``fs_collapse``): the training record writes a ``collapse`` event for
    ``fs gui``."""
    session.registry.hook().fs_collapse(session=session, event=dict(entry))
