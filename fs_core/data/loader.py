"""The training batch loader: worker threads build augmented batches ahead of the train step.

Why threads and not processes: the per-face work is OpenCV and numpy calls that release the GIL,
the faces are cached once in this process's memory (no copies per worker), and a thread that fails
is simply a future whose exception the consumer re-raises.

Determinism: the consumer thread draws every batch's face indices in order (one epoch sampler per
side) and gives batch ``i`` its own generators seeded from ``(seed, i, side)``; workers only
compute, and batches are handed out in the order they were asked for. So the batches depend on the
seed alone, never on thread timing or the worker count.

Warp-to-landmarks context: when an enabled augmenter ``needs_landmarks``, the loader finds the
nearest other-side faces of every face once at start (:mod:`fs_core.data.neighbours`) and puts each
batch's candidates in :attr:`AugmentBatch.neighbours`.

Other-side faces: when an enabled augmenter of a side ``needs_other_side`` (colour transfer), the
consumer thread also draws, per batch of that side, one face of the other side per face from its own
shuffled passes (seeded like the rest) and the batch carries them in :attr:`AugmentBatch.others`.
With no such augmenter nothing extra is drawn, so the batches are those of a loader without them.

Samplers: which faces a batch takes comes from a sampler plugin (``sampler``, a
:class:`~fs_core.descriptors.SamplerDescriptor`; None: shuffled epochs), one per side.
"""

from __future__ import annotations

import collections
import os
import weakref
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, cast

import numpy as np

from fs_core.config.sections import AugmentationOptions
from fs_core.data.assemble import SidePlan, build_side, order_augmenters
from fs_core.data.background import BackgroundFaces, open_side
from fs_core.data.batch import AugmentBatch, OtherSideFaces, TrainingBatch
from fs_core.data.cache import FaceCache, PrepareFn
from fs_core.data.neighbours import DEFAULT_NEIGHBOURS, nearest_faces
from fs_core.data.sampler import EpochSampler, Sampler, SamplerInputs
from fs_core.descriptors import SamplerDescriptor
from fs_core.errors import FsUserError
from fs_core.faces.prepare import check_faceset, check_landmark_augmenters

SIDES = ("a", "b")


def _shutdown(
    executor: ThreadPoolExecutor | None, pending: collections.deque, caches: tuple = ()
) -> None:
    for future in pending:
        future.cancel()
    pending.clear()
    if executor is not None:
        executor.shutdown(wait=True, cancel_futures=True)
    for cache in caches:  # faces still being made ready stop, and go to the face cache
        cache.close()


def _other(side: str) -> str:
    return SIDES[1 - SIDES.index(side)]


def default_loader_workers() -> int:
    """Half the machine's cores, 2 to 8: two threads give about 4,000 faces/s at 64 px on one
    server core pair, which a CPU never uses up but a GPU training Original at a large batch can;
    half the cores leaves the rest to the framework feeding the GPU. Batches do not depend on
    it (each one's generators come from the seed), so a seeded run repeats on any machine."""
    return max(2, min(8, (os.cpu_count() or 2) // 2))


class BatchLoader:
    """Endless iterator of :data:`TrainingBatch` dicts of numpy arrays, built by worker threads.

    ``cache_a``/``cache_b``: the two sides' faces (same process size P), a :class:`FaceCache` or
    a :class:`BackgroundFaces` (made ready while training runs; the loader owns it and closes it).
    ``batch_size``: faces per side. ``input_size``, ``output_sizes`` (smallest first): the model's.
    ``mask_names``: the mask channels each batch carries (None: all the caches have).
    ``augmenters``: :class:`~fs_core.descriptors.AugmenterDescriptor` s; the ones ``enabled`` under
    ``options`` (an ``AugmentationOptions``) run, by stage. ``color_order``: "bgr" or "rgb" (the
    model's). ``seed``: batches are a function of it alone. ``workers``: threads (0 builds each
    batch in ``next()``; None: :func:`default_loader_workers`). ``prefetch``: batches built ahead
    (default 2 per worker, at least 1).
    ``neighbours``: how many nearest other-side faces warp-to-landmarks picks from.
    ``sampler``: the :class:`~fs_core.descriptors.SamplerDescriptor` that picks each side's faces
    (None: shuffled epochs, :class:`EpochSampler`).

    Use as a context manager, or call :meth:`close`; an exception in a worker is raised from
    ``next()`` after the loader has shut down.
    """

    def __init__(
        self,
        cache_a: FaceCache | BackgroundFaces,
        cache_b: FaceCache | BackgroundFaces,
        *,
        batch_size: int,
        input_size: int,
        output_sizes: Sequence[int],
        mask_names: Sequence[str] | None = None,
        augmenters: Sequence[Any] = (),
        options: Any = None,
        color_order: str = "bgr",
        seed: int = 0,
        workers: int | None = None,
        prefetch: int | None = None,
        neighbours: int = DEFAULT_NEIGHBOURS,
        sampler: SamplerDescriptor | None = None,
    ) -> None:
        if options is None:
            options = AugmentationOptions()
        self.caches = {"a": cache_a, "b": cache_b}
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self._check_sizes(input_size, output_sizes)
        names = tuple(cache_a.mask_names if mask_names is None else mask_names)
        for cache in self.caches.values():
            missing = [name for name in names if name not in cache.mask_names]
            if missing:
                raise FsUserError(
                    f"the faces were prepared without the mask(s) {', '.join(missing)} "
                    "that training needs",
                    cache.source,
                )
        self.plan = SidePlan(
            input_size=int(input_size),
            output_sizes=tuple(int(s) for s in output_sizes),
            mask_names=names,
            augmenters=order_augmenters(augmenters, options),
            options=options,
            color_order=color_order,
        )
        self._neighbours = self._find_neighbours(neighbours)
        self._samplers = {
            side: self._make_sampler(sampler, side, number) for number, side in enumerate(SIDES)
        }
        # per side whose augmenters want other-side faces: a sampler over the other side
        self._other_samplers = {
            side: EpochSampler(
                len(self.caches[other]),
                np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(2, number))),
            )
            for number, (side, other) in enumerate(zip(SIDES, reversed(SIDES)))
            if any(aug.needs_other_side and side in aug.sides for aug in self.plan.augmenters)
        }
        self._next_index = 0
        if workers is None:
            workers = default_loader_workers()
        self._prefetch = max(1, prefetch if prefetch is not None else 2 * workers)
        self._pending: collections.deque[Future] = collections.deque()
        # which faces each pending batch holds, in step with _pending
        self._pending_faces: collections.deque[dict[str, np.ndarray]] = collections.deque()
        #: the face indices (into each side's face list) of the batch ``next()`` returned last,
        #: in the batch's order: per-face losses are credited to these faces
        self.last_faces: dict[str, np.ndarray] = {}
        self._executor = (
            ThreadPoolExecutor(workers, thread_name_prefix="fs-loader") if workers > 0 else None
        )
        self._closed = False
        self._started = False
        self._served = 0
        self._finalizer = weakref.finalize(
            self, _shutdown, self._executor, self._pending, tuple(self.caches.values())
        )

    @classmethod
    def from_facesets(
        cls,
        faces_a: Any,
        faces_b: Any,
        spec: Any,
        *,
        prepare: PrepareFn | None = None,
        memory_budget: int | None = None,
        cache_workers: int | None = None,
        **loader_args: Any,
    ) -> BatchLoader:
        """Cache two indexed face sets (``fs_core.faces.faceset.FaceSet``) at ``spec.size`` and make
        the loader. ``prepare`` defaults to read + ``prepare_face`` with ``spec`` (a
        ``PrepareSpec``); each set is checked against ``spec`` first (``check_faceset``) so a set
        that cannot give the masks asked for fails before any face is decoded, and so is a set
        without 68-point landmarks when an enabled augmenter needs landmarks (warp to landmarks,
        as faceswap: ``check_landmark_augmenters``). ``memory_budget`` is per side;
        ``loader_args`` are the constructor's keywords."""
        options = loader_args.get("options")
        if options is None:
            options = AugmentationOptions()
        enabled = order_augmenters(loader_args.get("augmenters", ()), options)
        needing = [aug.name for aug in enabled if aug.needs_landmarks]
        for faces in (faces_a, faces_b):
            check_landmark_augmenters(faces, needing)
        if prepare is None:
            for faces in (faces_a, faces_b):
                check_faceset(faces, spec)
            sides = [
                open_side(faces, spec, memory_budget=memory_budget, workers=cache_workers)
                for faces in (faces_a, faces_b)
            ]
            return cls(*sides, **loader_args)
        caches = [
            FaceCache(
                faces.paths,
                spec.size,
                prepare,
                mask_names=tuple(spec.mask_names),
                memory_budget=memory_budget,
                workers=cache_workers,
                source=faces.folder,
            )
            for faces in (faces_a, faces_b)
        ]
        return cls(*caches, **loader_args)

    # ------------------------------------------------------------------ set-up

    def _check_sizes(self, input_size: int, output_sizes: Sequence[int]) -> None:
        sizes = [self.caches[side].size for side in SIDES]
        if sizes[0] != sizes[1]:
            raise ValueError(f"both sides must be prepared at one size, got {sizes}")
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if not output_sizes or list(output_sizes) != sorted(output_sizes):
            raise ValueError(f"output_sizes must be given smallest first, got {list(output_sizes)}")
        if max(input_size, *output_sizes) > sizes[0]:
            raise ValueError(
                f"faces prepared at {sizes[0]} px cannot feed sizes "
                f"{input_size} / {list(output_sizes)}; prepare at the largest"
            )

    def _check_needs(self) -> None:
        """Refuse, before any batch, augmenters whose needs (masks, landmarks) a face set lacks."""
        for aug in self.plan.augmenters:
            for cache in self.caches.values():
                if aug.needs_masks and "face" not in cache.mask_names:
                    raise FsUserError(
                        f"augmenter '{aug.name}' needs the face mask: set [global.mask] "
                        "mask_type (not none) with penalized_mask_loss or learn_mask on",
                        cache.source,
                    )
                if aug.needs_landmarks and not cache.has_landmarks:
                    raise FsUserError(
                        f"augmenter '{aug.name}' needs landmarks, and these faces have "
                        "none (plain crops); use faceswap-extracted faces or turn it "
                        "off",
                        cache.source,
                    )

    def _make_sampler(
        self, descriptor: SamplerDescriptor | None, side: str, number: int
    ) -> Sampler:
        """The side's sampler, seeded from ``(seed, 0, side number)`` as the epoch sampler always
        was (so the default draws are unchanged)."""
        cache = self.caches[side]
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(0, number)))
        if descriptor is None:
            return EpochSampler(len(cache), rng)
        landmarks = None
        if descriptor.needs_landmarks:
            if not cache.has_landmarks:
                raise FsUserError(
                    f"sampler '{descriptor.name}' needs landmarks, and these faces have none "
                    "(plain crops); use faceswap-extracted faces or turn it off",
                    cache.source,
                )
            landmarks = cache.landmarks_table()
        return cast(
            Sampler,
            descriptor.make(
                SamplerInputs(
                    side=side,
                    count=len(cache),
                    rng=rng,
                    options=self.plan.options,
                    landmarks=landmarks,
                )
            ),
        )

    def _find_neighbours(self, count: int) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
        """Per side: which ``count`` faces of the other side are nearest each face (index table) and
        the other side's landmarks; only when an enabled augmenter needs landmarks."""
        self._check_needs()
        if not any(aug.needs_landmarks for aug in self.plan.augmenters):
            return None
        # _check_needs made sure both sides have landmarks
        tables = {side: cast(np.ndarray, self.caches[side].landmarks_table()) for side in SIDES}
        return {
            side: (nearest_faces(tables[side], tables[other], count), tables[other])
            for side, other in zip(SIDES, reversed(SIDES))
        }

    # ------------------------------------------------------------------ iteration

    def __iter__(self) -> BatchLoader:
        return self

    def __next__(self) -> TrainingBatch:
        if self._closed:
            raise StopIteration
        if self._served == 1:
            # the second batch: training's first step (its tracing) is done, so faces made
            # ready in the background may take the CPU now
            for cache in self.caches.values():
                cache.resume()
        self._served += 1
        if self._executor is None:
            index, chosen, others = self._draw()
            self.last_faces = chosen
            return self._build(index, chosen, others)
        while len(self._pending) < self._prefetch:
            index, chosen, others = self._draw()
            self._pending.append(self._executor.submit(self._build, index, chosen, others))
            self._pending_faces.append(chosen)
        future = self._pending.popleft()
        self.last_faces = self._pending_faces.popleft()
        try:
            return future.result()
        except BaseException:
            self.close()
            raise

    def skip(self, batches: int) -> None:
        """Continue a seeded sequence: draw (and drop) ``batches`` batches' faces without building
        them, so a resumed run under the same seed sees what an uninterrupted run would have."""
        if self._pending or self._next_index:
            raise RuntimeError("skip() must come before the first batch")
        for _ in range(int(batches)):
            self._draw(skipping=True)

    def _draw(
        self, skipping: bool = False
    ) -> tuple[int, dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The next batch's number and faces; drawn in the consumer thread, in order.

        Faces made ready in the background (:class:`BackgroundFaces`) are started on the first
        draw, in the order the draws will ask for them, and a face found to be left out (no
        faceswap header among extracted faces, known only once it is read) is replaced by the
        next one drawn. ``skipping`` (:meth:`skip`) draws without waiting for the faces. The
        second dict holds, for the sides that want them, the other side's faces drawn for them."""
        index = self._next_index
        self._next_index += 1
        if not skipping and not self._started:
            self._started = True
            for side in SIDES:
                self.caches[side].start(self._samplers[side].upcoming())
        chosen = {
            side: self._take(self._samplers[side], self.caches[side], skipping) for side in SIDES
        }
        others = {
            side: self._take(sampler, self.caches[_other(side)], skipping)
            for side, sampler in self._other_samplers.items()
        }
        return index, chosen, others

    def _take(self, sampler: Sampler, cache: Any, skipping: bool) -> np.ndarray:
        chosen = sampler.take(self.batch_size)
        if skipping or not isinstance(cache, BackgroundFaces):
            return chosen
        usable = cache.usable(chosen)
        while not usable.all():
            chosen = chosen[usable]
            more = sampler.take(self.batch_size - len(chosen))
            usable = np.concatenate([np.ones(len(chosen), bool), cache.usable(more)])
            chosen = np.concatenate([chosen, more])
        return chosen

    def _build(
        self, index: int, chosen: dict[str, np.ndarray], others: dict[str, np.ndarray]
    ) -> TrainingBatch:
        result = {}
        for number, side in enumerate(SIDES):
            rng = np.random.default_rng(
                np.random.SeedSequence(self.seed, spawn_key=(1, index, number))
            )
            batch = self.augment_batch(side, chosen[side], others.get(side))
            result[side] = build_side(batch, self.plan, rng)
        return result

    def augment_batch(
        self, side: str, indices: np.ndarray, other_indices: np.ndarray | None = None
    ) -> AugmentBatch:
        """The faces at ``indices`` of ``side``, copied into a fresh :class:`AugmentBatch`; with
        ``other_indices``, those faces of the other side in its ``others``."""
        cache = self.caches[side]
        images, masks, landmarks = cache.gather(indices)
        neighbours = None
        if self._neighbours is not None:
            table, other_landmarks = self._neighbours[side]
            neighbours = other_landmarks[table[indices]]
        return AugmentBatch(
            images=images,
            masks=masks,
            mask_names=cache.mask_names,
            landmarks=landmarks,
            side=side,
            indices=np.asarray(indices),
            neighbours=neighbours,
            others=None if other_indices is None else self.other_faces(side, other_indices),
        )

    def other_faces(self, side: str, indices: np.ndarray) -> OtherSideFaces:
        """Faces at ``indices`` of the side other than ``side``, for its batch's ``others``."""
        cache = self.caches[_other(side)]
        images, masks, _ = cache.gather(indices)
        return OtherSideFaces(
            images=images, masks=masks, mask_names=cache.mask_names, indices=np.asarray(indices)
        )

    @property
    def epochs(self) -> dict[str, int]:
        """Completed passes over each side's faces (as drawn, counting batches built ahead)."""
        return {side: sampler.epoch for side, sampler in self._samplers.items()}

    # ------------------------------------------------------------------ shutting down

    def close(self) -> None:
        """Stop the workers: batches not started are dropped, running ones finish, threads end;
        faces still being made ready in the background stop there, and the ones ready are written
        to the face cache."""
        self._closed = True
        self._finalizer()

    def __enter__(self) -> BatchLoader:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
