"""Watching a training run from the CLI: preview.png, timelapse, TensorBoard events, analysis,
snapshots that train on, and restore bringing back the backed-up iteration count."""

from __future__ import annotations

import csv
import shutil
import tomllib
from pathlib import Path
from types import SimpleNamespace

import cv2
import pytest

from fs_core.builtins.preview import KEY as PREVIEW
from fs_core.cli.main import main
from fs_core.stash import Stash

MODEL = ["-t", "lightweight", "-b", "2"]
PREVIEW_FACES = 2


@pytest.fixture(scope="module")
def trained(demo, tmp_path_factory):
    """4 iterations saved at 2 and 4, with -w, a timelapse, logs and snapshots every 2."""
    root = tmp_path_factory.mktemp("run")
    config = root / "fs.toml"
    config.write_text(f"[augmentation]\npreview_images = {PREVIEW_FACES}\n")
    model, timelapse = root / "m", root / "timelapse"
    code = main(
        [
            "train",
            "-A",
            str(demo / "A"),
            "-B",
            str(demo / "B"),
            "-m",
            str(model),
            *MODEL,
            "-i",
            "4",
            "-s",
            "2",
            "-I",
            "2",
            "-w",
            "-x",
            str(demo / "A"),
            "-y",
            str(demo / "B"),
            "-z",
            str(timelapse),
            "-C",
            str(config),
            "--seed",
            "3",
        ]
    )
    assert code == 0
    return SimpleNamespace(model=model, timelapse=timelapse, root=root, config=config)


def _state(folder: Path) -> dict:
    return tomllib.loads((folder / "state.toml").read_text())


def _expected_preview_shape(faces: int, tile: int = 64) -> tuple[int, int, int]:
    return (int(tile / 4.5) + faces * tile, 6 * tile, 3)


def test_preview_png_has_the_grid_size(trained):
    image = cv2.imread(str(trained.model / "preview.png"))
    assert image is not None and image.shape == _expected_preview_shape(PREVIEW_FACES)
    assert not list(trained.model.glob(".preview.png*"))  # no temporary file left behind


def test_preview_faces_carry_the_training_mask(demo, trained):
    """Default options penalize the loss with the extended mask: the preview shows it."""
    from fs_core.faces.faceset import index_faceset
    from fs_core.faces.prepare import PrepareSpec
    from fs_core.preview.faces import load_preview_faces, preview_spec

    faceset = index_faceset(demo / "A")
    spec = preview_spec(PrepareSpec(size=64, coverage=87.5, mask_type="extended"), True, True)
    faces = load_preview_faces([str(p) for p in faceset.paths[:2]], spec, 64)
    assert faces.crops.shape == (2, 64, 64, 3) and faces.tiles.shape[1] > 64
    assert faces.masks is not None and 0.0 < faces.masks.mean() < 1.0


def test_timelapse_writes_one_image_per_save(trained):
    frames = sorted(trained.timelapse.glob("*.jpg"))
    assert len(frames) == 2
    for frame in frames:
        assert frame.stem.split("_")[0].isdigit()
        assert cv2.imread(str(frame)).shape == _expected_preview_shape(PREVIEW_FACES)


def test_event_files_hold_the_named_scalars(trained):
    from fs_core.record.events import event_files, read_scalars, text_values

    files = event_files(trained.model / "logs" / "session_1")
    assert files
    scalars = read_scalars(files)
    for tag in (
        "total",
        "loss_a",
        "loss_b",
        "a/ssim",
        "a/ssim_weighted",
        "a/mse",
        "b/mse_weighted",
        "learning_rate",
        "examples_per_second",
    ):
        assert [step for step, _ in scalars[tag]] == [1, 2, 3, 4], tag
    total = dict(scalars["total"])
    assert total[3] == pytest.approx(dict(scalars["loss_a"])[3] + dict(scalars["loss_b"])[3], 1e-5)
    assert dict(scalars["learning_rate"])[1] == pytest.approx(5e-5)
    assert '"class_name"' in text_values(files, "model_config")[0]


def test_a_half_written_last_record_is_ignored(trained, tmp_path):
    from fs_core.record.events import event_files, read_scalars

    source = event_files(trained.model / "logs" / "session_1")[0]
    cut = tmp_path / source.name
    cut.write_bytes(source.read_bytes()[:-7])
    whole, partial = read_scalars([source]), read_scalars([cut])
    assert sum(map(len, partial.values())) == sum(map(len, whole.values())) - 1


def test_no_logs_writes_no_event_files(tmp_path):
    from fs_core.builtins import tensorboard

    session = SimpleNamespace(
        request=SimpleNamespace(no_logs=True), stash=Stash(), model_dir=tmp_path
    )
    tensorboard.fs_train_start(session)
    tensorboard.fs_save(session)
    tensorboard.fs_train_end(session)
    assert len(session.stash) == 0 and not (tmp_path / "logs").exists()


def test_analysis_csv_rows_match_the_state(trained, tmp_path, capsys):
    table, graph = tmp_path / "sessions.csv", tmp_path / "loss.png"
    assert (
        main(["analysis", "-m", str(trained.model), "--csv", str(table), "--graph", str(graph)])
        == 0
    )
    printed = capsys.readouterr().out
    sessions = _state(trained.model)["sessions"]
    rows = list(csv.DictReader(table.open()))
    assert len(rows) == len(sessions) == 1
    for row, entry in zip(rows, sessions):
        assert int(row["id"]) == entry["id"] and int(row["iterations"]) == entry["iterations"]
        assert int(row["batch_size"]) == entry["batch_size"] == 2
        assert float(row["examples_per_second"]) == pytest.approx(entry["examples_per_second"])
        assert row["start"] == entry["start"] and row["end"] == entry["end"]
    assert "examples/s" in printed and "4" in printed
    image = cv2.imread(str(graph))
    assert image is not None and image.shape[0] > 100


def test_snapshots_are_complete_and_train_on(demo, trained):
    for iterations in (2, 4):
        snapshot = trained.model.parent / f"m_snapshot_{iterations}_iters"
        assert {p.name for p in snapshot.iterdir()} >= {"state.toml", "weights.h5", "logs"}
        assert _state(snapshot)["iterations"] == iterations
    assert not [p for p in trained.model.parent.iterdir() if p.name.startswith(".")]
    snapshot = trained.model.parent / "m_snapshot_2_iters"
    assert (
        main(
            [
                "train",
                "-A",
                str(demo / "A"),
                "-B",
                str(demo / "B"),
                "-m",
                str(snapshot),
                *MODEL,
                "-i",
                "1",
                "-n",
            ]
        )
        == 0
    )
    assert _state(snapshot)["iterations"] == 3
    assert sorted(p.name for p in (snapshot / "logs").iterdir()) == ["session_1"]  # -n: no new logs


def test_snapshot_replaces_an_older_one_of_the_same_name(trained, tmp_path):
    from fs_core.folder.snapshots import write_snapshot

    model = tmp_path / "m"
    shutil.copytree(trained.model, model, ignore=shutil.ignore_patterns("backups", "preview.png"))
    first = write_snapshot(model, 4)
    (first / "stale.txt").write_text("from before")
    again = write_snapshot(model, 4)
    assert again == first and not (again / "stale.txt").exists()
    assert _state(again)["iterations"] == 4


def test_restore_brings_back_the_backed_up_iteration_count(trained, tmp_path, capsys):
    from fs_core.folder.backups import write_backup
    from fs_core.folder.state import load_state, save_state

    model = tmp_path / "m"
    shutil.copytree(trained.model, model, ignore=shutil.ignore_patterns("backups", "preview.png"))
    write_backup(model)  # the backup holds 4 iterations
    state = load_state(model)  # the model trains on (a later, worse save)
    state.iterations = 9
    state.sessions.append(
        {"id": 2, "start": state.sessions[0]["start"], "batch_size": 2, "iterations": 5}
    )
    save_state(model, state)
    (model / "logs" / "session_2").mkdir()
    assert main(["restore", "-m", str(model)]) == 0
    assert _state(model)["iterations"] == 4
    archives = list(model.glob("archived_*"))
    assert len(archives) == 1 and _state(archives[0])["iterations"] == 9
    assert (archives[0] / "weights.h5").exists() and (archives[0] / "logs" / "session_2").exists()
    assert (model / "logs" / "session_1").exists() and not (model / "logs" / "session_2").exists()
    backup = model / "backups" / "4_iters"
    assert (model / "weights.h5").read_bytes() == (backup / "weights.h5").read_bytes()


@pytest.mark.parametrize(
    "args",
    [
        ["restore", "-m", "{tmp}/nope"],
        ["restore", "-m", "{model}"],  # no backups/
        ["analysis", "-m", "{tmp}/nope"],
        ["analysis", "-m", "{model}", "--session", "7"],
        [
            "train",
            "-A",
            "{demo}/A",
            "-B",
            "{demo}/B",
            "-m",
            "{tmp}/new",
            "-t",
            "lightweight",
            "-x",
            "{demo}/A",
            "-y",
            "{demo}/B",
        ],
        [
            "train",
            "-A",
            "{demo}/A",
            "-B",
            "{demo}/B",
            "-m",
            "{tmp}/new",
            "-t",
            "lightweight",
            "-x",
            "{tmp}",
            "-y",
            "{demo}/B",
            "-z",
            "{tmp}/tl",
        ],
    ],
)
def test_bad_input_is_one_line_and_exit_1(args, demo, trained, tmp_path, capsys):
    model = tmp_path / "model"  # a saved state without backups
    model.mkdir()
    shutil.copy(trained.model / "state.toml", model / "state.toml")
    filled = [a.format(tmp=tmp_path, model=model, demo=demo) for a in args]
    assert main(filled) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    if "-z" not in args and args[0] == "train":
        assert "-z/--timelapse-output" in err
    assert not (tmp_path / "new").exists()


def test_preview_without_display_says_so(monkeypatch):
    from fs_core.builtins import preview

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert not preview.display_available()
    said = []
    session = SimpleNamespace(
        request=SimpleNamespace(preview=True, write_image=False),
        is_chief=True,
        stash=Stash(),
        print=said.append,
        config=SimpleNamespace(
            augmentation=SimpleNamespace(mask_opacity=30, mask_color="#ff0000"),
            loss=SimpleNamespace(penalized_mask_loss=False),
            mask=SimpleNamespace(mask_type="none"),
        ),
        built=SimpleNamespace(learn_mask=False),
    )
    preview.fs_train_start(session)
    assert len(said) == 1 and "no display" in said[0] and "-w" in said[0]
    assert PREVIEW not in session.stash
