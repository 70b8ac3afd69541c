"""The training preview: ``-w`` writes ``preview.png`` in the model folder at each save, ``-p``
shows it in a window when there is a display.

The preview faces are chosen and prepared once per run (no augmentation), so successive previews
show the same faces and differ only by what the model learned. Everything this plugin remembers
lives in ``session.stash[KEY]``.
"""

from __future__ import annotations

import os
from typing import Any

import attrs

from fs_core.folder.layout import preview_file
from fs_core.hookspecs import hookimpl
from fs_core.stash import StashKey

WINDOW = "fs preview"


@attrs.define
class PreviewMemory:
    """What the preview keeps for the run: how to draw, whether a window is open, the faces."""

    style: Any
    window: bool = False
    faces: tuple[Any, Any] | None = None


KEY: StashKey[PreviewMemory] = StashKey("preview")


def display_available() -> bool:
    """A window can open: a display server is named and this OpenCV was built with a GUI
    (opencv-python-headless has none)."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    import cv2  # noqa: PLC0415 (OpenCV: builtins.preview loads without it)

    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            return line.split(":", 1)[1].strip().upper() not in ("", "NONE")
    return False


def _wanted(session: Any) -> bool:
    """-w or -p, on the chief (other workers of a distributed run show and write nothing)."""
    return bool(session.request.write_image or session.request.preview) and session.is_chief


@hookimpl
def fs_train_start(session: Any) -> None:
    if not _wanted(session):
        return
    from fs_core.preview.render import session_faces, style_of  # noqa: PLC0415 (OpenCV: builtins.preview loads without it)

    memory = PreviewMemory(style=style_of(session.config, session.built))
    if session.request.preview:
        if display_available():
            memory.window = True
        else:
            session.print(
                "Preview: no display here (DISPLAY/WAYLAND_DISPLAY unset or OpenCV has no "
                "GUI); use -w to write preview.png in the model folder instead."
            )
    if memory.window or session.request.write_image:
        memory.faces = session_faces(session)
        session.stash[KEY] = memory


def render(session: Any) -> Any:
    """The preview image for the model as it is now (uint8 BGR), or None when not asked for."""
    memory = session.stash.get(KEY, None)
    if memory is None or memory.faces is None:
        return None
    from fs_core.preview.render import preview_image  # noqa: PLC0415 (OpenCV: builtins.preview loads without it)

    faces_a, faces_b = memory.faces
    return preview_image(
        session.built, faces_a, faces_b, memory.style, session.config.global_.convert_batchsize
    )


@hookimpl
def fs_save(session: Any, model_dir: str) -> None:
    image = render(session)
    if image is None:
        return
    if session.request.write_image:
        from fs_core.faces.images import write_image  # noqa: PLC0415 (OpenCV: builtins.preview loads without it)

        write_image(preview_file(model_dir), image)
    if session.stash[KEY].window:
        import cv2  # noqa: PLC0415 (OpenCV: builtins.preview loads without it)

        cv2.imshow(WINDOW, image)
        cv2.waitKey(1)


@hookimpl
def fs_train_end(session: Any) -> None:
    memory = session.stash.pop(KEY, None)
    if memory is not None and memory.window:
        import cv2  # noqa: PLC0415 (OpenCV: builtins.preview loads without it)

        cv2.destroyWindow(WINDOW)
        cv2.waitKey(1)
