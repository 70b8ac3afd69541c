"""What a training-step extension is, and what the step shows it.

An extension is made once per session by its descriptor's ``make(context)``
(:class:`ExtensionContext`). Inside the compiled step it gets a :class:`StepView` of this
iteration's forward pass and returns :class:`ExtensionLosses`: terms added to the generator's loss,
and the losses of its own parts (discriminators), each minimised over that part's variables by the
optimizer the extension gives for it, in the same step. An extension may also filter the update
the model's optimizer applied (LR dropout). Everything is traced once by the backend's compiled
step, so the methods must be Keras (``keras.ops``) code with a fixed Python structure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    import keras

    from fs_core.config import Config
    from fs_core.model.build import BuiltModel


@attrs.frozen
class ExtensionContext:
    """What an extension is made from.

    ``mask_names``: the masks each batch carries (``"face"`` when training with a mask);
    ``masked``: whether the loss is taken inside the face mask (DeepFaceLab's masked training);
    ``learning_rate``: the session's ``[global] learning_rate``; ``precision_policy``: the Keras
    dtype policy the model was built under; ``seed``: ``--seed`` or a fresh random one;
    ``iterations``: the model's iteration count when the session starts.
    """

    config: Config
    built: BuiltModel
    mask_names: tuple[str, ...]
    masked: bool
    learning_rate: float
    precision_policy: str
    seed: int
    iterations: int

    @property
    def options(self) -> Any:
        """The ``[training_step]`` section."""
        return self.config.training_step

    @property
    def output_size(self) -> int:
        """The largest face output's size in pixels."""
        return max(self.built.output_sizes)


@attrs.frozen
class StepView:
    """One iteration's forward pass as float32 tensors (what extensions compute losses from).

    ``outputs[side]`` is the side's model outputs (faces smallest first, then the learned mask),
    ``batch`` the TrainingBatch (``batch[side]["targets"]``, ``["masks"]``). ``code[side]`` is the
    shared encoder's output for the side's inputs (only when an extension needs ``"code"``);
    ``swap`` side A's inputs through side B's decoder, laid out as side B's outputs (only when an
    extension needs ``"swap"``).
    """

    batch: Mapping[str, Any]
    outputs: Mapping[str, Sequence[Any]]
    face_count: int
    masked: bool
    code: Mapping[str, Any] | None = None
    swap: Sequence[Any] | None = None

    def face(self, side: str) -> Any:
        """The side's largest face output."""
        return self.outputs[side][self.face_count - 1]

    def target(self, side: str) -> Any:
        """The side's target at the largest output size."""
        from keras import ops  # noqa: PLC0415 (Keras: extensions.api loads without it)

        return ops.cast(self.batch[side]["targets"][self.face_count - 1], "float32")

    def face_mask(self, side: str) -> Any:
        """The side's face mask at the largest output size, or None when the batch has none."""
        from keras import ops  # noqa: PLC0415 (Keras: extensions.api loads without it)

        masks = self.batch[side].get("masks") or {}
        if "face" not in masks:
            return None
        return ops.cast(masks["face"][self.face_count - 1], "float32")

    def swapped_face(self) -> Any:
        """Side A's faces through side B's decoder, largest size (needs ``"swap"``)."""
        if self.swap is None:
            raise ValueError("the step was not asked for the swap; declare needs={'swap'}")
        return self.swap[self.face_count - 1]


@attrs.frozen
class ExtensionLosses:
    """An extension's losses for one step, scalar float32 tensors.

    ``generator``: term name -> value already weighted, added to the model's loss (and reported
    as ``ext/<term>``). ``own``: part name -> the loss that part's optimizer minimises over the
    part's variables (reported as ``ext/<part>``). ``report``: more values only reported.
    """

    generator: Mapping[str, Any] = attrs.field(factory=dict)
    own: Mapping[str, Any] = attrs.field(factory=dict)
    report: Mapping[str, Any] = attrs.field(factory=dict)


class TrainingExtension:
    """Base class of a training-step extension: every method has a do-nothing default.

    ``parts()``: the Keras models it trains (saved in ``weights.h5`` under their names, resumed,
    and created fresh when the extension is turned on for an existing model); ``optimizers()``:
    part name -> the optimizer of that part's variables. ``filters_update``: True when
    :meth:`filter_update` changes the applied update (the step then keeps each variable's value
    from before the update).
    """

    filters_update: bool = False

    def parts(self) -> Mapping[str, keras.Model]:
        return {}

    def optimizers(self) -> Mapping[str, keras.optimizers.Optimizer]:
        return {}

    def losses(self, view: StepView) -> ExtensionLosses:
        """This step's losses (inside the step's gradient tape)."""
        return ExtensionLosses()

    def filter_update(self, variables: Sequence[Any], before: Sequence[Any]) -> None:
        """Change the update the model's optimizer just applied: ``before`` holds each variable's
        value from before it."""

    def describe(self) -> str:
        """One line for the start of training (what is on and how)."""
        return type(self).__name__
