"""Model folders written by a test without training: a record (``fs_core.record.writer``) with
progress at chosen iterations and preview images, as a trainer leaves them. The GUI's compare
tests read them through the server like any model."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fs_core.folder.layout import previews_dir
from fs_core.record.writer import RecordWriter


def write_model(
    folder: Path,
    points: Sequence[tuple[int, float, float]],
    preview_at: Sequence[int] = (),
    model: str = "lightweight",
) -> Path:
    """A finished one-session model in ``folder``: progress ``(iteration, loss_a, loss_b)`` for
    each point, then the end; a preview PNG (a flat 16x48 picture) at each ``preview_at``."""
    import cv2

    writer = RecordWriter(folder, session=1)
    last = points[-1][0] if points else 0
    writer.write(
        "session_start",
        iteration=0,
        target=last,
        batch_size=2,
        model=model,
        pid=os.getpid(),
        host=socket.gethostname(),
        save_interval=100,
        snapshot_interval=0,
        argv=[],
    )
    previous = 0
    for iteration, loss_a, loss_b in points:
        writer.write(
            "progress",
            iteration=iteration,
            session_iterations=iteration,
            elapsed=iteration / 10,
            loss_a=loss_a,
            loss_b=loss_b,
            examples_per_second=20.0,
            count=iteration - previous,
            losses={"loss_a": loss_a, "loss_b": loss_b},
        )
        previous = iteration
    writer.write("end", iteration=last, reason="done", error=None)
    writer.close()
    shown = previews_dir(folder)
    shown.mkdir(parents=True, exist_ok=True)
    for iteration in preview_at:
        picture = np.full((16, 48, 3), (iteration // 10) % 255, np.uint8)
        cv2.imwrite(str(shown / f"{iteration:09d}.png"), picture)
    return folder
