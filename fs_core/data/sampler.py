"""Which faces go into each batch: an endless run of shuffled epochs per side.

Each side draws from a stream made of fresh random permutations of its faces, one after another; a
batch takes the next ``n`` indices, and what is left of a permutation carries over to the next
batch. So every face is used once per pass over its side, whatever the batch size, and the small
side of an unbalanced pair is simply cycled more often (faceswap's ``MultiDataset`` in
``lib/training/data/data_set.py`` runs epochs of max(len A, len B) with carried-over leftovers,
which gives the same use per face).
"""

from __future__ import annotations

import numpy as np


class EpochSampler:
    """Indices 0..count−1 in shuffled epochs, drawn ``take(n)`` at a time.

    Not thread-safe by design: the loader draws every batch's indices in order in one thread, which
    is what makes the batches a function of the seed alone.
    """

    def __init__(self, count: int, rng: np.random.Generator) -> None:
        if count < 1:
            raise ValueError("an epoch sampler needs at least one face")
        self.count = count
        self._rng = rng
        self._order = np.empty(0, np.int64)
        self._position = 0
        self.epoch = 0  # completed passes over the faces

    def take(self, n: int) -> np.ndarray:
        """The next ``n`` indices (int64), starting a new shuffled epoch whenever one runs out."""
        parts = []
        needed = n
        while needed > 0:
            self._next_epoch_if_done()
            chunk = self._order[self._position : self._position + needed]
            self._position += len(chunk)
            needed -= len(chunk)
            parts.append(chunk)
        return np.concatenate(parts) if parts else np.empty(0, np.int64)

    def upcoming(self) -> np.ndarray:
        """Every index once, in the order draws will first ask for them: the rest of this epoch,
        then the indices it has given already (a later epoch asks for those). Drawing afterwards
        gives what it would have given without this call."""
        self._next_epoch_if_done()
        return np.concatenate(
            [self._order[self._position :], self._order[: self._position]]
        ).astype(np.int64)

    def _next_epoch_if_done(self) -> None:
        if self._position == len(self._order):
            if len(self._order):
                self.epoch += 1
            self._order = self._rng.permutation(self.count)
            self._position = 0
