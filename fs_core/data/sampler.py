"""Which faces go into each batch: an endless run of shuffled epochs per side.

Each side draws from a stream made of fresh random permutations of its faces, one after another; a
batch takes the next ``n`` indices, and what is left of a permutation carries over to the next
batch. So every face is used once per pass over its side, whatever the batch size, and the small
side of an unbalanced pair is simply cycled more often (faceswap's ``MultiDataset`` in
``lib/training/data/data_set.py`` runs epochs of max(len A, len B) with carried-over leftovers,
which gives the same use per face).

That is the default sampler (``epoch``). Samplers are a plugin kind (``fs_samplers``,
:class:`~fs_core.descriptors.SamplerDescriptor`): anything with ``take``/``upcoming``/``epoch``
(:class:`Sampler`) can pick the faces instead. :class:`BinnedSampler` draws evenly across bins of
faces (the built-in ``uniform_yaw`` bins them by yaw); :func:`choose_sampler` picks the one the
``[augmentation]`` options ask for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import attrs
import numpy as np

from fs_core.errors import FsUserError


class Sampler(Protocol):
    """What the loader draws each side's faces from (a sampler plugin's ``make`` returns one)."""

    epoch: int

    def take(self, n: int) -> np.ndarray:
        """The next ``n`` face indices (int64)."""
        ...

    def upcoming(self) -> np.ndarray:
        """Every index once, in the order draws will first ask for them (a hint: faces are made
        ready in this order); must not change what later draws give."""
        ...


@attrs.frozen
class SamplerInputs:
    """What a sampler is made from: the side ("a" or "b"), its face ``count``, the generator its
    draws must come from (seeded per side), the ``[augmentation]`` options, and the faces'
    landmarks (N, 68, 2) in crop pixels when the sampler ``needs_landmarks`` (else None)."""

    side: str
    count: int
    rng: np.random.Generator
    options: Any
    landmarks: np.ndarray | None = None


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


class BinnedSampler:
    """Faces drawn evenly across bins: a bin from shuffled passes over the non-empty bins, then the
    bin's next face from shuffled passes over its members (DeepFaceLab's ``Index2DHost``, which its
    ``uniform_yaw`` uses). A face alone in its bin is drawn as often as a whole crowded bin.

    ``bins``: int (N,), each face's bin number (any integers; empty bins do not exist). The
    streams' generators are seeded from ``rng`` when the sampler is made, so the draws are a
    function of the seed.
    """

    def __init__(self, bins: np.ndarray, rng: np.random.Generator) -> None:
        bins = np.asarray(bins, np.int64)
        if bins.ndim != 1 or len(bins) < 1:
            raise ValueError("a binned sampler needs at least one face")
        self.count = len(bins)
        labels, inverse = np.unique(bins, return_inverse=True)
        self.members = [np.flatnonzero(inverse == number) for number in range(len(labels))]
        # one child generator per stream, seeded now: a stream's draws then never depend on when
        # another stream drew (upcoming() may draw a bin's next pass early)
        seeds = rng.integers(0, 2**63, size=len(labels) + 1)
        self._bins = EpochSampler(len(labels), np.random.default_rng(int(seeds[-1])))
        self._within = [
            EpochSampler(len(members), np.random.default_rng(int(seed)))
            for members, seed in zip(self.members, seeds)
        ]
        self._drawn = 0
        self.epoch = 0  # draws so far // faces: passes' worth of faces drawn

    def take(self, n: int) -> np.ndarray:
        """The next ``n`` indices: ``n`` bins, then one face from each."""
        chosen = self._bins.take(n)
        out = np.empty(len(chosen), np.int64)
        for position, number in enumerate(chosen):
            out[position] = self.members[number][self._within[number].take(1)[0]]
        self._drawn += len(out)
        self.epoch = self._drawn // self.count
        return out

    def upcoming(self) -> np.ndarray:
        """Every face once: round-robin over the bins in their coming order, each bin's faces in
        their coming order (how draws spread over the bins, as a preparation hint)."""
        per_bin = [
            self.members[number][self._within[number].upcoming()]
            for number in self._bins.upcoming()
        ]
        longest = max(len(members) for members in per_bin)
        grid = np.full((len(per_bin), longest), -1, np.int64)
        for row, members in enumerate(per_bin):
            grid[row, : len(members)] = members
        flat = grid.T.ravel()
        return flat[flat >= 0]


DEFAULT_SAMPLER = "epoch"


def choose_sampler(samplers: Mapping[str, Any], options: Any, path: str | None = None) -> Any:
    """The sampler descriptor the ``[augmentation]`` options ask for, or None for the built-in
    :class:`EpochSampler`: the one named by ``sampler`` (when not "epoch") and/or the ones whose
    ``enabled(options)`` is true (``uniform_yaw = true``). Two different ones, or an unknown name,
    are a user error naming ``path`` (the config file)."""
    wanted = {name for name, descriptor in samplers.items() if descriptor.enabled(options)}
    named = str(getattr(options, "sampler", DEFAULT_SAMPLER))
    if named != DEFAULT_SAMPLER:
        if named not in samplers:
            known = ", ".join(sorted(set(samplers) | {DEFAULT_SAMPLER}))
            raise FsUserError(
                f"[augmentation] sampler: no sampler '{named}' is installed (known: {known})",
                path,
            )
        wanted.add(named)
    if len(wanted) > 1:
        raise FsUserError(
            f"[augmentation] asks for more than one sampler ({', '.join(sorted(wanted))}); "
            "turn all but one off",
            path,
        )
    if wanted:
        return samplers[wanted.pop()]
    return samplers.get(DEFAULT_SAMPLER)
