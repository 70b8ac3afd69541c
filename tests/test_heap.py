"""The C heap helpers that keep a long run's resident size flat (fs_core.training.heap)."""

from __future__ import annotations

import ctypes

import pytest

from fs_core.training import heap

BLOCK = 64 * 1024  # under glibc's mmap threshold: these live inside the arena
BLOCKS = 256  # 16 MiB


def _resident_kib() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def libc() -> ctypes.CDLL:
    if heap.heap_usage() is None:
        pytest.skip("not glibc")
    library = ctypes.CDLL(None)
    library.malloc.restype = ctypes.c_void_p
    library.malloc.argtypes = [ctypes.c_size_t]
    library.free.argtypes = [ctypes.c_void_p]
    return library


def test_heap_usage_counts_live_blocks_and_held_free_ones(libc: ctypes.CDLL) -> None:
    before = heap.heap_usage()
    blocks = [libc.malloc(BLOCK) for _ in range(BLOCKS)]
    pin = libc.malloc(BLOCK)  # above them, so freeing them cannot shrink the arena's top
    live = heap.heap_usage()
    for block in blocks:
        libc.free(block)
    freed = heap.heap_usage()
    libc.free(pin)
    assert before is not None and live is not None and freed is not None
    assert live.in_use - before.in_use >= BLOCKS * BLOCK
    assert live.in_use - freed.in_use >= BLOCKS * BLOCK
    assert freed.held_free - live.held_free >= BLOCKS * BLOCK * 0.9


def test_release_free_heap_returns_freed_pages_to_the_system(libc: ctypes.CDLL) -> None:
    blocks = [libc.malloc(BLOCK) for _ in range(BLOCKS)]
    for block in blocks:
        ctypes.memset(block, 1, BLOCK)  # touched: resident
    pin = libc.malloc(BLOCK)
    ctypes.memset(pin, 1, BLOCK)
    for block in blocks:
        libc.free(block)
    held = _resident_kib()
    assert heap.release_free_heap() is True
    released = held - _resident_kib()
    libc.free(pin)
    assert released * 1024 >= BLOCKS * BLOCK * 0.8


def test_training_hands_the_heap_back_after_each_save(monkeypatch, tmp_path) -> None:
    import save_cycles

    from fs_core.training import saving

    calls: list[int] = []
    monkeypatch.setattr(saving.heap, "release_free_heap", lambda: calls.append(1) or True)
    config = save_cycles.write_config(tmp_path / "config.toml")
    save_cycles.cycle(tmp_path / "model", config, 3, save_interval=1, snapshot_interval=0)
    assert len(calls) == 3  # after the save of each iteration (the third is the exit save)


def test_tensorboard_values_do_not_stay_in_memory(tmp_path) -> None:
    """Every distinct Python number TensorFlow converts eagerly is cached for good (~1 KiB); the
    logs of a long run wrote several per iteration (the soak's slow growth). Writing thousands of
    new steps and values now leaves the C heap where it was (it grew ~1.2 KiB a value before)."""
    if heap.heap_usage() is None:
        pytest.skip("not glibc")
    from fs_core import backend
    from fs_core.builtins import tensorboard

    memory = tensorboard.TensorboardMemory(first_step=0, last=0.0)
    memory.writer = backend.get().create_summary_writer(
        tmp_path, max_queue=10, flush_millis=120_000
    )

    def write(first: int, count: int) -> None:
        memory.pending.extend(
            (step, {"loss_a": step * 0.37, "loss_b": step * 0.41})
            for step in range(first, first + count)
        )
        tensorboard._write_pending(memory)
        heap.release_free_heap()

    write(0, 500)  # warm-up: TensorFlow's own one-off allocations
    before = heap.heap_usage()
    write(1000, 2500)  # 5,000 values, all new
    after = heap.heap_usage()
    memory.writer.close()
    assert before is not None and after is not None
    assert after.in_use - before.in_use < 1024 * 1024  # was ~6 MiB
