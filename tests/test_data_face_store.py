"""The face cache on disk (fs_core.data.store), the start-up scan (fs_core.data.scan) and faces made
ready while training runs (fs_core.data.background)."""

from __future__ import annotations

import logging
import os
import shutil
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

import fs_core.data.scan as scan_module
from fs_core.data.background import BackgroundFaces, LoadedFace, LoadFace, open_side
from fs_core.data.cache import FaceCache
from fs_core.data.loader import BatchLoader
from fs_core.data.sampler import EpochSampler
from fs_core.data.scan import FolderScan, scan_faceset, start_scans
from fs_core.data.store import FaceStore, file_digest, store_root
from fs_core.data.synthetic import synthetic_prepare
from fs_core.errors import FsUserError
from fs_core.faces.faceset import FaceHeader, FaceSet, index_faceset
from fs_core.faces.prepare import PrepareSpec, prepare_face
from fs_core.faces.read import read_face

SIZE = 32
PLAIN = PrepareSpec(size=SIZE)
EXTRACTED = PrepareSpec(size=SIZE, mask_type="custom_face", mask_names=("face", "eye"))


def write_plain(path: Path, seed: int, width: int = 40) -> None:
    """A plain face crop as an uncompressed PNG: its byte size depends only on ``width``, so a
    different face of the same width is a file of the same size."""
    image = np.random.default_rng(seed).integers(0, 256, (width, width, 3), dtype=np.uint8)
    ok, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 0])
    assert ok
    path.write_bytes(data.tobytes())


@pytest.fixture
def plain_folder(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    for i in range(6):
        write_plain(folder / f"face_{i}.png", seed=i)
    return folder


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory):
    from fs_core.faces.demo import write_demo_data

    root = tmp_path_factory.mktemp("demo")
    write_demo_data(root, count=8, size=64)
    return root / "A"


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "face-cache"


class Counting:
    """A :class:`LoadFace` that counts the faces it prepares."""

    def __init__(self, spec, extracted):
        self.load = LoadFace(spec, extracted, "head" if extracted else None)
        self.paths: list[str] = []

    def __call__(self, path):
        self.paths.append(os.path.basename(path))
        return self.load(path)


def run(folder, spec, cache_dir, extracted=False):
    """One 'training run' over ``folder``: scan, make every face ready, close (which writes the
    face cache); returns the faces, the images they gave and the names of the files prepared."""
    store = FaceStore(cache_dir, folder)
    faces = scan_faceset(folder, store)
    counting = Counting(spec, extracted)
    side = BackgroundFaces(faces, spec, store=store, load=counting)
    side.start()
    images = side.gather(np.arange(len(side)))[0]
    side.close()
    return side, images, sorted(counting.paths)


def expected(paths, spec):
    return np.stack([prepare_face(read_face(p), spec, p).image for p in paths])


# ------------------------------------------------------------------ reuse and invalidation


def test_a_second_run_takes_every_face_from_the_cache(plain_folder, cache_dir):
    first, images, prepared = run(plain_folder, PLAIN, cache_dir)
    assert first.copied == 0 and len(prepared) == 6
    np.testing.assert_array_equal(images, expected(first.paths, PLAIN))
    second, again, prepared = run(plain_folder, PLAIN, cache_dir)
    assert second.copied == 6 and prepared == []
    np.testing.assert_array_equal(again, images)
    assert first.describe(True) == (
        "Faces plain: 6 (0 from the face cache, 6 to prepare while training runs)"
    )
    assert second.describe(True) == "Faces plain: 6 (6 from the face cache)"


def test_extracted_faces_keep_their_masks_and_landmarks(demo_folder, cache_dir):
    first, _, _ = run(demo_folder, EXTRACTED, cache_dir, extracted=True)
    second, _, prepared = run(demo_folder, EXTRACTED, cache_dir, extracted=True)
    assert prepared == [] and second.has_landmarks and second.mask_count == 2
    indices = np.arange(len(first))
    for one, two in zip(first.gather(indices), second.gather(indices)):
        np.testing.assert_array_equal(one, two)
    fresh = [prepare_face(read_face(p), EXTRACTED, p) for p in first.paths]
    np.testing.assert_array_equal(second.gather(indices)[1], np.stack([f.masks for f in fresh]))
    np.testing.assert_array_equal(second.gather(indices)[2], np.stack([f.landmarks for f in fresh]))


def test_a_file_changed_with_the_same_size_and_time_is_prepared_again(plain_folder, cache_dir):
    run(plain_folder, PLAIN, cache_dir)
    target = plain_folder / "face_3.png"
    before = target.stat()
    write_plain(target, seed=99)  # other pixels, same byte size
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = target.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    side, images, prepared = run(plain_folder, PLAIN, cache_dir)
    assert prepared == ["face_3.png"] and side.copied == 5
    np.testing.assert_array_equal(images, expected(side.paths, PLAIN))


def test_added_and_removed_files(plain_folder, cache_dir):
    run(plain_folder, PLAIN, cache_dir)
    (plain_folder / "face_1.png").unlink()
    write_plain(plain_folder / "face_9.png", seed=9)
    side, images, prepared = run(plain_folder, PLAIN, cache_dir)
    assert prepared == ["face_9.png"] and len(side) == 6 and side.copied == 5
    np.testing.assert_array_equal(images, expected(side.paths, PLAIN))
    stored = FaceStore(cache_dir, plain_folder).read_rows(PLAIN, SIZE, 0)
    assert stored is not None and len(stored.rows) == 6  # the removed face is dropped
    assert file_digest((plain_folder / "face_9.png").read_bytes()) in stored.rows


def test_a_renamed_file_is_found_by_its_content(plain_folder, cache_dir):
    run(plain_folder, PLAIN, cache_dir)
    (plain_folder / "face_2.png").rename(plain_folder / "renamed.png")
    side, _, prepared = run(plain_folder, PLAIN, cache_dir)
    assert prepared == [] and side.copied == 6


def test_another_spec_does_not_use_the_cache(plain_folder, cache_dir):
    run(plain_folder, PLAIN, cache_dir)
    wider = PrepareSpec(size=SIZE, coverage=80.0)
    side, images, prepared = run(plain_folder, wider, cache_dir)
    assert side.copied == 0 and len(prepared) == 6
    np.testing.assert_array_equal(images, expected(side.paths, wider))
    assert run(plain_folder, PLAIN, cache_dir)[0].copied == 6  # both forms are kept


# ------------------------------------------------------------------ damage and safety


def test_a_truncated_cache_file_is_ignored_with_one_line(plain_folder, cache_dir, caplog):
    run(plain_folder, PLAIN, cache_dir)
    images_file = next(FaceStore(cache_dir, plain_folder).spec_path(PLAIN).glob("images-*.npy"))
    images_file.write_bytes(images_file.read_bytes()[:-100])
    with caplog.at_level(logging.WARNING, logger="fs.data"):
        side, images, prepared = run(plain_folder, PLAIN, cache_dir)
    lines = [r for r in caplog.records if r.name == "fs.data" and r.levelno >= logging.WARNING]
    assert len(lines) == 1 and "damaged" in lines[0].getMessage()
    assert side.copied == 0 and len(prepared) == 6
    np.testing.assert_array_equal(images, expected(side.paths, PLAIN))
    assert run(plain_folder, PLAIN, cache_dir)[0].copied == 6  # rebuilt


def test_a_damaged_row_is_prepared_again(plain_folder, cache_dir, caplog):
    run(plain_folder, PLAIN, cache_dir)
    images_file = next(FaceStore(cache_dir, plain_folder).spec_path(PLAIN).glob("images-*.npy"))
    data = bytearray(images_file.read_bytes())
    data[-10] ^= 0xFF  # one pixel of the last row
    images_file.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="fs.data"):
        side, images, prepared = run(plain_folder, PLAIN, cache_dir)
    assert prepared == ["face_5.png"] and "damaged" in caplog.text
    np.testing.assert_array_equal(images, expected(side.paths, PLAIN))


@pytest.mark.parametrize("damage", [b"", b"{not json", b'{"format": 1, "headers": 3}'])
def test_a_damaged_index_or_manifest_is_ignored(plain_folder, cache_dir, damage):
    run(plain_folder, PLAIN, cache_dir)
    store = FaceStore(cache_dir, plain_folder)
    for path in (store.path / "index.json", store.spec_path(PLAIN) / "manifest.json"):
        path.write_bytes(damage)
    side, images, _ = run(plain_folder, PLAIN, cache_dir)
    np.testing.assert_array_equal(images, expected(side.paths, PLAIN))


def test_a_write_that_fails_half_way_leaves_the_previous_cache(
    plain_folder, cache_dir, monkeypatch
):
    run(plain_folder, PLAIN, cache_dir)
    write_plain(plain_folder / "face_0.png", seed=50)
    calls = []
    real_save = np.save

    def save_then_fail(handle, array, **kwargs):  # the images are written, then a "kill"
        calls.append(array.shape)
        if len(calls) > 1:
            raise OSError(28, "No space left on device")
        real_save(handle, array, **kwargs)

    monkeypatch.setattr(np, "save", save_then_fail)
    run(plain_folder, PLAIN, cache_dir)  # its write fails: one line, training goes on
    monkeypatch.setattr(np, "save", real_save)
    side, images, prepared = run(plain_folder, PLAIN, cache_dir)
    assert side.copied == 5 and prepared == ["face_0.png"]  # the old version, still valid
    np.testing.assert_array_equal(images, expected(side.paths, PLAIN))


def test_the_cache_can_be_turned_off(plain_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("FS_FACE_CACHE", "off")
    assert store_root() is None and FaceStore.for_folder(plain_folder) is None
    faces = scan_faceset(plain_folder, None)
    for _ in range(2):
        side = open_side(faces, PLAIN)
        assert isinstance(side, BackgroundFaces) and side.from_cache == 0
        assert side.describe(False) == "Faces plain: 6 (the face cache is off)"
        side.start()
        np.testing.assert_array_equal(
            side.gather(np.arange(len(side)))[0], expected(side.paths, PLAIN)
        )
        side.close()


def test_where_the_cache_lives():
    home = Path.home()
    assert store_root({}) == home / ".cache" / "fs" / "faces"
    assert store_root({"XDG_CACHE_HOME": "/x"}) == Path("/x/fs/faces")
    assert store_root({"FS_FACE_CACHE": "/y", "XDG_CACHE_HOME": "/x"}) == Path("/y")
    assert store_root({"FS_FACE_CACHE": "OFF"}) is None


# ------------------------------------------------------------------ the scan


def test_the_scan_from_the_index_decides_as_the_full_index(demo_folder, tmp_path, cache_dir):
    """The next run's scan reads no face (the index says what each name held); the faces are
    hashed when they are made ready, so the set is still checked face by face (provisional)."""
    folder = tmp_path / "A"
    shutil.copytree(demo_folder, folder)
    write_plain(folder / "stray.png", seed=1, width=64)  # skipped: no faceswap header
    run(folder, EXTRACTED, cache_dir, extracted=True)
    scanned = scan_faceset(folder, FaceStore(cache_dir, folder))
    full = index_faceset(folder)
    assert scanned.provisional
    for field in ("paths", "has_landmarks", "stored_mask_names", "centering", "skipped"):
        assert getattr(scanned, field) == getattr(full, field)
    assert scanned.digests == tuple(file_digest(p.read_bytes()) for p in scanned.paths)


def test_a_file_replaced_under_its_name_by_another_kind_is_left_out(
    demo_folder, tmp_path, cache_dir
):
    """The index expects a face under a name; the file there now is a plain crop: it is left out
    (no faceswap header among extracted faces), never trained from the cached row."""
    folder = tmp_path / "A"
    shutil.copytree(demo_folder, folder)
    run(folder, EXTRACTED, cache_dir, extracted=True)
    victim = sorted(folder.glob("*.png"))[3]
    write_plain(victim, seed=7, width=64)
    store = FaceStore(cache_dir, folder)
    faces = scan_faceset(folder, store)
    assert str(victim) in map(str, faces.paths)  # expected to be a face, by its name
    side = BackgroundFaces(faces, EXTRACTED, store=store)
    usable = side.usable(np.arange(len(side)))
    side.close()
    assert [side.paths[i] for i in np.flatnonzero(~usable)] == [str(victim)]
    assert side.copied == 7


def test_large_folders_are_scanned_in_a_worker_process(plain_folder, monkeypatch):
    monkeypatch.setattr(scan_module, "use_processes", lambda count: True)
    scans = start_scans(plain_folder, plain_folder / "missing", plain_folder)
    assert scans[0]._future is not None and scans[2]._future is not None
    assert scans[0].result().paths == index_faceset(plain_folder).paths == scans[2].result().paths
    with pytest.raises(FsUserError, match="does not exist"):
        scans[1].result()
    assert FolderScan(plain_folder).result().paths == scans[0].result().paths  # in a thread


def provisional(demo_folder, tmp_path, monkeypatch, stray=True):
    """A copy of the demo faces (with a stray image) scanned as a first run of a large folder."""
    folder = tmp_path / "A"
    shutil.copytree(demo_folder, folder)
    if stray:
        write_plain(folder / "demo_a_0000_5.png", seed=1, width=64)
    monkeypatch.setattr(scan_module, "SAMPLE", 3)
    faces = scan_faceset(folder, None)
    assert faces.provisional and faces.has_landmarks
    return folder, faces


def test_a_stray_image_found_while_training_is_left_out(demo_folder, tmp_path, monkeypatch, caplog):
    folder, faces = provisional(demo_folder, tmp_path, monkeypatch)
    assert len(faces) == 9  # listed: the stray is not known yet
    side = BackgroundFaces(faces, EXTRACTED)
    stray = side.paths.index(str(folder / "demo_a_0000_5.png"))
    with caplog.at_level(logging.WARNING, logger="fs.data"):
        usable = side.usable(np.arange(len(side)))
        side.close()
    assert list(np.flatnonzero(~usable)) == [stray] and "demo_a_0000_5.png" in caplog.text
    kept = np.flatnonzero(usable)
    real = [p for p in side.paths if "0000_5" not in p]
    np.testing.assert_array_equal(side.gather(kept)[0], expected(real, EXTRACTED))


def test_the_loader_never_draws_a_face_left_out(demo_folder, tmp_path, monkeypatch):
    folder, faces = provisional(demo_folder, tmp_path, monkeypatch)
    sides = [BackgroundFaces(faces, EXTRACTED) for _ in range(2)]
    stray = sides[0].paths.index(str(folder / "demo_a_0000_5.png"))
    drawn = []
    with BatchLoader(*sides, **loader_args(EXTRACTED)) as loader:
        for _ in range(12):
            next(loader)
        drawn = [loader._draw()[1]["a"] for _ in range(4)]
    assert all(stray not in batch and len(batch) == 4 for batch in drawn)


def test_a_broken_face_found_while_training_names_the_file(demo_folder, tmp_path, monkeypatch):
    folder, faces = provisional(demo_folder, tmp_path, monkeypatch, stray=False)
    broken = folder / "demo_a_0006_0.png"
    broken.write_bytes(broken.read_bytes()[:-200])  # cut short
    sides = [BackgroundFaces(faces, EXTRACTED) for _ in range(2)]
    with pytest.raises(FsUserError, match="truncated") as caught:
        with BatchLoader(*sides, **loader_args(EXTRACTED)) as loader:
            for _ in range(20):
                next(loader)
    assert caught.value.path == str(broken)


def test_a_plain_crop_among_extracted_faces_found_later_is_refused(demo_folder, tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    for i in range(4):
        write_plain(folder / f"crop_{i}.png", seed=i)
    shutil.copy(next(demo_folder.glob("*.png")), folder / "crop_9.png")  # an extracted face
    faces = FaceSet(folder, tuple(sorted(folder.glob("*.png"))), False)
    side = BackgroundFaces(faces, PLAIN)
    with pytest.raises(FsUserError, match="one kind of face") as caught:
        side.gather(np.arange(len(side)))
    assert caught.value.path == str(folder / "crop_9.png")


def test_faces_are_prepared_in_worker_processes(plain_folder, cache_dir):
    store = FaceStore(cache_dir, plain_folder)
    faces = scan_faceset(plain_folder, store)
    side = BackgroundFaces(faces, PLAIN, store=store, processes=True)
    side.start(order=[5, 4, 3, 2, 1, 0])
    np.testing.assert_array_equal(side.gather(np.arange(6))[0], expected(side.paths, PLAIN))
    side.close()
    assert run(plain_folder, PLAIN, cache_dir)[0].copied == 6


# ------------------------------------------------------------------ training while faces load

P = 16
NAMES = ("face",)


def synthetic_set(prefix, count):
    paths = tuple(Path(f"/nowhere/{prefix}/{i}.png") for i in range(count))
    return FaceSet(Path(f"/nowhere/{prefix}"), paths, True)


class Gate:
    """A ``load`` that prepares synthetic faces, the first ``open_for`` at once and the rest only
    once :meth:`release` is called; it records what it loaded."""

    def __init__(self, open_for, seed=0):
        self.prepare = synthetic_prepare(P, NAMES, seed=seed)
        self.open_for = open_for
        self.event = threading.Event()
        self.loaded: list[str] = []

    def __call__(self, path):
        if len(self.loaded) >= self.open_for:
            self.event.wait()
        self.loaded.append(path)
        return LoadedFace(file_digest(path.encode()), FaceHeader(True), self.prepare(path))

    def release(self):
        self.event.set()


def loader_args(spec, **overrides):
    args = dict(
        batch_size=4,
        input_size=spec.size,
        output_sizes=[spec.size],
        augmenters=(),
        seed=3,
        workers=2,
    )
    args.update(overrides)
    return args


def test_gather_waits_for_faces_not_loaded_yet():
    gate = Gate(open_for=3)
    side = BackgroundFaces(synthetic_set("a", 10), PrepareSpec(size=P, mask_names=NAMES), load=gate)
    side.start(order=range(10))
    got = {}
    waiter = threading.Thread(target=lambda: got.update(faces=side.gather([1, 8])))
    waiter.start()
    try:
        waiter.join(0.3)
        assert waiter.is_alive() and "faces" not in got  # face 8 is not loaded: it waits
    finally:
        gate.release()
    waiter.join()
    want = [gate.prepare(f"/nowhere/a/{i}.png").image for i in (1, 8)]
    np.testing.assert_array_equal(got["faces"][0], np.stack(want))
    side.close()


def test_batches_hold_only_loaded_faces_and_match_a_full_load():
    """Faces are loaded in the order the batches draw them; every batch equals the batch of a run
    that loaded every face first (same seed), so it never holds a face not loaded yet."""
    spec = PrepareSpec(size=P, mask_names=NAMES)
    gates = [Gate(open_for=1, seed=1), Gate(open_for=1, seed=2)]
    sides = [
        BackgroundFaces(synthetic_set(name, 30), spec, load=gate) for name, gate in zip("ab", gates)
    ]
    full = [
        FaceCache([str(p) for p in synthetic_set(n, 30).paths], P, g.prepare, mask_names=NAMES)
        for n, g in zip("ab", gates)
    ]
    with BatchLoader(*sides, **loader_args(spec)) as loader:
        got = {}
        waiter = threading.Thread(target=lambda: got.update(batch=next(loader)))
        waiter.start()
        try:
            waiter.join(0.3)
            assert waiter.is_alive()  # the first batch's faces are not loaded: it waits
        finally:
            for gate in gates:
                gate.release()
        waiter.join()
        batches = [got["batch"]] + [next(loader) for _ in range(15)]
    with BatchLoader(*full, **loader_args(spec)) as reference:
        for batch, same in zip(batches, reference):
            for side in "ab":
                np.testing.assert_array_equal(batch[side]["input"], same[side]["input"])
    # loaded in the order the draws ask for faces (the first face is read at once, to check it)
    sampler = EpochSampler(30, np.random.default_rng(np.random.SeedSequence(3, spawn_key=(0, 0))))
    order = [int(i) for i in sampler.upcoming() if i != 0]
    assert [int(Path(p).stem) for p in gates[0].loaded] == [0] + order


def test_a_set_over_the_memory_budget_streams_without_the_cache(
    demo_folder, tmp_path, monkeypatch, cache_dir
):
    monkeypatch.setenv("FS_FACE_CACHE", str(cache_dir))
    _, faces = provisional(demo_folder, tmp_path, monkeypatch)
    side = open_side(faces, EXTRACTED, memory_budget=1000)
    assert isinstance(side, FaceCache) and side.streaming
    assert len(side) == 8  # indexed in full first: the stray is left out
    assert not cache_dir.exists()


def test_only_the_first_batches_faces_are_prepared_until_the_first_step_is_done(monkeypatch):
    """Until training's first step is done (the loader's second batch), only the head of the load
    order is prepared, so the step's tracing has the CPU; a batch that needs more resumes it."""
    from fs_core.data import background

    monkeypatch.setattr(background, "HEAD", 4)
    spec = PrepareSpec(size=P, mask_names=NAMES)
    gate = Gate(open_for=10**6)
    side = BackgroundFaces(synthetic_set("a", 20), spec, load=gate)
    side.start(order=range(20))
    side.gather([1, 2, 3, 4])  # the head (face 0 was read at once)
    side._thread.join(0.3)
    assert len(gate.loaded) == 5 and side._thread.is_alive()  # waiting: nothing more prepared
    side.resume()
    side._thread.join()
    assert len(gate.loaded) == 20 and side.loaded

    other = BackgroundFaces(synthetic_set("b", 20), spec, load=Gate(open_for=10**6))
    other.start(order=range(20))
    other.gather([15])  # beyond the head: a batch needs it now
    other.close()

    sides = [BackgroundFaces(synthetic_set(n, 20), spec, load=Gate(10**6)) for n in "ab"]
    with BatchLoader(*sides, **loader_args(spec, workers=0)) as loader:
        next(loader)
        assert not any(side._resumed.is_set() for side in sides)
        next(loader)
        assert all(side._resumed.is_set() for side in sides)


def test_a_run_stopped_early_never_shrinks_the_cache(plain_folder, cache_dir, monkeypatch):
    """A run that stops before every face is ready (Ctrl-C, or -i 1 while the rest still waits for
    the first step) keeps what the cache held, adding the faces it prepared."""
    from fs_core.data import background

    monkeypatch.setattr(background, "HEAD", 2)
    run(plain_folder, PLAIN, cache_dir)
    for i in range(6, 10):
        write_plain(plain_folder / f"face_{i}.png", seed=i)
    store = FaceStore(cache_dir, plain_folder)
    for order in (range(10), range(9, -1, -1)):  # only cached faces first, then new ones first
        side = BackgroundFaces(scan_faceset(plain_folder, store), PLAIN, store=store)
        side.start(order=order)
        side.gather(list(order)[:2])  # the head; the rest waits for the first step
        side.close()
    final, images, prepared = run(plain_folder, PLAIN, cache_dir)
    assert final.copied == 8 and prepared == ["face_6.png", "face_7.png"]  # 6 kept, 2 added
    np.testing.assert_array_equal(images, expected(final.paths, PLAIN))
