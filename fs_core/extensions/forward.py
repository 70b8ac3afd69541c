"""The step's forward pass when an extension needs more than the model's outputs.

``"code"`` (true face) needs the shared encoder's output of each side, so the model is run part by
part: ``encoder`` on both sides as one batch, ``decoder_a`` on A's code, ``decoder_b`` on B's
(and on A's, when the swap is needed too, in the same call). That is only possible for models made
of exactly the parts ``encoder``, ``decoder_a`` and ``decoder_b`` with the encoder's output feeding
each decoder; :func:`shared_code_parts` checks the structure and that the part-by-part pass gives
the model's own outputs. ``"swap"`` (style losses) uses the same pass where the model allows it
(one extra run of B's decoder); for every other model both sides' batches are doubled, side A's
input with A again and side B's with A, so side B's outputs hold the reconstruction and the swap
(the model contract keeps the sides independent), at the cost of a second pass of the model.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

import attrs
import keras
import numpy as np
from keras import ops

from fs_core import backend
from fs_core.errors import FsUserError
from fs_core.extensions.api import StepView
from fs_core.model.build import BuiltModel
from fs_core.model.weights import parts_of

#: the decoders a model needs for the part-by-part pass (true face), beside one encoder part
#: (``encoder``, or a name starting with it: dfl_sae's ``encoder_df``)
DECODERS = ("decoder_a", "decoder_b")


@attrs.frozen
class SharedCode:
    """The parts of a model whose encoder output is the code both decoders read."""

    encoder: keras.Model
    decoder_a: keras.Model
    decoder_b: keras.Model


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _single_shape(tensors: Any) -> tuple | None:
    items = _as_list(tensors)
    return tuple(items[0].shape[1:]) if len(items) == 1 else None


def shared_code_parts(built: BuiltModel) -> SharedCode | None:
    """The model's encoder and decoders when it is made of exactly one encoder part (``encoder``
    or ``encoder_*``), ``decoder_a`` and ``decoder_b``, the encoder's single output matching each
    decoder's single input, and the part-by-part pass reproduces the model's outputs; else
    None."""
    parts = parts_of(built.model)
    encoders = [name for name in parts if name.startswith("encoder")]
    if len(encoders) != 1 or set(parts) != {encoders[0], *DECODERS}:
        return None
    encoder = parts[encoders[0]]
    code = _single_shape(encoder.outputs)
    if code is None or _single_shape(encoder.inputs) is None:
        return None
    if any(_single_shape(parts[name].inputs) != code for name in DECODERS):
        return None
    shared = SharedCode(encoder, parts["decoder_a"], parts["decoder_b"])
    return shared if _reproduces(built, shared) else None


def _reproduces(built: BuiltModel, shared: SharedCode) -> bool:
    """Whether the part-by-part pass gives the model's outputs on two random faces per side."""
    rng = np.random.default_rng(0)
    size = built.input_size
    faces = [rng.random((2, size, size, 3), dtype=np.float32) for _ in range(2)]
    infer = backend.get().inference_function
    expected = infer(built.model)(faces)
    code = infer(shared.encoder)(np.concatenate(faces))[0]
    code_a, code_b = code[:2], code[2:]
    found_arrays = infer(shared.decoder_a)(code_a) + infer(shared.decoder_b)(code_b)
    return len(found_arrays) == len(expected) and all(
        a.shape == b.shape and np.allclose(a, b, atol=2e-2) for a, b in zip(found_arrays, expected)
    )


Forward = Callable[[dict], StepView]


def make_forward(built: BuiltModel, needs: Collection[str], masked: bool) -> Forward:
    """The forward pass the extensions need (see the module docstring); FsUserError when
    ``"code"`` is needed and the model has no shared code."""
    per_side = built.outputs_per_side
    faces = len(built.output_sizes)
    if "code" in needs or "swap" in needs:
        shared = shared_code_parts(built)
        if shared is not None:  # one pass: B's decoder runs once on both codes for the swap
            return _by_parts(shared, "swap" in needs, faces, masked)
        if "swap" in needs and "code" not in needs:
            return _doubled(built.model, per_side, faces, masked)
        raise FsUserError(
            f"[training_step] true_face_power needs a model whose encoder output feeds both "
            f"decoders (parts encoder, decoder_a, decoder_b, nothing between); model "
            f"'{built.name}' has parts "
            f"{', '.join(sorted(parts_of(built.model)))}. Set true_face_power = 0 or train "
            "such a model (see docs/quality-tools.md)"
        )
    return _plain(built.model, per_side, faces, masked)


def _floats(tensors: Any) -> list[Any]:
    return [ops.cast(t, "float32") for t in keras.tree.flatten(tensors)]


def _plain(model: keras.Model, per_side: int, faces: int, masked: bool) -> Forward:
    def forward(batch: dict) -> StepView:
        outputs = _floats(model([batch["a"]["input"], batch["b"]["input"]], training=True))
        return StepView(
            batch=batch,
            outputs={"a": outputs[:per_side], "b": outputs[per_side:]},
            face_count=faces,
            masked=masked,
        )

    return forward


def _halves(tensors: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    pairs = [ops.split(t, 2, axis=0) for t in tensors]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _doubled(model: keras.Model, per_side: int, faces: int, masked: bool) -> Forward:
    def forward(batch: dict) -> StepView:
        face_a, face_b = batch["a"]["input"], batch["b"]["input"]
        outputs = _floats(
            model(
                [
                    ops.concatenate([face_a, face_a], axis=0),
                    ops.concatenate([face_b, face_a], axis=0),
                ],
                training=True,
            )
        )
        outputs_a, _ = _halves(outputs[:per_side])
        outputs_b, swap = _halves(outputs[per_side:])
        return StepView(
            batch=batch,
            outputs={"a": outputs_a, "b": outputs_b},
            face_count=faces,
            masked=masked,
            swap=swap,
        )

    return forward


def _by_parts(shared: SharedCode, with_swap: bool, faces: int, masked: bool) -> Forward:
    def forward(batch: dict) -> StepView:
        both = ops.concatenate([batch["a"]["input"], batch["b"]["input"]], axis=0)
        code_a, code_b = ops.split(shared.encoder(both, training=True), 2, axis=0)
        outputs_a = _floats(shared.decoder_a(code_a, training=True))
        swap = None
        if with_swap:
            outputs_b, swap = _halves(
                _floats(shared.decoder_b(ops.concatenate([code_b, code_a], axis=0), training=True))
            )
        else:
            outputs_b = _floats(shared.decoder_b(code_b, training=True))
        return StepView(
            batch=batch,
            outputs={"a": outputs_a, "b": outputs_b},
            face_count=faces,
            masked=masked,
            code={"a": ops.cast(code_a, "float32"), "b": ops.cast(code_b, "float32")},
            swap=swap,
        )

    return forward
