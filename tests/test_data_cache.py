"""Face cache, epoch sampler and nearest-face search."""

from __future__ import annotations

import numpy as np
import pytest

from fs_core.data.cache import FaceCache
from fs_core.data.neighbours import nearest_faces
from fs_core.data.sampler import EpochSampler
from fs_core.data.synthetic import synthetic_prepare
from fs_core.errors import FsUserError

P = 32
NAMES = ("face", "eye")


def paths(count, prefix="f"):
    return [f"{prefix}{i}.png" for i in range(count)]


# ------------------------------------------------------------------ sampler


@pytest.mark.parametrize("count, batch", [(10, 3), (7, 7), (5, 8), (1, 4)])
def test_sampler_uses_every_face_once_per_epoch(count, batch):
    sampler = EpochSampler(count, np.random.default_rng(0))
    drawn = np.concatenate([sampler.take(batch) for _ in range(count * 3)])
    for epoch in range(len(drawn) // count):
        assert sorted(drawn[epoch * count : (epoch + 1) * count]) == list(range(count))
    assert sampler.epoch == len(drawn) // count - (len(drawn) % count == 0)


def test_sampler_is_seeded_and_shuffles():
    one = EpochSampler(50, np.random.default_rng(3)).take(50)
    two = EpochSampler(50, np.random.default_rng(3)).take(50)
    other = EpochSampler(50, np.random.default_rng(4)).take(50)
    assert np.array_equal(one, two) and not np.array_equal(one, other)
    assert not np.array_equal(one, np.arange(50))


# ------------------------------------------------------------------ neighbours


def test_nearest_faces_matches_brute_force():
    rng = np.random.default_rng(0)
    queries, pool = rng.normal(size=(7, 68, 2)), rng.normal(size=(12, 68, 2))
    found = nearest_faces(queries, pool, k=4)
    distances = np.linalg.norm(queries[:, None] - pool[None], axis=(2, 3))
    assert np.array_equal(found, np.argsort(distances, axis=1)[:, :4])
    assert nearest_faces(queries, pool[:3], k=10).shape == (7, 3)


def test_nearest_faces_can_exclude_each_face_itself():
    pool = np.random.default_rng(1).normal(size=(6, 68, 2))
    found = nearest_faces(pool, pool, k=10, exclude_self=True)
    assert found.shape == (6, 5)
    assert all(index not in row for index, row in enumerate(found))


# ------------------------------------------------------------------ cache


def test_cache_holds_every_prepared_face():
    prepare = synthetic_prepare(P, NAMES)
    cache = FaceCache(paths(9), P, prepare, mask_names=NAMES, workers=2)
    assert not cache.streaming and len(cache) == 9 and cache.has_landmarks
    images, masks, landmarks = cache.gather(np.array([4, 0]))
    expected = prepare("f4.png")
    assert np.array_equal(images[0], expected.image) and np.array_equal(masks[0], expected.masks)
    np.testing.assert_array_equal(landmarks[0], expected.landmarks)
    assert (
        images.dtype == np.uint8 and masks.shape == (2, P, P, 2) and landmarks.dtype == np.float32
    )
    images[...] = 0  # a copy: augmenting a batch never changes the cache
    assert cache.gather(np.array([4]))[0].any()


def test_cache_streams_over_budget_with_the_same_faces(capsys):
    prepare = synthetic_prepare(P, NAMES)
    cached = FaceCache(paths(6), P, prepare, mask_names=NAMES)
    streamed = FaceCache(paths(6), P, prepare, mask_names=NAMES, memory_budget=1000, source="dir/A")
    message = capsys.readouterr().err.strip().splitlines()
    assert streamed.streaming and len(message) == 1 and "memory budget" in message[0]
    for one, two in zip(cached.gather([5, 1, 1]), streamed.gather([5, 1, 1])):
        np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(streamed.landmarks_table(), cached.landmarks_table())


def test_cache_without_landmarks_or_masks():
    cache = FaceCache(paths(3), P, synthetic_prepare(P, landmarks=False))
    images, masks, landmarks = cache.gather([2])
    assert images.shape == (1, P, P, 3) and masks is None and landmarks is None
    assert not cache.has_landmarks and cache.landmarks_table() is None


def test_errors_from_reading_a_face_pass_through_unchanged():
    good = synthetic_prepare(P)
    error = FsUserError("truncated PNG", "f5.png")

    def prepare(path):
        if path == "f5.png":
            raise error
        return good(path)

    with pytest.raises(FsUserError) as caught:
        FaceCache(paths(12), P, prepare, workers=3)
    assert caught.value is error


def test_a_face_with_the_wrong_masks_is_named():
    with_masks, without = synthetic_prepare(P, NAMES), synthetic_prepare(P)
    prepare = lambda path: without(path) if path == "f2.png" else with_masks(path)  # noqa: E731
    with pytest.raises(FsUserError, match="masks") as caught:
        FaceCache(paths(4), P, prepare, mask_names=NAMES)
    assert caught.value.path == "f2.png"


def test_an_empty_set_is_a_user_error():
    with pytest.raises(FsUserError, match="no face"):
        FaceCache([], P, synthetic_prepare(P), source="empty")


@pytest.fixture(scope="module")
def demo_faces(tmp_path_factory):
    from fs_core.faces.demo import write_demo_data

    folder = tmp_path_factory.mktemp("parallel")
    write_demo_data(folder, count=8, size=64)
    return folder


def test_large_sets_are_indexed_and_cached_in_worker_processes(demo_faces, monkeypatch):
    """Above PROCESS_MIN_ITEMS the headers and faces are read by worker processes; the result is
    the one the calling process computes."""
    import fs_core.parallel
    from fs_core.data.cache import default_prepare
    from fs_core.faces.faceset import index_faceset
    from fs_core.faces.prepare import PrepareSpec

    spec = PrepareSpec(size=32, mask_type="custom_face", mask_names=("face", "eye"))
    results = {}
    for minimum in (10**9, 2):
        monkeypatch.setattr(fs_core.parallel, "PROCESS_MIN_ITEMS", minimum)
        monkeypatch.setattr(fs_core.parallel, "worker_count", lambda: 2)
        faces = index_faceset(demo_faces / "A")
        cache = FaceCache(
            faces.paths, 32, default_prepare(spec), mask_names=spec.mask_names, progress=False
        )
        results[minimum] = (faces, cache.gather(np.arange(len(cache))))
    (faces_here, here), (faces_workers, workers) = results[10**9], results[2]
    assert faces_here == faces_workers and faces_here.stored_mask_names
    for mine, theirs in zip(here, workers):
        np.testing.assert_array_equal(mine, theirs)


def test_a_broken_face_read_by_a_worker_is_named(demo_faces, tmp_path, monkeypatch):
    import shutil

    import fs_core.parallel
    from fs_core.faces.faceset import index_faceset

    folder = tmp_path / "A"
    shutil.copytree(demo_faces / "A", folder)
    broken = sorted(folder.glob("*.png"))[5]
    broken.write_bytes(b"not an image at all")
    monkeypatch.setattr(fs_core.parallel, "PROCESS_MIN_ITEMS", 2)
    monkeypatch.setattr(fs_core.parallel, "worker_count", lambda: 2)
    with pytest.raises(FsUserError, match=broken.name):
        index_faceset(folder)
