"""Long runs that look after themselves: snapshot and backup retention, backups of older model
folders, ``fs restore --list`` / ``--iteration``, and the disk guard (a full disk simulated by an
injected free-space lookup, and by ``OSError(ENOSPC)`` raised inside each kind of write).

The training runs use :mod:`save_cycles`: the real loop, saves and hooks of the tiny model with a
stand-in step whose loss falls every iteration (so every save after the first is a backup).
"""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pytest
import save_cycles

from fs_core.cli.main import main
from fs_core.errors import FsUserError
from fs_core.folder import backups, retention
from fs_core.folder.layout import STATE_FILE, WEIGHTS_FILE, snapshot_dir
from fs_core.folder.retention import Generation, folder_size
from fs_core.folder.snapshots import list_snapshots
from fs_core.folder.state import load_state
from fs_core.model.weights import read_weights


@pytest.fixture
def tiny(registry):
    """The registry with the tiny test model (conftest's, under a shorter name)."""
    return registry


def _config(tmp_path: Path, **options) -> Path:
    return save_cycles.write_config(tmp_path / "fs.toml", **options)


def _run(tmp_path: Path, registry, iterations: int, *, messages=None, **kwargs) -> str:
    config = kwargs.pop("config", None) or _config(tmp_path, snapshot_keep=2, backup_keep=2)
    return save_cycles.cycle(
        tmp_path / "m", config, iterations, registry=registry, messages=messages, **kwargs
    )


def _snapshot_iterations(model: Path) -> list[int]:
    return sorted(g.iteration for g in list_snapshots(model))


def _backup_iterations(model: Path) -> list[int]:
    return sorted(g.iteration for g in backups.list_backups(model))


def _assert_all_load(model: Path) -> None:
    """The model, every snapshot and every backup load (state parses, weights pass checksum)."""
    load_state(model)
    read_weights(model / WEIGHTS_FILE)
    for generation in list_snapshots(model) + backups.list_backups(model):
        retention.verify_generation(generation.path)


# ---------------------------------------------------------------- which generations stay


def _gen(iteration: int, saved: float) -> Generation:
    return Generation(path=Path(f"/g/{iteration}"), iteration=iteration, saved=saved)


def test_plan_keeps_the_newest_and_the_multiples_and_never_the_new_one():
    gens = [_gen(i, float(i)) for i in (100, 200, 300, 400, 500, 600)]
    assert [g.iteration for g in retention.plan_deletions(gens, 2)] == [400, 300, 200, 100]
    kept_every = retention.plan_deletions(gens, 2, keep_every=200)
    assert [g.iteration for g in kept_every] == [300, 100]
    assert retention.plan_deletions(gens, 0) == []  # 0 keeps all
    spare = retention.plan_deletions(gens, 1, spare=Path("/g/100"))
    assert [g.iteration for g in spare] == [500, 400, 300, 200]


def test_newest_means_saved_last_not_the_highest_iteration():
    """After a restore to 300 the run goes on from there: its backup at 400 is newer than the
    700 of the abandoned run, so rollback takes 400 and retention deletes 700 first."""
    gens = [_gen(300, 1.0), _gen(500, 2.0), _gen(700, 3.0), _gen(400, 4.0)]
    assert retention.newest_first(gens)[0].iteration == 400
    assert [g.iteration for g in retention.plan_deletions(gens, 2)] == [500, 300]
    # ahead of a write that does not fit: one fewer, never the newest
    assert [g.iteration for g in retention.plan_room(gens, 2)] == [700, 500, 300]
    assert retention.plan_room(gens[:1], 1) == []


# ---------------------------------------------------------------- retention across resumes


def test_retention_keeps_exactly_what_it_says_across_resumes(tmp_path, tiny):
    config = _config(tmp_path, snapshot_keep=2, snapshot_keep_every=4, backup_keep=3)
    assert _run(tmp_path, tiny, 6, config=config) == "done"
    model = tmp_path / "m"
    # snapshots every 2: 2, 4, 6 -> the newest two, and 4 (a multiple of 4) anyway
    assert _snapshot_iterations(model) == [4, 6]
    assert _backup_iterations(model) == [4, 5, 6]  # a backup at every save from 2 on
    assert _run(tmp_path, tiny, 7, config=config) == "done"  # resumed: 7 .. 13
    assert _snapshot_iterations(model) == [4, 8, 10, 12]
    assert _backup_iterations(model) == [11, 12, 13]
    _assert_all_load(model)
    # a smaller setting applies at the next snapshot and backup
    assert _run(tmp_path, tiny, 1, config=_config(tmp_path, snapshot_keep=1, backup_keep=1)) == (
        "done"
    )
    assert _run(tmp_path, tiny, 1, config=_config(tmp_path, snapshot_keep=1, backup_keep=1)) == (
        "done"
    )
    assert _snapshot_iterations(model) == [14]
    assert _backup_iterations(model) == [15]
    assert not list(tmp_path.glob(".*")) and not list((model / "backups").glob(".*"))


def test_snapshot_keep_0_keeps_every_snapshot(tmp_path, tiny):
    assert _run(tmp_path, tiny, 8, config=_config(tmp_path, backup_keep=2)) == "done"
    assert _snapshot_iterations(tmp_path / "m") == [2, 4, 6, 8]


def test_an_interrupted_delete_is_no_generation_and_is_cleaned_at_the_next_start(
    tmp_path, tiny, monkeypatch
):
    assert _run(tmp_path, tiny, 4) == "done"
    model = tmp_path / "m"
    real_rmtree = shutil.rmtree

    def killed(path, *args, **kwargs):
        if str(path).endswith(retention.DELETING_SUFFIX):
            raise KeyboardInterrupt  # the process dies between the rename and the removal
        return real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(retention.shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        retention.remove_folder(snapshot_dir(model, 2))
    with pytest.raises(KeyboardInterrupt):
        backups.remove_backup(backups.list_backups(model)[-1])
    monkeypatch.setattr(retention.shutil, "rmtree", real_rmtree)
    half_deleted = list(tmp_path.glob(".m_snapshot_2_iters.*.deleting")) + list(
        (model / "backups").glob(".*.deleting")
    )
    assert len(half_deleted) == 2
    assert _snapshot_iterations(model) == [4] and _backup_iterations(model) == [4]
    assert _run(tmp_path, tiny, 2) == "done"
    assert not any(path.exists() for path in half_deleted)
    assert _snapshot_iterations(model) == [4, 6] and _backup_iterations(model) == [5, 6]


# ---------------------------------------------------------------- backups of older model folders


def _legacy_backup(model: Path) -> None:
    """Turn the newest backup generation into the one-backup layout of older fs versions."""
    newest = backups.newest_backup(model)
    assert newest is not None
    for name in (WEIGHTS_FILE, STATE_FILE):
        shutil.copy2(newest.path / name, model / "backups" / name)
    for generation in backups.list_backups(model):
        if not generation.legacy:
            shutil.rmtree(generation.path)


def test_a_model_with_the_old_single_backup_restores_rolls_back_and_is_retired(tmp_path, tiny):
    from fs_core.folder.backups import last_good as _last_good

    assert _run(tmp_path, tiny, 3) == "done"
    model = tmp_path / "m"
    _legacy_backup(model)  # the backup at 3 iterations, as backups/state.toml + weights.h5
    (found,) = backups.list_backups(model)
    assert found.legacy and found.iteration == 3
    assert _last_good(model) == (model / "backups", "backup")
    assert main(["restore", "-m", str(model), "--list"]) == 0
    assert main(["restore", "-m", str(model)]) == 0
    assert load_state(model).iterations == 3
    # training on: new generations, and retention (keep 2) retires the old backup with the others
    assert _run(tmp_path, tiny, 3) == "done"
    assert _backup_iterations(model) == [5, 6]
    assert not (model / "backups" / STATE_FILE).exists()
    assert not (model / "backups" / WEIGHTS_FILE).exists()


def test_a_kill_inside_the_old_backups_delete_is_finished_at_the_next_start(tmp_path, tiny):
    assert _run(tmp_path, tiny, 3) == "done"
    model = tmp_path / "m"
    _legacy_backup(model)
    folder = model / "backups"
    doomed = folder / ".legacy.x1.deleting"  # as remove_legacy_backup leaves it after its 1st move
    doomed.mkdir()
    (folder / STATE_FILE).rename(doomed / STATE_FILE)
    assert backups.list_backups(model) == []  # the weights alone are no backup
    assert _run(tmp_path, tiny, 1) == "done"
    assert not doomed.exists() and not (folder / WEIGHTS_FILE).exists()


# ---------------------------------------------------------------- fs restore


def test_restore_lists_the_generations_and_restores_the_one_asked_for(tmp_path, tiny, capsys):
    assert _run(tmp_path, tiny, 4, config=_config(tmp_path, backup_keep=3)) == "done"
    model = tmp_path / "m"
    capsys.readouterr()
    assert main(["restore", "-m", str(model), "--list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in listing[2:]]
    assert [int(row[0]) for row in rows] == [4, 3, 2]  # newest first
    assert [row[-1] for row in rows] == ["backups/4_iters/", "backups/3_iters/", "backups/2_iters/"]
    for row, iteration in zip(rows, (4, 3, 2)):
        saved = load_state(model / "backups" / f"{iteration}_iters")
        assert float(row[3]) == pytest.approx(saved.lowest_avg_loss, abs=1e-5)
    assert main(["restore", "-m", str(model), "--iteration", "3"]) == 0
    assert load_state(model).iterations == 3
    assert (model / WEIGHTS_FILE).read_bytes() == (
        model / "backups" / "3_iters" / WEIGHTS_FILE
    ).read_bytes()
    assert _backup_iterations(model) == [2, 3, 4]  # the backups stay
    capsys.readouterr()
    assert main(["restore", "-m", str(model), "--iteration", "7"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no backup at 7 iterations" in err and "2, 3, 4" in err
    # the run goes on from 3 (session 2): its backup at 4 replaces the one of the first run
    assert _run(tmp_path, tiny, 1, config=_config(tmp_path, backup_keep=3)) == "done"
    newest = backups.newest_backup(model)
    assert newest is not None and newest.iteration == 4
    assert [s["id"] for s in load_state(newest.path).sessions] == [1, 2]
    assert _backup_iterations(model) == [2, 3, 4]
    from fs_core.folder.backups import last_good as _last_good

    assert _last_good(model) == (newest.path, "backup")  # NaN rollback takes it too


# ---------------------------------------------------------------- the disk guard


#: free bytes that hold a save of the tiny model (about 1.2 MB with its slack) but not a snapshot
#: or backup as well (that needs room for the next save too)
LOW = 1_700_000


class SmallDisk:
    """A disk of ``capacity`` bytes holding ``root``: free = capacity - what ``root`` holds."""

    def __init__(self, root: Path, capacity: int) -> None:
        self.root, self.capacity = root, capacity

    def __call__(self, path: Path) -> int:
        return max(0, self.capacity - folder_size(self.root))


def _events(model: Path) -> list[dict]:
    lines = (model / "record" / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_snapshots_and_backups_that_do_not_fit_are_skipped_and_training_goes_on(
    tmp_path, tiny, capsys
):
    model = tmp_path / "m"
    assert _run(tmp_path, tiny, 2) == "done"
    used = folder_size(tmp_path)
    save = folder_size(model / WEIGHTS_FILE) + folder_size(model / STATE_FILE)
    # room for the save's temporary copy, not for a snapshot or backup beside it as well
    disk = SmallDisk(tmp_path, used + LOW)
    messages: list[str] = []
    assert _run(tmp_path, tiny, 4, free_space=disk, messages=messages) == "done"
    text = "\n".join(messages)
    assert "Not enough disk space for the snapshot, skipped" in text
    assert "Not enough disk space for the backup, skipped" in text
    assert "Low disk space" in text
    status = [line for line in capsys.readouterr().out.splitlines() if "[session 2:" in line]
    assert status and all(line.endswith(" MB free") and "| disk: 1." in line for line in status)
    assert load_state(model).iterations == 6
    assert _snapshot_iterations(model) == [2] and _backup_iterations(model) == [2]
    assert save < 1 << 20  # the tiny model: the slack, not the files, decides here
    _assert_all_load(model)
    progress = [e for e in _events(model) if e["type"] == "progress" and e["session"] == 2]
    # each progress record carries the free space while it is low (the non-exit saves, without
    # the optimizer, are smaller than the exit save before them: a little more is free)
    assert progress and all(0 < e["disk_free"] < LOW + 100_000 for e in progress), progress


def test_retention_makes_room_before_a_snapshot_is_skipped(tmp_path, tiny):
    model = tmp_path / "m"
    config = _config(tmp_path, snapshot_keep=3, backup_keep=1)
    assert _run(tmp_path, tiny, 6, config=config) == "done"
    assert _snapshot_iterations(model) == [2, 4, 6]

    def disk(path: Path) -> int:
        """Room for a save but not for a snapshot as well, until a snapshot goes."""
        return LOW if len(list_snapshots(model)) >= 3 else 10**12

    messages: list[str] = []
    assert _run(tmp_path, tiny, 2, config=config, free_space=disk, messages=messages) == "done"
    assert _snapshot_iterations(model) == [4, 6, 8]
    assert not any("disk space for the snapshot" in m for m in messages), messages
    assert any("disk space for the backup, skipped" in m for m in messages)  # backup_keep = 1


def test_a_save_that_does_not_fit_stops_with_one_line_and_the_previous_save_intact(tmp_path, tiny):
    model = tmp_path / "m"
    assert _run(tmp_path, tiny, 2) == "done"
    before = (model / WEIGHTS_FILE).read_bytes()
    disk = SmallDisk(tmp_path, folder_size(tmp_path) + 200_000)
    with pytest.raises(FsUserError) as caught:
        _run(tmp_path, tiny, 3, free_space=disk)
    line = caught.value.one_line()
    assert line.startswith(f"{model}: needs ") and "free for the save" in line
    assert "left; the previous save is unchanged" in line
    assert (model / WEIGHTS_FILE).read_bytes() == before and load_state(model).iterations == 2
    end = _events(model)[-1]  # the usual end of a session ran: the record says why it stopped
    assert end["type"] == "end" and end["reason"] == "error" and "free for the save" in end["error"]
    _assert_all_load(model)


def _fail_when(monkeypatch, module, name: str, matches) -> list[Path]:
    """Make ``module.name(source, target)``-like copies raise ENOSPC half-way for matching
    targets; returns the targets it failed."""
    real = getattr(module, name)
    failed: list[Path] = []

    def copy(source, target, *args, **kwargs):
        if matches(Path(target)):
            Path(target).write_bytes(Path(source).read_bytes()[:100])  # half written...
            failed.append(Path(target))
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
        return real(source, target, *args, **kwargs)

    monkeypatch.setattr(module, name, copy)
    return failed


@pytest.mark.parametrize("kind", ["snapshot", "backup"])
def test_a_full_disk_inside_a_snapshot_or_backup_skips_it_and_training_goes_on(
    tmp_path, tiny, monkeypatch, kind
):
    model = tmp_path / "m"
    assert _run(tmp_path, tiny, 2) == "done"
    marker = ".m_snapshot_4_iters." if kind == "snapshot" else ".4_iters."
    failed = _fail_when(
        monkeypatch, retention, "copy_file", lambda target: target.parent.name.startswith(marker)
    )
    messages: list[str] = []
    assert _run(tmp_path, tiny, 4, messages=messages) == "done"
    assert failed and f"Disk full while writing the {kind}, skipped" in "\n".join(messages)
    assert load_state(model).iterations == 6
    if kind == "snapshot":
        assert _snapshot_iterations(model) == [2, 6]
    else:
        assert _backup_iterations(model) == [5, 6] and 4 not in _backup_iterations(model)
    assert not list(tmp_path.glob(".*")) and not list((model / "backups").glob(".*"))
    _assert_all_load(model)


@pytest.mark.parametrize("kind", ["weights", "state"])
def test_a_full_disk_inside_the_save_stops_with_the_previous_save_intact(
    tmp_path, tiny, monkeypatch, kind
):
    from fs_core import atomic
    from fs_core.model import state, weights

    model = tmp_path / "m"
    assert _run(tmp_path, tiny, 2) == "done"
    before = {name: (model / name).read_bytes() for name in (WEIGHTS_FILE, STATE_FILE)}
    if kind == "weights":
        real_file = weights.h5py.File

        def h5_file(path, mode="r", *args, **kwargs):
            if mode == "w":
                Path(path).write_bytes(b"\x89HDF half")
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
            return real_file(path, mode, *args, **kwargs)

        monkeypatch.setattr(weights.h5py, "File", h5_file)
    else:

        def write_bytes(path, data):
            with atomic.atomic_path(path) as tmp:
                tmp.write_bytes(data[:10])
                raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

        monkeypatch.setattr(state, "atomic_write_bytes", write_bytes)
    with pytest.raises(FsUserError) as caught:
        _run(tmp_path, tiny, 3)
    assert "no space left on the disk; the previous version is unchanged" in str(caught.value)
    monkeypatch.undo()
    # the state is the one before (a failed state write may follow new weights: one save ahead)
    assert load_state(model).iterations == 2
    if kind == "weights":
        assert (model / WEIGHTS_FILE).read_bytes() == before[WEIGHTS_FILE]
    assert not [p for p in model.iterdir() if p.name.endswith(".tmp")]
    _assert_all_load(model)
    assert _run(tmp_path, tiny, 1) == "done"  # and it resumes
