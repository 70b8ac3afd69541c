"""LR dropout (``lr_dropout``): each weight's update is dropped with that probability each step,
for every optimizer fs offers, as DeepFaceLab's optimizers do.

Applied to the update the model's optimizer made (its moments and other state update as usual,
as in DeepFaceLab): ``w = w_before + keep * (w_after - w_before)`` with ``keep`` a Bernoulli mask
of rate ``1 - lr_dropout``. The masks are stateless random draws keyed by the seed, the variable's
index and the model's iteration count, so a seeded run resumes exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from keras import ops

from fs_core import backend
from fs_core.extensions.api import ExtensionContext, TrainingExtension


class LrDropout(TrainingExtension):
    filters_update = True

    def __init__(self, context: ExtensionContext) -> None:
        self.rate = float(context.options.lr_dropout)
        self.seed = int(context.seed) % (2**31)
        self.counter = backend.get().counter(int(context.iterations))

    def filter_update(self, variables: Sequence[Any], before: Sequence[Any]) -> None:
        implementation = backend.get()
        step = self.counter.assign_add(1)
        for index, (variable, old) in enumerate(zip(variables, before)):
            seed = implementation.seed_pair(self.seed + index, step)
            keep = ops.cast(implementation.keep_mask(ops.shape(old), self.rate, seed), old.dtype)
            variable.assign(old + keep * (variable - old))

    def describe(self) -> str:
        return f"LR dropout (rate {self.rate:g})"
