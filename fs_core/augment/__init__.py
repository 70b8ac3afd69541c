"""Built-in batch augmenters (colour, affine, flip, grid warp, warp-to-landmarks).

Each works in place on an :class:`fs_core.data.batch.AugmentBatch`; :mod:`fs_core.augment.builtin`
registers them through the ``fs_augmenters`` hook.
"""
