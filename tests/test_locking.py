"""The portable lock (fs_core.locking): flock on POSIX, and the Windows fallback (msvcrt.locking)
run here with ``fcntl`` made unavailable and a stand-in ``msvcrt`` that locks as Windows does."""

from __future__ import annotations

import errno
import os
import sys
import types

import numpy as np
import pytest

from fs_core.data.store import LOCK_FILE, FaceStore, StoredIndex
from fs_core.errors import FsUserError
from fs_core.faces.prepare import PrepareSpec
from fs_core.folder.model_files import training_lock
from fs_core.locking import exclusive_lock


def fake_msvcrt() -> types.ModuleType:
    """``msvcrt.locking`` as Windows runs it: a byte range locked from the file position, held per
    open file, refused (EACCES) to any other handle; unlocking a range not held is an error."""
    held: dict[tuple[int, int, int], int] = {}  # (device, inode, first byte) -> holding fd
    module = types.ModuleType("msvcrt")
    module.LK_NBLCK, module.LK_UNLCK = 2, 0  # type: ignore[attr-defined]

    def locking(fd: int, mode: int, nbytes: int) -> None:
        assert nbytes == 1
        info = os.fstat(fd)
        key = (info.st_dev, info.st_ino, os.lseek(fd, 0, os.SEEK_CUR))
        if mode == module.LK_NBLCK:  # type: ignore[attr-defined]
            if key in held:
                raise OSError(errno.EACCES, "Permission denied")
            held[key] = fd
        elif held.get(key) == fd:
            del held[key]
        else:
            raise OSError(errno.EACCES, "Permission denied")

    module.locking = locking  # type: ignore[attr-defined]
    return module


@pytest.fixture(params=["posix", "windows"])
def platform(request, monkeypatch):
    """Each test runs with the platform's own lock, then with fcntl gone and msvcrt standing in."""
    if request.param == "windows":
        monkeypatch.setitem(sys.modules, "fcntl", None)  # `import fcntl` raises ImportError
        monkeypatch.setitem(sys.modules, "msvcrt", fake_msvcrt())
    elif sys.platform == "win32":
        pytest.skip("POSIX only")
    return request.param


def test_a_second_holder_is_refused_until_the_first_lets_go(tmp_path, platform):
    path = tmp_path / "lock"
    with open(path, "a+b") as first, open(path, "a+b") as second:
        with exclusive_lock(first) as held:
            assert held
            with exclusive_lock(second) as other:
                assert not other
        with exclusive_lock(second) as other:
            assert other


def test_the_training_lock_refuses_a_second_run_and_leaves_nothing(tmp_path, platform):
    model = tmp_path / "m"
    with training_lock(model):
        with pytest.raises(FsUserError, match="another fs process"):
            with training_lock(model):
                pass
    assert not model.exists()  # no model was saved: the lock file and the folder are gone
    with training_lock(model):
        pass


def test_the_face_cache_is_left_to_the_run_writing_it(tmp_path, platform):
    store = FaceStore(tmp_path / "cache", tmp_path / "faces")
    spec = PrepareSpec(size=8)
    images = np.zeros((1, 8, 8, 3), np.uint8)
    digest = "00" * 16

    def write() -> bool:
        return store.write(spec, StoredIndex(), [digest], images, None, None)

    store.path.mkdir(parents=True)
    with open(store.path / LOCK_FILE, "a+b") as other, exclusive_lock(other) as held:
        assert held
        assert not write()  # another run is writing: this one leaves it
    assert write()
    assert store.read_rows(spec, 8, 0) is not None
