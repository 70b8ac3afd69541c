"""One side's training loss from its model outputs and batch, as faceswap's lib/training/loss.py.

For each face output (smallest size first) and each active loss:

* per-pixel losses give a map L, which is multiplied by the face mask when penalized_mask_loss is
  on, then boosted by ``L += L·M_eye·eye_multiplier`` and ``L += L·M_mouth·mouth_multiplier`` (in
  that order, the second on the already boosted map); the per-item value is the mean over
  (H, W, C), i.e. divided by the whole image, not the mask area;
* per-item losses (l_inf_norm) are evaluated on the masked pair, plus eye_multiplier times the
  loss on the eye-masked pair, plus mouth_multiplier times the mouth-masked pair.

The batch mean of each is summed over outputs (term ``<name>``), multiplied by the loss's weight
(term ``<name>_weighted``) and added to the side total. A learned mask adds its mse/mae against the
face mask at the largest output size, unweighted (term ``mask``). Everything is ``keras.ops`` on
float32 (mixed-precision outputs are cast), with the Python structure fixed at construction so the
whole method traces once in the backend's compiled step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from keras import ops

from fs_core.config.sections import LossOptions, MaskOptions
from fs_core.descriptors import LossDescriptor
from fs_core.losses.selection import ActiveLoss, active_losses, check_masks, mask_names

#: where a training step's results hold each face's loss, per side, when asked for
PER_FACE_KEYS = {"a": "per_face/a", "b": "per_face/b"}


class LossComposer:
    """Builds the per-side loss; construction validates the options (raises ``FsUserError``).

    ``output_count`` is the number of *face* outputs per side; the mask output, when
    ``mask.learn_mask``, comes after them. ``has_landmarks`` says whether the faces carry
    landmarks (landmark masks, eye/mouth weighting); ``stored_masks`` names the masks stored in
    them. ``not_provided`` (optional, keyword) maps loss names a pack knows but cannot offer to the
    reason, so an unknown-loss message can explain it (e.g. the losses pack's
    ``LOSSES_NOT_PROVIDED``).
    """

    def __init__(
        self,
        loss: LossOptions,
        mask: MaskOptions,
        losses: Mapping[str, LossDescriptor],
        output_count: int,
        has_landmarks: bool = True,
        stored_masks: frozenset = frozenset(),
        *,
        not_provided: Mapping[str, str] | None = None,
    ) -> None:
        if output_count < 1:
            raise ValueError(f"output_count must be at least 1, got {output_count}")
        self._active: tuple[ActiveLoss, ...] = active_losses(loss, losses, not_provided)
        check_masks(loss, mask, has_landmarks, frozenset(stored_masks))
        self._output_count = int(output_count)
        self._learn_mask = bool(mask.learn_mask)
        self._mask_loss = loss.mask_loss_function
        self.mask_names: tuple[str, ...] = mask_names(loss, mask)
        self._penalized = "face" in self.mask_names and loss.penalized_mask_loss
        self._parts = tuple(
            (name, float(getattr(loss, f"{name}_multiplier")))
            for name in ("eye", "mouth")
            if name in self.mask_names
        )
        names: list[str] = []
        for active in self._active:
            names += [active.term, f"{active.term}_weighted"]
        if self._learn_mask:
            names.append("mask")
        self.term_names: tuple[str, ...] = tuple(names)

    @property
    def active(self) -> tuple[ActiveLoss, ...]:
        """The losses in use with their term names and weights (primary first)."""
        return self._active

    # ------------------------------------------------------------------ the loss

    def side_loss(self, outputs: Sequence[Any], side: Mapping) -> tuple[Any, dict[str, Any]]:
        """The side's total (scalar float32) and its terms by :attr:`term_names`."""
        total, terms, _ = self._side(outputs, side, per_face=False)
        return total, terms

    def side_loss_per_face(
        self, outputs: Sequence[Any], side: Mapping
    ) -> tuple[Any, dict[str, Any], Any]:
        """:meth:`side_loss` and each face's own total, shape (N,) float32: the same weighted
        terms before the batch mean (their mean is the total, up to rounding). Made from the
        per-face values the batch mean is taken of, so it costs a few additions, not a pass."""
        total, terms, per_face = self._side(outputs, side, per_face=True)
        return total, terms, per_face

    def _side(
        self, outputs: Sequence[Any], side: Mapping, per_face: bool
    ) -> tuple[Any, dict[str, Any], Any]:
        expected = self._output_count + int(self._learn_mask)
        if len(outputs) != expected:
            mask = " + mask" if self._learn_mask else ""
            raise ValueError(
                f"expected {expected} outputs for one side "
                f"({self._output_count} faces{mask}), got {len(outputs)}"
            )
        targets = side["targets"]
        sums = {active.term: ops.zeros((), "float32") for active in self._active}
        faces: Any = 0.0  # each face's weighted total, when asked for
        for index in range(self._output_count):
            pred = ops.cast(outputs[index], "float32")
            true = ops.cast(targets[index], "float32")
            masks = {name: self._mask(side, name, index) for name in self.mask_names}
            for active in self._active:
                per_item = self._per_item(active.descriptor, true, pred, masks)
                sums[active.term] = sums[active.term] + ops.mean(per_item)
                if per_face:
                    faces = faces + per_item * active.weight
        terms: dict[str, Any] = {}
        total = ops.zeros((), "float32")
        for active in self._active:
            weighted = sums[active.term] * active.weight
            terms[active.term] = sums[active.term]
            terms[f"{active.term}_weighted"] = weighted
            total = total + weighted
        if self._learn_mask:
            error = self._learned_mask_error(outputs[self._output_count], side)
            terms["mask"] = ops.mean(error)
            total = total + terms["mask"]
            if per_face:
                faces = faces + ops.mean(error, axis=(1, 2, 3))
        return total, terms, (faces if per_face else None)

    @staticmethod
    def _mask(side: Mapping, name: str, index: int) -> Any:
        try:
            return ops.cast(side["masks"][name][index], "float32")
        except (KeyError, IndexError, TypeError) as err:
            raise ValueError(
                f"the batch lacks mask '{name}' for output {index}; the loader must "
                f"provide LossComposer.mask_names at every output size"
            ) from err

    def _per_item(
        self,
        descriptor: LossDescriptor,
        true: Any,
        pred: Any,
        masks: Mapping[str, Any],
    ) -> Any:
        """Shape (N,): the loss of each item after masking and part weighting."""
        if descriptor.per_pixel:
            value = ops.cast(descriptor(true, pred), "float32")
            if self._penalized:
                value = value * masks["face"]
            for name, multiplier in self._parts:
                value = value + value * masks[name] * multiplier
            return ops.mean(value, axis=(1, 2, 3))
        if not self._penalized:
            return ops.cast(descriptor(true, pred), "float32")
        face = masks["face"]
        value = ops.cast(descriptor(true * face, pred * face), "float32")
        for name, multiplier in self._parts:
            part = masks[name]
            value = value + multiplier * ops.cast(descriptor(true * part, pred * part), "float32")
        return value

    def _learned_mask_error(self, predicted: Any, side: Mapping) -> Any:
        """The learned mask's error per pixel, (N, H, W, 1)."""
        predicted = ops.cast(predicted, "float32")
        target = self._mask(side, "face", self._output_count - 1)
        if predicted.shape[1:3] != target.shape[1:3]:
            target = ops.image.resize(target, tuple(predicted.shape[1:3]), interpolation="bilinear")
        diff = predicted - target
        return ops.abs(diff) if self._mask_loss == "mae" else ops.square(diff)


def side_losses(
    composer: LossComposer, outputs: Sequence[Any], side: Mapping, per_face: bool
) -> tuple[Any, dict[str, Any], Any]:
    """One side's total and terms, and each face's loss when ``per_face`` (else None): the
    training steps' one call, with or without per-face losses."""
    if per_face:
        return composer.side_loss_per_face(outputs, side)
    total, terms = composer.side_loss(outputs, side)
    return total, terms, None
