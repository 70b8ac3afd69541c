"""The timelapse (``-x A -y B -z OUT``): the preview grid of a fixed set of faces at every save,
written as ``OUT/<unix time>.jpg``, so the files in name order show the model learning.

The faces are the first ``preview_images`` of each folder (sorted), prepared once per run with the
training crop and never augmented.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import attrs

from fs_core.errors import FsUserError
from fs_core.hookspecs import hookimpl
from fs_core.stash import StashKey
from fs_core.training.arguments import timelapse_wanted


@attrs.frozen
class TimelapseMemory:
    """The run's timelapse: the fixed faces of each side, where frames go, how to draw."""

    faces: tuple[Any, ...]
    out: Path
    style: Any


KEY: StashKey[TimelapseMemory] = StashKey("timelapse")


@hookimpl
def fs_train_start(session: Any) -> None:
    if not timelapse_wanted(session.request) or not session.is_chief:  # one writer of -z
        return
    from fs_core.faces.faceset import index_faceset  # noqa: PLC0415 (OpenCV: builtins.timelapse loads without it)
    from fs_core.preview.render import faces_for, style_of  # noqa: PLC0415 (OpenCV: builtins.timelapse loads without it)

    request = session.request
    count = session.config.augmentation.preview_images
    faces = []
    for folder in (request.timelapse_a, request.timelapse_b):
        faceset = index_faceset(folder)
        faces.append(
            faces_for(
                faceset,
                [str(p) for p in faceset.paths[:count]],
                session.prepare_spec,
                session.config,
                session.built,
            )
        )
    out = Path(request.timelapse_out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FsUserError(
            f"cannot create the timelapse folder: {error.strerror or error}", out
        ) from None
    session.stash[KEY] = TimelapseMemory(
        faces=tuple(faces), out=out, style=style_of(session.config, session.built)
    )


def frame_path(folder: Path, stamp: int | None = None) -> Path:
    """``<unix time>.jpg``; two saves in one second get ``<time>_1.jpg`` ... so none is lost."""
    stamp = int(time.time()) if stamp is None else stamp
    path, number = folder / f"{stamp}.jpg", 0
    while path.exists():
        number += 1
        path = folder / f"{stamp}_{number}.jpg"
    return path


@hookimpl
def fs_save(session: Any) -> None:
    memory = session.stash.get(KEY, None)
    if memory is None:
        return
    from fs_core.faces.images import write_image  # noqa: PLC0415 (OpenCV: builtins.timelapse loads without it)
    from fs_core.preview.render import preview_image  # noqa: PLC0415 (OpenCV: builtins.timelapse loads without it)

    faces_a, faces_b = memory.faces
    image = preview_image(
        session.built, faces_a, faces_b, memory.style, session.config.global_.convert_batchsize
    )
    write_image(frame_path(memory.out), image)


@hookimpl
def fs_train_end(session: Any) -> None:
    session.stash.pop(KEY, None)
