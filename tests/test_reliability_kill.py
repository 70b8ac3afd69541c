"""Crash safety: ``fs train`` killed with SIGKILL at random moments, many times in a row.

A SIGKILL runs no handler and no ``finally``: whatever is on disk at that instant is what the next
run finds. The test trains the tiny test model (registered as an installed pack through a temporary
``dist-info`` on PYTHONPATH) saving every iteration and snapshotting every few, and kills it

* at a random moment of start-up or training,
* a short random time after a save was seen to complete,
* the instant a save's temporary file is seen (inside a save, including the very first one).

After every kill the saved model must load (``state.toml`` parses, ``weights.h5`` passes its
checksum, weights at most one save ahead of the state), the iteration count never goes back, at most
the iterations since the last save are lost, backups and snapshot folders load too, and the next run
resumes (a run that exits by itself before being killed fails the test). A last run to completion
checks that the leftover temporary files are gone.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fs_core.folder.backups import list_backups
from fs_core.folder.layout import BACKUP_DIR, STATE_FILE, WEIGHTS_FILE
from fs_core.folder.state import load_state
from fs_core.model.weights import read_weights

pytestmark = pytest.mark.slow

SEED = 20240917
ROUNDS = 8
SAVE_INTERVAL = 1
SNAPSHOT_INTERVAL = 3
FAST = (
    "[global.loss]\nloss_function = 'mae'\nloss_function_2 = 'none'\n"
    "penalized_mask_loss = false\n[global.mask]\nmask_type = 'none'\n"
)
TEMP_PATTERN = re.compile(r"^\.(weights\.h5|state\.toml)\..+\.tmp$")
TARGETS = (
    "weights.h5",
    "state.toml",
)  # kill while writing this file (state: weights just replaced)
REPORTED = re.compile(r"\[#(\d+)\]")


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    """Faces, a config, and an environment in which the tiny model is an installed pack."""
    from fs_core.faces.demo import write_demo_data

    root = tmp_path_factory.mktemp("kill")
    faces = write_demo_data(root / "faces", count=8, size=64)
    site = root / "site"
    info = site / "fs_test_tiny-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fs-test-tiny\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[fs_core]\ntiny = tiny_plugin\n")
    config = root / "fs.toml"
    config.write_text(FAST)
    tests = Path(__file__).parent
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(site), str(tests), os.environ.get("PYTHONPATH", "")]),
        PYTHONUNBUFFERED="1",
        TF_CPP_MIN_LOG_LEVEL="2",
        CUDA_VISIBLE_DEVICES="",
    )
    return {"faces": faces, "config": config, "env": env, "root": root}


def _command(setup: dict, model: Path, iterations: int) -> list[str]:
    a, b = setup["faces"]
    return [
        sys.executable,
        "-m",
        "fs_core",
        "train",
        "-A",
        str(a),
        "-B",
        str(b),
        "-m",
        str(model),
        "-t",
        "tiny",
        "-b",
        "2",
        "-s",
        str(SAVE_INTERVAL),
        "-I",
        str(SNAPSHOT_INTERVAL),
        "-i",
        str(iterations),
        "-C",
        str(setup["config"]),
        "-n",
    ]


def _temp_files(model: Path) -> list[Path]:
    found = []
    for place in (model, model / BACKUP_DIR):
        if place.is_dir():
            found += [p for p in place.iterdir() if TEMP_PATTERN.match(p.name)]
    return found


def _saved_iterations(model: Path) -> int:
    try:
        return load_state(model).iterations
    except Exception:
        return -1


def _wait(proc: subprocess.Popen, until, timeout: float = 120.0, poll: float = 0.001) -> bool:
    """Poll ``until()`` while the process lives; True when it held before the timeout."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if until():
            return True
        time.sleep(poll)
    return False


def _check_loadable(folder: Path, *, newest: bool) -> int:
    """The model in ``folder`` loads; returns its state's iteration count (0 for a placeholder)."""
    state = load_state(folder)
    if not (folder / WEIGHTS_FILE).exists():
        assert state.iterations == 0, f"{folder}: state at {state.iterations} without weights"
        return 0
    _, attributes = read_weights(folder / WEIGHTS_FILE)  # raises on a checksum mismatch
    ahead = int(attributes["iterations"]) - state.iterations
    # weights are written before the state: they may be one save ahead of it, never behind
    assert 0 <= ahead <= (SAVE_INTERVAL if newest else SAVE_INTERVAL * 10**6), (folder, ahead)
    return state.iterations


def _kill_round(
    proc: subprocess.Popen,
    model: Path,
    rng: random.Random,
    how: str,
    saved_before: int,
    stale: set[Path],
) -> bool:
    """Kill ``proc`` as ``how`` says; True when a temporary file of this run's saves was left.

    ``stale``: temporary files earlier kills left, which this run removes and which do not count.
    """

    def new_temp_files(target: str = "") -> bool:
        return any(p.name.startswith(f".{target}") for p in set(_temp_files(model)) - stale)

    if how == "startup":
        _wait(proc, lambda: False, timeout=rng.uniform(0.5, 6.0), poll=0.02)
    elif how == "after save":
        _wait(proc, lambda: _saved_iterations(model) > max(saved_before, 0), poll=0.005)
        _wait(proc, lambda: False, timeout=rng.uniform(0.0, 0.4), poll=0.005)
    else:  # "in save": after 0-2 whole saves, the moment a temporary file of the target appears
        skip, target = rng.randint(0, 2), rng.choice(TARGETS)
        _wait(proc, lambda: _saved_iterations(model) >= max(saved_before, 0) + skip, poll=0.005)
        _wait(proc, lambda: new_temp_files(target), poll=0.0005)
    assert proc.poll() is None, (
        f"training exited by itself ({how}): {proc.communicate()[1][-2000:]}"
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return new_temp_files()


def test_sigkill_at_random_moments_never_loses_more_than_the_last_save(setup):
    rng = random.Random(SEED)
    model = setup["root"] / "model"
    plan = ["in save"] + [
        rng.choice(["startup", "after save", "in save", "in save"]) for _ in range(ROUNDS - 1)
    ]
    saved = -1
    killed_in_save = 0
    for number, how in enumerate(plan):
        stale = set(_temp_files(model))
        proc = subprocess.Popen(
            _command(setup, model, 10**6),
            env=setup["env"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            left_temp = _kill_round(proc, model, rng, how, saved, stale)
        finally:
            if proc.poll() is None:
                proc.kill()
        out = proc.stdout.read() + proc.stderr.read()
        assert "Traceback" not in out, out[-3000:]
        killed_in_save += left_temp
        if not (model / STATE_FILE).exists():
            assert saved < 0, f"round {number}: the state file vanished"
            print(f"round {number}: {how:10s} -> nothing saved yet, temp file at kill: {left_temp}")
            continue
        iterations = _check_loadable(model, newest=True)
        assert iterations >= saved, (
            f"round {number} ({how}): iterations went from {saved} to {iterations}"
        )
        reported = max((int(m) for m in REPORTED.findall(out)), default=0)
        assert iterations >= reported - SAVE_INTERVAL, (
            f"round {number} ({how}): reached {reported}, only {iterations} saved"
        )
        for backup in list_backups(model):
            _check_loadable(backup.path, newest=False)
        for snapshot in model.parent.glob(f"{model.name}_snapshot_*_iters"):
            assert _check_loadable(snapshot, newest=False) > 0
        saved = iterations
        print(
            f"round {number}: {how:10s} -> saved {iterations}, reported {reported}, "
            f"temp file at kill: {left_temp}"
        )
    assert killed_in_save >= 1, "no kill landed inside a save; the test did not test saves"
    assert saved > 0, "no round got as far as a save"

    # the run after the last kill resumes, trains, cleans the leftovers and exits normally
    result = subprocess.run(
        _command(setup, model, 2),
        env=setup["env"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert _check_loadable(model, newest=True) >= saved + 2 - SAVE_INTERVAL
    assert load_state(model).iterations >= saved + 2 - SAVE_INTERVAL
    assert not _temp_files(model), _temp_files(model)


def test_a_kill_between_weights_and_state_of_the_first_save_leaves_a_model_that_opens(tmp_path):
    """The window the placeholder state closes: weights written, the first real state not yet."""
    from fs_core.folder.model_files import open_model_dir, save_model_files
    from fs_core.model.state import ModelState

    model = tmp_path / "m"

    def killed(path):
        path.write_bytes(b"partial")  # the weights written ... and then the process is gone
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        save_model_files(model, ModelState(model="tiny", iterations=5), killed)
    state = open_model_dir(model, "tiny")
    assert state is not None and state.iterations == 0  # resumes the weights, never went back

    (model / WEIGHTS_FILE).unlink()  # killed before the weights were written at all
    assert open_model_dir(model, "tiny") is None  # a new model again: nothing was trained


def test_leftover_temp_files_are_removed_when_the_folder_is_opened(tmp_path):
    from fs_core.folder.model_files import open_model_dir
    from fs_core.folder.state import save_state
    from fs_core.model.state import ModelState

    model = tmp_path / "m"
    (model / BACKUP_DIR).mkdir(parents=True)
    save_state(model, ModelState(model="tiny", iterations=3))
    (model / WEIGHTS_FILE).write_bytes(b"w")
    stale = [
        model / ".weights.h5.abc123.tmp",
        model / ".state.toml.x_9.tmp",
        model / BACKUP_DIR / ".weights.h5.q.tmp",
    ]
    for path in stale:
        path.write_bytes(b"half")
    mine = model / ".notes.tmp"
    mine.write_bytes(b"not fs's")
    assert open_model_dir(model, "tiny").iterations == 3
    assert not any(path.exists() for path in stale)
    assert mine.exists()


# ---------------------------------------------------------------- at scale: 50+ kills

SCALE_ROUNDS = 56
SCALE_KEEP = 2  # snapshot_keep and backup_keep: retention deletes at nearly every save
SLOW_WRITES = "0.02"  # seconds each copy and delete step pauses (FS_TEST_SLOW_WRITES)
#: what a round waits for before it kills: any moment, or a file of one kind of write appearing
MOMENTS = ("any", "save", "snapshot write", "backup write", "retention delete")


def _in_progress(model: Path) -> dict[str, bool]:
    """Which kinds of write are under way now, from the temporary names each one uses."""
    hidden = [p.name for p in model.parent.iterdir() if p.name.startswith(f".{model.name}_")]
    backups = model / BACKUP_DIR
    in_backups = [p.name for p in backups.iterdir()] if backups.is_dir() else []
    return {
        "save": bool(_temp_files(model)),
        "snapshot write": any(n.endswith(".tmp") for n in hidden),
        "backup write": any(n.startswith(".") and n.endswith(".tmp") for n in in_backups),
        "retention delete": any(n.endswith(".deleting") for n in hidden + in_backups),
    }


def _check_generations(model: Path) -> tuple[int, int]:
    """Every snapshot and backup generation loads; returns how many of each there are."""
    from fs_core.folder.retention import verify_generation
    from fs_core.folder.snapshots import list_snapshots

    snapshots = list_snapshots(model)
    visible = [p for p in model.parent.glob(f"{model.name}_snapshot_*_iters")]
    assert len(visible) == len(snapshots), (visible, snapshots)  # none half there
    for generation in snapshots + list_backups(model):
        verify_generation(generation.path)
    return len(snapshots), len(list_backups(model))


def test_fifty_sigkills_inside_saves_snapshots_backups_and_retention(tmp_path, monkeypatch):
    """56 SIGKILLs, each of a process that runs save cycles (save every iteration, snapshot every
    2, a backup at every save, retention keeping 2 of each): at a random moment, or the moment a
    save, a snapshot write, a backup write or a retention delete is seen under way. After each,
    the model, every snapshot and every backup load and at most one generation beyond the kept
    ones exists (a kill between a write and its retention); the last run cleans every leftover.

    The children are forked from a server that has TensorFlow imported (a new process would
    spend seconds importing it each round) and run the real loop with a stand-in step
    (:mod:`save_cycles`); ``FS_TEST_SLOW_WRITES`` widens each copy and delete step so that a
    kill lands inside it.
    """
    import multiprocessing

    import save_cycles

    monkeypatch.setenv("FS_TEST_SLOW_WRITES", SLOW_WRITES)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tensorflow", "keras", "fs_core.training.loop", "save_cycles"])
    rng = random.Random(SEED + 1)
    model = tmp_path / "m"
    config = save_cycles.write_config(
        tmp_path / "fs.toml", snapshot_keep=SCALE_KEEP, backup_keep=SCALE_KEEP
    )
    log = tmp_path / "children.log"
    saved, landed = -1, dict.fromkeys(MOMENTS, 0)
    for number in range(SCALE_ROUNDS):
        moment = MOMENTS[number % len(MOMENTS)] if number >= 3 else "any"
        child = context.Process(
            target=save_cycles.cycle_forever, args=(str(model), str(config), str(log))
        )
        child.start()
        try:
            if moment == "any":
                _wait_alive(child, rng.uniform(0.05, 1.5))
            else:
                _wait_for(child, lambda kind=moment: _in_progress(model)[kind], log)
            under_way = _in_progress(model) if model.is_dir() else {}
            assert child.is_alive(), f"the child ended by itself: {log.read_text()[-3000:]}"
            child.kill()  # SIGKILL
        finally:
            child.join(30)
        for kind, seen in under_way.items():
            landed[kind] += seen
        if not (model / STATE_FILE).exists():
            assert saved < 0, f"round {number}: the state file vanished"
            continue
        iterations = _check_loadable(model, newest=True)
        assert iterations >= saved, f"round {number} ({moment}): {saved} -> {iterations}"
        snapshots, backups = _check_generations(model)
        assert snapshots <= SCALE_KEEP + 1 and backups <= SCALE_KEEP + 1, (number, moment)
        saved = iterations
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    print(f"kills landed inside: {landed}; saved {saved} iterations")
    assert all(landed[kind] >= 3 for kind in MOMENTS[1:]), landed

    # a run after the last kill cleans the leftovers and keeps exactly what it says
    monkeypatch.delenv("FS_TEST_SLOW_WRITES")
    assert save_cycles.cycle(model, config, 4) == "done"
    assert _check_generations(model) == (SCALE_KEEP, SCALE_KEEP)
    assert not any(_in_progress(model).values())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def _wait_alive(child, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and child.is_alive():
        time.sleep(0.01)


def _wait_for(child, condition, log: Path, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end and child.is_alive():
        if condition():
            return
        time.sleep(0.0005)
    raise AssertionError(f"not seen in {timeout} s: {log.read_text()[-3000:]}")
