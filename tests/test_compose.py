"""LossComposer: masks, multipliers, weights and the learned-mask term on hand-computed cases,
option validation, and tracing under tf.function with a dynamic batch and float16 outputs."""

from __future__ import annotations

import attrs
import numpy as np
import pytest
import tensorflow as tf

from fs_core.config.sections import LossOptions, MaskOptions
from fs_core.errors import FsUserError
from fs_core.losses.compose import LossComposer
from fs_plugins_losses.plugin import LOSSES_NOT_PROVIDED, descriptors

LOSSES = {d.name: d for d in descriptors()}
LOSS_FIELDS = {f.name for f in attrs.fields(LossOptions)}


def composer(output_count=1, has_landmarks=True, stored_masks=frozenset(), **options):
    loss = LossOptions(**{k: v for k, v in options.items() if k in LOSS_FIELDS})
    mask = MaskOptions(**{k: v for k, v in options.items() if k not in LOSS_FIELDS})
    return LossComposer(
        loss,
        mask,
        LOSSES,
        output_count,
        has_landmarks,
        stored_masks,
        not_provided=LOSSES_NOT_PROVIDED,
    )


def plane(values) -> np.ndarray:
    """A (1, H, W, 1) float32 mask from a nested list."""
    return np.asarray(values, np.float32)[None, :, :, None]


# face: rows 0-1, plus 0.5 at (2, 0); eye: (0,0) and (0,1); mouth: (0,0), 0.5 at (1,1), and (3,3)
FACE = plane([[1, 1, 1, 1], [1, 1, 1, 1], [0.5, 0, 0, 0], [0, 0, 0, 0]])
EYE = plane([[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
MOUTH = plane([[1, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]])
ZEROS = np.zeros((1, 4, 4, 3), np.float32)


def side(targets, **masks):
    return {"targets": tuple(targets), "masks": {k: tuple(v) for k, v in masks.items()}}


def values(terms):
    return {k: float(v) for k, v in terms.items()}


# ---------------------------------------------------------------- which masks and terms


@pytest.mark.parametrize(
    "options, names",
    [
        ({}, ("face", "eye", "mouth")),
        ({"eye_multiplier": 1}, ("face", "mouth")),
        ({"mouth_multiplier": 1, "eye_multiplier": 1}, ("face",)),
        ({"penalized_mask_loss": False}, ()),
        ({"penalized_mask_loss": False, "learn_mask": True}, ("face",)),
        ({"penalized_mask_loss": False, "mask_type": "none"}, ()),
    ],
)
def test_mask_names(options, names):
    assert composer(**options).mask_names == names


def test_term_names_drop_none_and_zero_weight_and_keep_duplicates_apart():
    made = composer(
        loss_function="mse",
        loss_function_2="mse",
        loss_function_3="ssim",
        loss_weight_3=0.0,
        loss_function_4="none",
        loss_weight_4=100.0,
        learn_mask=True,
    )
    assert made.term_names == ("mse", "mse_weighted", "mse_2", "mse_2_weighted", "mask")


# ---------------------------------------------------------------- hand-computed values


def test_penalized_map_with_eye_and_mouth_multipliers():
    made = composer(loss_function="mae", loss_function_2="none")
    pred = np.full((1, 4, 4, 3), 0.5, np.float32)
    total, terms = made.side_loss([pred], side([ZEROS], face=[FACE], eye=[EYE], mouth=[MOUTH]))
    # per pixel 0.5·face·(1 + 3·eye)·(1 + 2·mouth):
    # (0,0) 0.5·4·3 = 6; (0,1) 0.5·4 = 2; (1,1) 0.5·2 = 1; five other face pixels 0.5 each;
    # (2,0) 0.5·0.5 = 0.25; (3,3) is mouth outside the face: 0.  Mean over all 16 pixels.
    expected = (6 + 2 + 1 + 5 * 0.5 + 0.25) / 16
    assert values(terms) == pytest.approx({"mae": expected, "mae_weighted": expected})
    assert float(total) == pytest.approx(expected)


def test_weights_are_percent_and_unmasked_without_penalty():
    made = composer(
        loss_function="mae",
        loss_function_2="mse",
        loss_weight_2=50.0,
        loss_function_3="ssim",
        loss_weight_3=0.0,
        penalized_mask_loss=False,
    )
    assert made.mask_names == ()
    pred = np.full((1, 4, 4, 3), 0.5, np.float32)
    total, terms = made.side_loss([pred], {"targets": (ZEROS,), "masks": {}})
    assert values(terms) == pytest.approx(
        {"mae": 0.5, "mae_weighted": 0.5, "mse": 0.25, "mse_weighted": 0.125}
    )
    assert float(total) == pytest.approx(0.625)


def test_terms_sum_over_output_sizes():
    made = composer(
        output_count=2, loss_function="mae", loss_function_2="none", penalized_mask_loss=False
    )
    small, large = np.full((2, 4, 4, 3), 0.5, np.float32), np.full((2, 8, 8, 3), 0.25, np.float32)
    total, terms = made.side_loss(
        [small, large], side([np.zeros_like(small), np.zeros_like(large)])
    )
    assert float(terms["mae"]) == pytest.approx(0.75)
    assert float(total) == pytest.approx(0.75)


def test_per_item_loss_on_masked_pairs():
    made = composer(loss_function="l_inf_norm", loss_function_2="none")
    pred = np.full((1, 4, 4, 3), 0.5, np.float32)
    pred[0, 3, 3, :] = 1.0
    _, terms = made.side_loss([pred], side([ZEROS], face=[FACE], eye=[EYE], mouth=[MOUTH]))
    # f(t·face, p·face) = 0.5; 3·f(eye pair) = 3·0.5; 2·f(mouth pair) = 2·max(0.5, 0.25, 1.0)
    assert float(terms["l_inf_norm"]) == pytest.approx(0.5 + 1.5 + 2.0)
    unmasked = composer(
        loss_function="l_inf_norm", loss_function_2="none", penalized_mask_loss=False
    )
    _, terms = unmasked.side_loss([pred], side([ZEROS]))
    assert float(terms["l_inf_norm"]) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "function, expected", [("mse", 0.5 * 0.75**2 + 0.5 * 0.25**2), ("mae", 0.5 * 0.75 + 0.5 * 0.25)]
)
def test_learned_mask_term_uses_the_largest_face_mask_unweighted(function, expected):
    made = composer(
        output_count=2,
        loss_function="mae",
        loss_function_2="none",
        penalized_mask_loss=False,
        learn_mask=True,
        mask_loss_function=function,
    )
    assert made.mask_names == ("face",)
    small = np.zeros((1, 4, 4, 3), np.float32)
    large = np.zeros((1, 8, 8, 3), np.float32)
    face_large = np.zeros((1, 8, 8, 1), np.float32)
    face_large[:, :4] = 1.0  # half the pixels
    predicted_mask = np.full((1, 8, 8, 1), 0.25, np.float32)
    total, terms = made.side_loss(
        [small, large, predicted_mask],
        side([small, large], face=[np.ones((1, 4, 4, 1)), face_large]),
    )
    assert float(terms["mask"]) == pytest.approx(expected)
    assert float(total) == pytest.approx(expected)  # the faces are perfect: mae is 0


# ---------------------------------------------------------------- graph mode, batch, precision


def test_default_options_trace_with_dynamic_batch_and_float16_outputs():
    made = composer(output_count=2)  # ssim + mse, penalized, eye ×3, mouth ×2
    sizes = (16, 32)
    spec_out = [tf.TensorSpec((None, s, s, 3), tf.float16) for s in sizes]
    spec_side = {
        "targets": tuple(tf.TensorSpec((None, s, s, 3), tf.float32) for s in sizes),
        "masks": {
            n: tuple(tf.TensorSpec((None, s, s, 1), tf.float32) for s in sizes)
            for n in made.mask_names
        },
    }
    graph = tf.function(made.side_loss, input_signature=[spec_out, spec_side])
    rng = np.random.default_rng(0)
    for batch in (2, 3):
        targets = tuple(rng.random((batch, s, s, 3)).astype(np.float32) for s in sizes)
        outputs = [
            np.clip(t + rng.normal(0, 0.1, t.shape), 0, 1).astype(np.float16) for t in targets
        ]
        masks = {
            n: tuple((rng.random((batch, s, s, 1)) > 0.5).astype(np.float32) for s in sizes)
            for n in made.mask_names
        }
        batch_side = {"targets": targets, "masks": masks}
        total, terms = graph(outputs, batch_side)
        eager_total, _eager_terms = made.side_loss(outputs, batch_side)
        assert total.dtype == tf.float32 and total.shape == ()
        assert (
            set(terms) == set(made.term_names) == {"ssim", "ssim_weighted", "mse", "mse_weighted"}
        )
        assert float(total) == pytest.approx(float(eager_total), rel=1e-5)
        assert float(total) == pytest.approx(float(terms["ssim"] + terms["mse"]), rel=1e-5)
        assert 0 < float(terms["mse"]) < float(terms["ssim"])


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"loss_function": "nope"}, r"loss_function = 'nope' is not an installed loss.*ffl.*ssim"),
        ({"loss_function_3": "nope", "loss_weight_3": 10.0}, r"loss_function_3 = 'nope'"),
        (
            {"loss_function": "flip"},
            r"loss_function = 'flip' cannot be the primary.*loss_function_2",
        ),
        ({"loss_function": "none"}, r"loss_function cannot be 'none'"),
        (
            {"loss_function_2": "lpips_alex"},
            r"'lpips_alex' is not available: LPIPS needs pretrained",
        ),
        ({"mask_type": "none"}, r"penalized_mask_loss = true needs a mask.*mask_type = 'none'"),
        (
            {"mask_type": "none", "penalized_mask_loss": False, "learn_mask": True},
            r"learn_mask = true needs a mask",
        ),
        ({"has_landmarks": False}, r"mask_type = 'extended' is drawn from landmarks.*none"),
        (
            {
                "has_landmarks": False,
                "mask_type": "components",
                "penalized_mask_loss": False,
                "learn_mask": True,
            },
            r"mask_type = 'components' is drawn from landmarks",
        ),
        (
            {
                "has_landmarks": False,
                "mask_type": "bisenet-fp_face",
                "stored_masks": frozenset({"bisenet-fp_face"}),
            },
            r"eye_multiplier = 3 needs landmarks",
        ),
        (
            {
                "has_landmarks": False,
                "mask_type": "bisenet-fp_face",
                "eye_multiplier": 1,
                "stored_masks": frozenset({"bisenet-fp_face"}),
            },
            r"mouth_multiplier = 2 needs landmarks",
        ),
        (
            {"mask_type": "vgg-clear", "stored_masks": frozenset({"bisenet-fp_face"})},
            r"mask_type = 'vgg-clear' is not stored in the faces \(they hold: bisenet-fp_face\)",
        ),
    ],
)
def test_user_mistakes_raise_fs_user_error(kwargs, pattern):
    with pytest.raises(FsUserError, match=pattern) as caught:
        composer(**kwargs)
    assert caught.value.path is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"loss_function_2": "flip"},
        {"has_landmarks": False, "penalized_mask_loss": False},  # masks unused: no landmarks needed
        {
            "has_landmarks": False,
            "mask_type": "custom_face",
            "eye_multiplier": 1,
            "mouth_multiplier": 1,
            "stored_masks": frozenset({"custom_face"}),
        },
        {"mask_type": "none", "penalized_mask_loss": False},
    ],
)
def test_valid_settings_are_accepted(kwargs):
    composer(**kwargs)
