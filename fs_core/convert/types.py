"""Types shared by the parts of ``fs convert``: what a frame source is, and what a writer does.

They live apart from the source, driver and writer modules so a plugin pack that adds a writer
(:class:`fs_core.descriptors.WriterDescriptor`) can import them without importing the rest of
convert, and so the two sides of convert (reading frames, writing them) agree on one contract.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

# defined with the frame reader (fs extract reads frames too); its public home for writers is here
from fs_core.media.frames import SourceInfo


@runtime_checkable
class FrameWriter(Protocol):
    """An open output. The driver calls :meth:`write` for every frame, in index order for a
    stream writer, then :meth:`close` once, or :meth:`abort` if the run stops early.

    A writer must never leave anything that looks finished when it did not finish: image writers
    write each file under a temporary name and rename it; a video writer writes a temporary file
    that :meth:`close` renames and :meth:`abort` deletes.
    """

    def write(self, index: int, key: str, frame: np.ndarray) -> None:
        """Write frame ``index`` (0-based position in the source) whose alignments key is
        ``key``; ``frame`` is uint8 BGR (H, W, 3)."""
        ...

    def close(self) -> None:
        """Finish the output so that it appears complete (flush, rename into place)."""
        ...

    def abort(self) -> None:
        """Stop without finishing: remove what would look complete but is not."""
        ...


__all__ = ["FrameWriter", "SourceInfo"]
