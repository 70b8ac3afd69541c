"""The held-out set (``fs train --holdout N``): faces never trained on, to see when to stop.

N faces per side are kept out of every training batch. They are chosen from the face set by a
hash of their file names (the same faces for the same folder, whatever order the files were
written in) and recorded in ``state.toml`` (``[holdout]``), so a resumed run holds out the same
faces: the recorded ones that are still there first, topped up in hash order when N grew or some
went missing. A model with a recorded held-out set keeps it when ``--holdout`` is not given;
``--holdout 0`` ends it.

At each save the model reconstructs the held-out faces (no augmentation; each side through its own
decoder) and their **held-out loss**, the mean absolute error in [0, 1] between the
reconstruction and the face, is shown in the status line, written to the session's entry in the
state, the training record's save event and TensorBoard (``holdout_a``, ``holdout_b``,
``holdout_total``). It is the same measure in every run, whatever loss functions the training
uses, so it answers "is the model still improving on faces it has not seen?". The plateau stop
(``[global] stop_plateau_iterations``) and the collapse guard's variance check read it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from fs_core.errors import FsUserError
from fs_core.stash import StashKey


@attrs.define
class HeldOut:
    """A run's held-out faces (prepared at the first save) and its latest results."""

    paths_a: tuple[str, ...]
    paths_b: tuple[str, ...]
    prepared: Any = None  # (PreviewFaces, PreviewFaces) once prepared
    #: (iteration, loss A, loss B) of the latest evaluation
    latest: tuple[int, float, float] | None = None


KEY: StashKey[HeldOut] = StashKey("holdout")


def hash_order(paths: Sequence[Path]) -> list[Path]:
    """``paths`` in the order of a hash of their file names: reproducible for a folder, and
    spread over it rather than its first frames."""
    return sorted(paths, key=lambda p: hashlib.sha256(p.name.encode()).hexdigest())


def choose(paths: Sequence[Path], count: int, recorded: Sequence[str] = ()) -> list[Path]:
    """The ``count`` faces to hold out: the ``recorded`` names still present, then hash order."""
    by_name = {p.name: p for p in paths}
    chosen = [by_name[name] for name in recorded if name in by_name][:count]
    for path in hash_order(paths):
        if len(chosen) >= count:
            break
        if path not in chosen:
            chosen.append(path)
    return chosen


def split(session: Any, faces_a: Any, faces_b: Any) -> tuple[Any, Any]:
    """The face sets to train on, without the held-out faces; records the held-out set in the
    state and the run's stash. Without a held-out set the sets come back unchanged."""
    asked = session.request.holdout
    recorded = session.state.holdout or {}
    count = int(recorded.get("count", 0)) if asked is None else int(asked)
    if count <= 0:
        if recorded and asked == 0:
            session.print("Held-out set: ended (--holdout 0); every face is trained on again")
        session.state.holdout = None
        return faces_a, faces_b
    sides = []
    for side, faces, flag in (("a", faces_a, "-A"), ("b", faces_b, "-B")):
        held = choose(faces.paths, count, recorded.get(side, ()))
        keep = tuple(p for p in faces.paths if p not in set(held))
        if len(keep) < session.local_batch_size:
            raise FsUserError(
                f"--holdout {count} leaves {len(keep)} faces of {flag} to train on, fewer than "
                f"the batch size {session.local_batch_size}; lower --holdout or -b",
                faces.folder,
            )
        sides.append((attrs.evolve(faces, paths=keep), held))
    (train_a, held_a), (train_b, held_b) = sides
    same_set = recorded.get("count") == count
    session.state.holdout = {  # the plateau's best carries over while the set is the same
        **{k: v for k, v in recorded.items() if same_set and k in ("best", "best_iteration")},
        "count": count,
        "a": [p.name for p in held_a],
        "b": [p.name for p in held_b],
    }
    session.stash[KEY] = HeldOut(paths_a=tuple(map(str, held_a)), paths_b=tuple(map(str, held_b)))
    session.print(f"Held-out set: {count} faces per side, never trained on")
    return train_a, train_b


def reconstruction_error(built: Any, faces: Any, side: str, batch_size: int) -> tuple[float, float]:
    """Mean absolute error in [0, 1] of ``side``'s reconstruction of ``faces``, and the ratio of
    the reconstructions' pixel spread to the faces' (near 0: a solid-colour collapse)."""
    from fs_core.preview.render import side_images  # noqa: PLC0415 (OpenCV: training.holdout loads without it)

    images = side_images(built, faces, side, batch_size)
    made = images.reconstructions.astype(np.float32) / 255.0
    target = images.targets.astype(np.float32) / 255.0
    spread = float(np.std(target, axis=(1, 2)).mean())
    ratio = float(np.std(made, axis=(1, 2)).mean()) / spread if spread > 0 else 1.0
    return float(np.mean(np.abs(made - target))), ratio


def evaluate(session: Any) -> tuple[float, float] | None:
    """At a save: the held-out loss per side (None without a held-out set), kept in the stash,
    the session record and the state; the plateau stop is checked here."""
    memory = session.stash.get(KEY, None)
    prepared = prepared_faces(session)
    if memory is None or prepared is None:
        return None
    batch = int(session.config.global_.convert_batchsize)
    (loss_a, _), (loss_b, _) = (
        reconstruction_error(session.built, faces, side, batch)
        for faces, side in zip(prepared, ("a", "b"), strict=True)
    )
    iteration = session.state.iterations
    memory.latest = (iteration, loss_a, loss_b)
    session.record["holdout"] = {"iteration": iteration, "a": loss_a, "b": loss_b}
    _check_plateau(session, iteration, loss_a + loss_b)
    return loss_a, loss_b


def prepared_faces(session: Any) -> Any:
    """The held-out faces of both sides, prepared as the preview prepares its faces (once per
    run), or None without a held-out set."""
    memory = session.stash.get(KEY, None)
    if memory is None:
        return None
    if memory.prepared is None:
        from fs_core.preview.render import faces_for  # noqa: PLC0415 (OpenCV: training.holdout loads without it)

        memory.prepared = tuple(
            faces_for(faces, list(paths), session.prepare_spec, session.config, session.built)
            for faces, paths in (
                (session.faces_a, memory.paths_a),
                (session.faces_b, memory.paths_b),
            )
        )
    return memory.prepared


def latest(session: Any) -> tuple[int, float, float] | None:
    """The latest held-out result of this run: (iteration, loss A, loss B), or None."""
    memory = session.stash.get(KEY, None)
    return memory.latest if memory is not None else None


def plateau(
    best: float | None, best_iteration: int, value: float, iteration: int, fraction: float
) -> tuple[float, int]:
    """The best held-out loss and where it was reached, after ``value`` at ``iteration``: only a
    fall of more than ``fraction`` of the best counts as an improvement."""
    if best is None or not math.isfinite(best) or value < best * (1.0 - fraction):
        return value, iteration
    return best, best_iteration


def _check_plateau(session: Any, iteration: int, total: float) -> None:
    """``[global] stop_plateau_iterations``: end the run (with its exit save) once the held-out
    loss has not improved by ``stop_plateau_fraction`` for that many iterations."""
    options = session.config.global_
    state = session.state.holdout
    best, best_iteration = plateau(
        state.get("best"),
        int(state.get("best_iteration", iteration)),
        total,
        iteration,
        float(options.stop_plateau_fraction),
    )
    state["best"], state["best_iteration"] = best, best_iteration
    window = int(options.stop_plateau_iterations)
    if window and iteration - best_iteration >= window and not session.stop_requested:
        session.print(
            f"\nHeld-out loss has not improved by {options.stop_plateau_fraction:.1%} over "
            f"{iteration - best_iteration:,} iterations (best {best:.5f} at {best_iteration:,}): "
            "stopping ([global] stop_plateau_iterations)"
        )
        session.record["stopped_by"] = "plateau"
        session.stop_requested = True
