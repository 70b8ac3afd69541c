"""Which losses and masks a training run uses, and the user mistakes that make a run impossible.

Pure Python on the option objects (no TensorFlow), so the checks run before any model is built and
every message can name the option and what to change. Messages carry no file path: the caller
knows the config file and re-raises with it.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from fs_core.config.sections import LossOptions, MaskOptions
from fs_core.descriptors import LossDescriptor
from fs_core.errors import FsUserError

NONE = "none"
LANDMARK_MASKS = frozenset({"components", "extended"})
#: (option holding the function, option holding its weight in percent or None for the primary)
LOSS_SLOTS = (
    ("loss_function", None),
    ("loss_function_2", "loss_weight_2"),
    ("loss_function_3", "loss_weight_3"),
    ("loss_function_4", "loss_weight_4"),
)


@attrs.frozen
class ActiveLoss:
    """One loss in use: the name its terms are reported under, the function and its multiplier."""

    term: str
    option: str
    descriptor: LossDescriptor
    weight: float


def _available(losses: Mapping[str, LossDescriptor]) -> str:
    return ", ".join(sorted(losses)) or "(no loss plugin is installed)"


def _unknown(
    option: str, name: str, losses: Mapping[str, LossDescriptor], not_provided: Mapping[str, str]
) -> FsUserError:
    if name in not_provided:
        return FsUserError(
            f"[global.loss] {option} = '{name}' is not available: "
            f"{not_provided[name]}; choose one of {_available(losses)}"
        )
    return FsUserError(
        f"[global.loss] {option} = '{name}' is not an installed loss; "
        f"choose one of {_available(losses)}"
    )


def active_losses(
    loss: LossOptions,
    losses: Mapping[str, LossDescriptor],
    not_provided: Mapping[str, str] | None = None,
) -> tuple[ActiveLoss, ...]:
    """The losses in use, primary first, with weights as multipliers (primary 1, others %/100).

    A slot set to "none" or with a weight of 0 is dropped. A loss named twice reports its second
    use under ``<name>_<slot number>`` so the terms stay distinct.
    """
    not_provided = not_provided or {}
    primary = loss.loss_function
    if primary == NONE:
        raise FsUserError(
            f"[global.loss] loss_function cannot be 'none': the primary loss is "
            f"required; choose one of {_available(losses)}"
        )
    chosen: list[ActiveLoss] = []
    for slot, (option, weight_option) in enumerate(LOSS_SLOTS, start=1):
        name = getattr(loss, option)
        weight = 1.0 if weight_option is None else float(getattr(loss, weight_option)) / 100.0
        if name == NONE:
            continue
        if name not in losses:
            raise _unknown(option, name, losses, not_provided)
        descriptor = losses[name]
        if weight_option is None and not descriptor.primary_allowed:
            allowed = sorted(n for n, d in losses.items() if d.primary_allowed)
            raise FsUserError(
                f"[global.loss] loss_function = '{name}' cannot be the primary loss; "
                f"use it as loss_function_2, _3 or _4 and choose a primary among "
                f"{', '.join(allowed)}"
            )
        if weight <= 0.0:
            continue
        taken = {active.term for active in chosen}
        term = name if name not in taken else f"{name}_{slot}"
        chosen.append(ActiveLoss(term=term, option=option, descriptor=descriptor, weight=weight))
    return tuple(chosen)


def mask_names(loss: LossOptions, mask: MaskOptions) -> tuple[str, ...]:
    """The mask channels the data must provide, in order, among face, eye and mouth."""
    names: list[str] = []
    if (loss.penalized_mask_loss or mask.learn_mask) and mask.mask_type != NONE:
        names.append("face")
    if loss.penalized_mask_loss and loss.eye_multiplier > 1:
        names.append("eye")
    if loss.penalized_mask_loss and loss.mouth_multiplier > 1:
        names.append("mouth")
    return tuple(names)


def check_masks(
    loss: LossOptions, mask: MaskOptions, has_landmarks: bool, stored_masks: frozenset
) -> None:
    """Refuse mask settings the model or the faces cannot satisfy (see each message)."""
    mask_type = mask.mask_type
    for flag, section in (("penalized_mask_loss", loss), ("learn_mask", mask)):
        if getattr(section, flag) and mask_type == NONE:
            where = "[global.loss]" if section is loss else "[global.mask]"
            raise FsUserError(
                f"{where} {flag} = true needs a mask, but [global.mask] mask_type = "
                f"'none'; set mask_type (e.g. 'extended', or a mask stored in the "
                f"faces) or set {flag} = false"
            )
    uses_face_mask = (loss.penalized_mask_loss or mask.learn_mask) and mask_type != NONE
    if uses_face_mask and mask_type in LANDMARK_MASKS and not has_landmarks:
        stored = ", ".join(sorted(stored_masks)) or NONE
        raise FsUserError(
            f"[global.mask] mask_type = '{mask_type}' is drawn from landmarks, but "
            f"these faces have none; choose a mask stored in the faces (stored: "
            f"{stored}) or set mask_type = 'none' with penalized_mask_loss and "
            f"learn_mask = false"
        )
    if uses_face_mask and mask_type not in LANDMARK_MASKS and mask_type not in stored_masks:
        stored = ", ".join(sorted(stored_masks)) or "none"
        raise FsUserError(
            f"[global.mask] mask_type = '{mask_type}' is not stored in the faces "
            f"(they hold: {stored}); choose one of those"
            f"{', components or extended' if has_landmarks else ''}, or extract "
            f"the faces again with that mask"
        )
    if loss.penalized_mask_loss and not has_landmarks:
        for part in ("eye", "mouth"):
            value = getattr(loss, f"{part}_multiplier")
            if value > 1:
                raise FsUserError(
                    f"[global.loss] {part}_multiplier = {value} needs landmarks (the "
                    f"{part} mask is drawn from them), but these faces have none; "
                    f"set eye_multiplier = 1 and mouth_multiplier = 1"
                )
