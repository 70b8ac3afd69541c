"""The batch loader: shapes, determinism, warping only the input, clean shut-down."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from fs_core.augment.builtin import fs_augmenters
from fs_core.config.sections import AugmentationOptions
from fs_core.data.cache import FaceCache
from fs_core.data.loader import BatchLoader
from fs_core.data.synthetic import synthetic_prepare
from fs_core.descriptors import AugmenterDescriptor
from fs_core.errors import FsUserError

P = 32
NAMES = ("face", "eye", "mouth")


@pytest.fixture(scope="module")
def caches():
    return (
        FaceCache(
            [f"a{i}.png" for i in range(11)],
            P,
            synthetic_prepare(P, NAMES, seed=1),
            mask_names=NAMES,
        ),
        FaceCache(
            [f"b{i}.png" for i in range(7)],
            P,
            synthetic_prepare(P, NAMES, seed=2),
            mask_names=NAMES,
        ),
    )


def loader(caches, **overrides):
    args = dict(
        batch_size=4,
        input_size=P // 2,
        output_sizes=[P // 2, P],
        augmenters=fs_augmenters(),
        options=AugmentationOptions(),
        seed=5,
        workers=2,
    )
    args.update(overrides)
    return BatchLoader(*caches, **args)


def loader_threads():
    return [t for t in threading.enumerate() if t.name.startswith("fs-loader")]


def test_training_batch_shapes_dtypes_and_ranges(caches):
    with loader(caches) as batches:
        batch = next(batches)
    assert set(batch) == {"a", "b"}
    for side in batch.values():
        assert side["input"].shape == (4, P // 2, P // 2, 3) and side["input"].dtype == np.float32
        assert [t.shape for t in side["targets"]] == [(4, P // 2, P // 2, 3), (4, P, P, 3)]
        assert set(side["masks"]) == set(NAMES)
        for masks in side["masks"].values():
            assert [m.shape for m in masks] == [(4, P // 2, P // 2, 1), (4, P, P, 1)]
        arrays = [
            side["input"],
            *side["targets"],
            *[m for ms in side["masks"].values() for m in ms],
        ]
        for array in arrays:
            assert array.dtype == np.float32 and array.min() >= 0.0 and array.max() <= 1.0
        assert side["masks"]["face"][-1].max() == 1.0 and side["masks"]["face"][-1].min() == 0.0


def test_only_the_requested_masks_come_out(caches):
    with loader(caches, mask_names=("eye",)) as batches:
        assert set(next(batches)["a"]["masks"]) == {"eye"}
    with loader(caches, mask_names=()) as batches:
        assert next(batches)["b"]["masks"] == {}


def test_batches_depend_on_the_seed_not_on_threads(caches):
    def first(count, **args):
        with loader(caches, options=AugmentationOptions(warp_to_landmarks=True), **args) as batches:
            return [next(batches) for _ in range(count)]

    reference = first(4, workers=0)
    for args in ({"workers": 1}, {"workers": 3, "prefetch": 5}):
        for one, two in zip(reference, first(4, **args)):
            for side in "ab":
                np.testing.assert_array_equal(one[side]["input"], two[side]["input"])
                np.testing.assert_array_equal(one[side]["targets"][1], two[side]["targets"][1])
                np.testing.assert_array_equal(
                    one[side]["masks"]["eye"][0], two[side]["masks"]["eye"][0]
                )
    other = first(1, workers=0, seed=6)[0]
    assert not np.array_equal(other["a"]["input"], reference[0]["a"]["input"])


def test_the_warp_leaves_the_target_untouched(caches):
    cache_a = caches[0]
    plain = AugmentationOptions(
        no_augment_color=True, no_flip=True, rotation_range=0, zoom_amount=0, shift_range=0
    )
    with loader(caches, options=plain, input_size=P, output_sizes=[P], workers=0) as batches:
        batch = next(batches)
    target, feed = batch["a"]["targets"][0], batch["a"]["input"]
    # the target is exactly one of the cached faces, /255; the input is a warped version of it
    cached = cache_a.gather(np.arange(len(cache_a)))[0].astype(np.float32) / 255
    for face in target:
        assert min(np.abs(cached - face).max(axis=(1, 2, 3))) < 1e-6
    assert np.abs(feed - target).mean() > 0.01
    with loader(
        caches,
        options=AugmentationOptions(no_warp=True, no_augment_color=True),
        input_size=P,
        output_sizes=[P],
        workers=0,
    ) as batches:
        batch = next(batches)
    np.testing.assert_array_equal(batch["a"]["input"], batch["a"]["targets"][0])


def test_rgb_models_get_reversed_channels(caches):
    with (
        loader(caches, color_order="bgr", workers=0) as bgr,
        loader(caches, color_order="rgb", workers=0) as rgb,
    ):
        one, two = next(bgr), next(rgb)
    np.testing.assert_array_equal(one["b"]["input"], two["b"]["input"][..., ::-1])
    np.testing.assert_array_equal(one["a"]["targets"][1], two["a"]["targets"][1][..., ::-1])


def test_every_face_is_used_once_per_epoch(caches):
    seen = []
    probe = AugmenterDescriptor(
        name="probe",
        stage=1,
        apply=lambda batch, rng, options: seen.append((batch.side, list(batch.indices))),
    )
    with loader(caches, augmenters=[probe], batch_size=3, workers=0) as batches:
        for _ in range(11):
            next(batches)
    drawn_b = [i for side, indices in seen if side == "b" for i in indices]
    assert sorted(drawn_b[:7]) == list(range(7)) and sorted(drawn_b[7:14]) == list(range(7))
    drawn_a = [i for side, indices in seen if side == "a" for i in indices]
    assert sorted(drawn_a[:11]) == list(range(11)) and sorted(drawn_a[11:22]) == list(range(11))


def test_close_stops_the_workers(caches):
    batches = loader(caches, workers=2, prefetch=4)
    next(batches)
    assert loader_threads()
    batches.close()
    assert not loader_threads()
    with pytest.raises(StopIteration):
        next(batches)
    batches.close()  # twice is fine


def test_a_worker_error_reaches_the_consumer_and_stops_the_loader(caches):
    calls = []

    def explode(batch, rng, options):
        calls.append(1)
        if len(calls) > 3:
            time.sleep(0.01)
            raise RuntimeError("augmenter broke")

    broken = AugmenterDescriptor(name="broken", stage=15, apply=explode)
    batches = loader(caches, augmenters=[*fs_augmenters(), broken], workers=2, prefetch=3)
    with pytest.raises(RuntimeError, match="augmenter broke"):
        for _ in range(10):
            next(batches)
    assert not loader_threads()
    with pytest.raises(StopIteration):
        next(batches)


def test_the_context_manager_closes_on_error(caches):
    with pytest.raises(KeyError):
        with loader(caches, workers=2) as batches:
            next(batches)
            raise KeyError("in the train step")
    assert not loader_threads()


def test_warp_to_landmarks_needs_landmarks(caches):
    plain = FaceCache(
        ["p0.png", "p1.png"], P, synthetic_prepare(P, landmarks=False), source="plain"
    )
    with pytest.raises(FsUserError, match="landmarks") as caught:
        BatchLoader(
            caches[0],
            plain,
            batch_size=2,
            input_size=P,
            output_sizes=[P],
            mask_names=(),
            augmenters=fs_augmenters(),
            options=AugmentationOptions(warp_to_landmarks=True),
        )
    assert caught.value.path == "plain"


def test_missing_masks_are_a_user_error(caches):
    bare = FaceCache(["p0.png"], P, synthetic_prepare(P), source="bare")
    with pytest.raises(FsUserError, match="mask") as caught:
        BatchLoader(
            caches[0], bare, batch_size=2, input_size=P, output_sizes=[P], mask_names=("face",)
        )
    assert caught.value.path == "bare"


def test_sizes_are_checked(caches):
    with pytest.raises(ValueError, match="smallest first"):
        loader(caches, output_sizes=[P, P // 2])
    with pytest.raises(ValueError, match="prepare at the largest"):
        loader(caches, input_size=2 * P)


def test_default_loader_workers_follow_the_cores(monkeypatch):
    """Half the cores, 2 to 8: a 2-core laptop keeps 2 threads, a 16-core GPU server gets 8."""
    from fs_core.data import loader as loader_module

    for cores, expected in ((None, 2), (1, 2), (2, 2), (8, 4), (16, 8), (64, 8)):
        monkeypatch.setattr(loader_module.os, "cpu_count", lambda cores=cores: cores)
        assert loader_module.default_loader_workers() == expected
