"""Training controls of the loop: LR finder, warmup, NaN protection, exact resume, load/freeze."""

from __future__ import annotations

import itertools
import math
import tomllib

import numpy as np
import pytest
from train_request import FAST, tiny_request

from fs_core.errors import FsUserError
from fs_core.model.weights import read_weights
from fs_core.training import lr_finder
from fs_core.training.run import run_train
from fs_core.training.session import TrainRequest


def _request(faces, model_dir, config, **changes) -> TrainRequest:
    return tiny_request(faces, model_dir, config, **{"seed": 3, **changes})


@pytest.fixture()
def config(tmp_path):
    path = tmp_path / "fs.toml"
    path.write_text(FAST)
    return path


def test_sweep_stops_on_divergence_and_choose_divides_the_best_rate():
    losses = iter([2.0] + [1.0 - 0.01 * i for i in range(49)] + [100.0] * 50)
    records = lr_finder.sweep(lambda rate: next(losses), 100)
    assert 50 < len(records) < 60
    best = min(records[lr_finder.SETTLE :], key=lambda r: r[1])[0]
    assert best > records[lr_finder.SETTLE + 20][0]  # the decreasing stretch, not the first record
    assert lr_finder.choose(records, "default") == pytest.approx(best / 10)
    assert lr_finder.choose(records, "extreme") == pytest.approx(best / 2.5)
    rates = [r for r, _ in records]
    gamma = (1e-1 / 1e-10) ** (1 / 100)
    assert rates[0] == pytest.approx(1e-10 * gamma) and all(
        b > a for a, b in itertools.pairwise(rates)
    )


def test_sweep_pairs_each_loss_with_the_rate_after_the_scheduler_step():
    """As faceswap reads its ExponentialLR after stepping it: γ × the rate the batch trained at."""
    used = []

    def step(rate):
        used.append(rate)
        return 1.0

    records = lr_finder.sweep(step, 50)
    gamma = (1e-1 / 1e-10) ** (1 / 50)
    assert used[0] == pytest.approx(1e-10)
    for trained_at, (recorded, _) in zip(used, records):
        assert recorded == pytest.approx(trained_at * gamma)
    assert records[-1][0] == pytest.approx(1e-1)


def test_sweep_stops_at_nan():
    values = iter([1.0, 0.9, float("nan"), 0.5])
    assert len(lr_finder.sweep(lambda rate: next(values), 4)) == 2


def test_lr_finder_graph_and_exit_stores_the_rate_and_trains_nothing(
    registry, faces, tmp_path, config
):
    config.write_text(
        "[global]\nlr_finder_iterations = 300\nlr_finder_mode = 'graph_and_exit'\n" + FAST
    )
    model = tmp_path / "m"
    reason = run_train(_request(faces, model, config, use_lr_finder=True), registry, lambda s: None)
    assert reason == "lr_finder"
    state = tomllib.loads((model / "state.toml").read_text())
    assert state["iterations"] == 0 and 1e-9 < state["lr_finder"] < 1
    assert list(model.glob("learning_rate_finder_*.png"))
    # the next run with -r trains at the stored rate
    assert (
        run_train(_request(faces, model, config, use_lr_finder=True), registry, lambda s: None)
        == "done"
    )
    state = tomllib.loads((model / "state.toml").read_text())
    assert state["sessions"][-1]["config"]["global"]["learning_rate"] == state["lr_finder"]
    assert state["sessions"][-1]["learning_rate_source"] == "lr_finder (stored)"


def test_a_stored_finder_rate_is_used_only_with_r(registry, faces, tmp_path, config, monkeypatch):
    """faceswap's trainer: -r reuses the stored rate (no second sweep); without -r the configured
    learning_rate applies. Each session records the rate and where it came from."""
    import fs_core.training.build as build_module

    sweeps = []

    def fake_finder(session, loader, step):
        sweeps.append(1)
        return 3e-5

    monkeypatch.setattr(build_module, "find_learning_rate", fake_finder)
    model = tmp_path / "m"
    seen = []
    for use_lr_finder in (True, False, True):
        run_train(
            _request(faces, model, config, iterations=1, use_lr_finder=use_lr_finder),
            registry,
            seen.append,
        )
    state = tomllib.loads((model / "state.toml").read_text())
    assert sweeps == [1] and state["lr_finder"] == pytest.approx(3e-5)
    used = [
        (s["config"]["global"]["learning_rate"], s["learning_rate_source"])
        for s in state["sessions"]
    ]
    assert used == [
        (pytest.approx(3e-5), "lr_finder"),
        (pytest.approx(5e-5), "config"),
        (pytest.approx(3e-5), "lr_finder (stored)"),
    ]
    assert any("add -r" in message for message in seen)


def test_warmup_ramps_the_rate_from_zero(registry, faces, tmp_path, config):
    seen = []

    class Spy:
        @staticmethod
        def record(session):
            seen.append(float(session.optimizer.learning_rate.numpy()))

    from fs_core import hookimpl

    class Plugin:
        @hookimpl
        def fs_iteration_end(self, session):
            Spy.record(session)

    registry.manager.register(Plugin(), "warmup_spy")
    try:
        run_train(
            _request(faces, tmp_path / "m", config, warmup=2, iterations=4),
            registry,
            lambda s: None,
        )
    finally:
        registry.manager.unregister(name="warmup_spy")
    assert seen[0] == 0.0 and seen[1] == pytest.approx(2.5e-5) and seen[2] == pytest.approx(5e-5)


def test_nan_stops_without_saving_and_names_the_term(registry, faces, tmp_path, config):
    config.write_text(FAST.replace("'mae'", "'tiny_nan'"))
    messages = []
    model = tmp_path / "m"
    reason = run_train(_request(faces, model, config), registry, messages.append)
    assert reason == "nan"
    assert not (model / "weights.h5").exists()
    assert any("tiny_nan" in m and "learning_rate" in m for m in messages)


def test_resume_with_saved_optimizer_is_exact(registry, faces, tmp_path, config):
    """N+M iterations in one run equal N then M under the same seed (optimizer saved at exit)."""
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    run_train(_request(faces, whole, config, iterations=4), registry, lambda s: None)
    run_train(_request(faces, parts, config, iterations=2), registry, lambda s: None)
    run_train(_request(faces, parts, config, iterations=2), registry, lambda s: None)
    a, _ = read_weights(whole / "weights.h5")
    b, _ = read_weights(parts / "weights.h5")
    model_keys = [k for k in a if not k.startswith("optimizer/")]
    assert model_keys
    for key in model_keys:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-7, err_msg=key)


def test_load_weights_copies_the_encoder_and_freeze_keeps_it(registry, faces, tmp_path, config):
    source = tmp_path / "source"
    run_train(_request(faces, source, config, iterations=2), registry, lambda s: None)
    target = tmp_path / "target"
    run_train(
        _request(faces, target, config, iterations=3, load_from=str(source), freeze=True, seed=9),
        registry,
        lambda s: None,
    )
    a, _ = read_weights(source / "weights.h5")
    b, _ = read_weights(target / "weights.h5")
    encoder = [k for k in a if k.startswith("encoder/")]
    decoder = [k for k in a if k.startswith("decoder_a/")]
    assert all(np.array_equal(a[k], b[k]) for k in encoder)  # loaded, then frozen
    assert not all(np.array_equal(a[k], b[k]) for k in decoder)


def test_load_weights_refuses_an_existing_model(registry, faces, tmp_path, config):
    model = tmp_path / "m"
    run_train(_request(faces, model, config, iterations=1), registry, lambda s: None)
    with pytest.raises(FsUserError, match="new model"):
        run_train(_request(faces, model, config, load_from=str(model)), registry, lambda s: None)


def test_mixed_bfloat16_trains_and_can_be_switched_off_on_resume(registry, faces, tmp_path, config):
    import keras

    model = tmp_path / "m"
    config.write_text("[global]\nmixed_precision = 'mixed_bfloat16'\n" + FAST)
    try:
        assert (
            run_train(_request(faces, model, config, iterations=2), registry, lambda s: None)
            == "done"
        )
        config.write_text(FAST)
        assert (
            run_train(_request(faces, model, config, iterations=2), registry, lambda s: None)
            == "done"
        )
    finally:
        keras.config.set_dtype_policy("float32")
    state = tomllib.loads((model / "state.toml").read_text())
    assert [s["config"]["global"]["mixed_precision"] for s in state["sessions"]] == [
        "mixed_bfloat16",
        "auto",  # the default: float32 on a CPU without AMX (as the tests see every CPU)
    ]
    assert math.isfinite(state["lowest_avg_loss"])
    assert [s["precision"]["used"] for s in state["sessions"]] == ["mixed_bfloat16", "float32"]


def test_auto_precision_is_chosen_printed_and_recorded(
    registry, faces, tmp_path, config, monkeypatch
):
    import keras

    from fs_core.training import session as session_module
    from fs_core.training.precision import Hardware

    amx = Hardware(cpu_flags=frozenset({"avx512f", "amx_tile", "amx_bf16"}))
    monkeypatch.setattr(session_module, "detect_hardware", lambda: amx)
    model, printed = tmp_path / "m", []
    config.write_text("[global]\nmixed_precision = 'auto'\n" + FAST)
    try:
        assert run_train(_request(faces, model, config, iterations=2), registry, printed.append)
        assert keras.config.dtype_policy().name == "float32"  # put back after the run
    finally:
        keras.config.set_dtype_policy("float32")
    assert "Precision: mixed_bfloat16 (auto: CPU has AMX (amx_bf16))" in printed
    session = tomllib.loads((model / "state.toml").read_text())["sessions"][0]
    assert session["precision"] == {
        "asked": "auto",
        "used": "mixed_bfloat16",
        "reason": "CPU has AMX (amx_bf16)",
    }


def test_a_second_run_on_the_same_model_folder_is_refused(registry, faces, tmp_path, config):
    from fs_core.folder.model_files import training_lock

    model = tmp_path / "m"
    with training_lock(model):
        with pytest.raises(FsUserError, match="another fs process"):
            run_train(_request(faces, model, config, iterations=1), registry, lambda s: None)
    assert not model.exists()  # the refused run, and the lock, left nothing behind
    assert (
        run_train(_request(faces, model, config, iterations=1), registry, lambda s: None) == "done"
    )


def test_nan_rollback_restores_lowers_the_rate_and_goes_on(
    registry, faces, tmp_path, config, monkeypatch
):
    import fs_core.training.run as run_module

    model = tmp_path / "m"
    assert (
        run_train(_request(faces, model, config, iterations=3), registry, lambda s: None) == "done"
    )
    config.write_text("[global]\nnan_recovery = 'rollback'\nnan_lr_factor = 0.1\n" + FAST)
    real = run_module.make_train_step
    calls = []

    def poisoned(*args, **kwargs):
        step = real(*args, **kwargs)

        def wrapped(batch):
            result = dict(step(batch))
            calls.append(1)
            if len(calls) == 2:  # one collapse, on the session's second iteration
                result["loss_a"] = float("nan")
            return result

        return wrapped

    monkeypatch.setattr(run_module, "make_train_step", poisoned)
    messages = []
    assert (
        run_train(_request(faces, model, config, iterations=4), registry, messages.append) == "done"
    )
    state = tomllib.loads((model / "state.toml").read_text())
    rollback = state["sessions"][-1]["nan_rollbacks"]
    assert len(rollback) == 1 and rollback[0]["restored_to"] == 3
    assert rollback[0]["learning_rate"] == pytest.approx(5e-6)
    # 4 steps ran: one to 4, one that collapsed (undone, back to 3), then two to 5
    assert state["iterations"] == 5
    assert any("rolled back" in m for m in messages)


def _oom_above(monkeypatch, limit: int) -> None:
    """Make the train step run out of memory for batches larger than ``limit``."""
    import tensorflow as tf

    import fs_core.training.run as run_module

    real = run_module.make_train_step

    def limited(*args, **kwargs):
        step = real(*args, **kwargs)

        def wrapped(batch):
            if batch["a"]["input"].shape[0] > limit:
                raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
            return step(batch)

        return wrapped

    monkeypatch.setattr(run_module, "make_train_step", limited)


def test_out_of_memory_names_the_settings_to_lower(registry, faces, tmp_path, config, monkeypatch):
    _oom_above(monkeypatch, 2)
    with pytest.raises(FsUserError, match=r"out of memory.*batch size 4.*--auto-batch"):
        run_train(_request(faces, tmp_path / "m", config, batch_size=4), registry, lambda s: None)
    assert not (tmp_path / "m").exists()


def test_auto_batch_halves_until_it_fits_and_records_it(
    registry, faces, tmp_path, config, monkeypatch
):
    _oom_above(monkeypatch, 2)
    model = tmp_path / "m"
    request = _request(faces, model, config, batch_size=8, auto_batch=True, iterations=2)
    assert run_train(request, registry, lambda s: None) == "done"
    state = tomllib.loads((model / "state.toml").read_text())
    assert state["sessions"][-1]["batch_size"] == 2
    assert state["sessions"][-1]["auto_batch"] == {"asked": 8, "used": 2}
