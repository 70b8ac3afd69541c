"""Bad input, everywhere: every command against every kind of mistake a user (or their disk) makes.

Each case runs ``fs`` in-process and must end with exit code 1 and ONE line on stderr that names the
file or option at fault: never a traceback (exit 2 means a bug), and never a changed saved model
(the bytes of every file in the model folder, backups included, are compared before and after). A
full disk and a read-only folder are simulated in-process: ``os.fsync`` (where a full disk reports
on write-back) or ``os.replace`` raise the system's error, so the real atomic writers run.

The table is :data:`CASES`; commands that other packs may add later (``swap``, ``export``) get the
generic model-folder cases of :func:`_generic_cases` as soon as their module exists.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import os
import shutil
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fs_core import plugin_manager
from fs_core.cli.main import COMMANDS, main
from fs_core.errors import FsUserError
from fs_core.folder.layout import RECORD_DIR

FAST = (
    "[global.loss]\nloss_function = 'mae'\nloss_function_2 = 'none'\n"
    "penalized_mask_loss = false\n[global.mask]\nmask_type = 'none'\n"
)
TINY = ["-t", "tiny", "-b", "2", "-i", "1", "-n"]


# ----------------------------------------------------------------------------- the world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Faces, a fast config and a trained tiny model (with a backup), the tiny model installed as a
    pack so the in-process ``fs`` sees it."""
    root = tmp_path_factory.mktemp("bad")
    site = root / "site"
    info = site / "fs_test_tiny-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fs-test-tiny\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[fs_core]\ntiny = tiny_plugin\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(site))
        patch.setattr(plugin_manager, "_CACHE", {})
        patch.delenv(plugin_manager.DISABLE_ENV, raising=False)
        from fs_core.faces.demo import write_demo_data

        a, b = write_demo_data(root / "faces", count=6, size=64)
        config = root / "fs.toml"
        config.write_text(FAST)
        model = root / "model"
        assert (
            main(
                [
                    "train",
                    "-A",
                    str(a),
                    "-B",
                    str(b),
                    "-m",
                    str(model),
                    "-C",
                    str(config),
                    "-t",
                    "tiny",
                    "-b",
                    "2",
                    "-i",
                    "3",
                    "-s",
                    "1",
                    "-n",
                    "--seed",
                    "1",
                ]
            )
            == 0
        )
        other = root / "model16"  # the same model made with other (locked) options
        (root / "f16.toml").write_text(FAST + "[model.tiny]\nfilters = 16\n")
        assert (
            main(
                [
                    "train",
                    "-A",
                    str(a),
                    "-B",
                    str(b),
                    "-m",
                    str(other),
                    "-C",
                    str(root / "f16.toml"),
                    "-t",
                    "tiny",
                    "-b",
                    "2",
                    "-i",
                    "1",
                    "-n",
                ]
            )
            == 0
        )
        from fs_core.folder.backups import list_backups, write_backup

        if not list_backups(model):  # a backup needs a new low; force one
            write_backup(model)
        yield {"root": root, "a": a, "b": b, "config": config, "model": model, "other": other}


def _newest_backup(ctx) -> Path:
    from fs_core.folder.backups import newest_backup

    newest = newest_backup(ctx.model)
    assert newest is not None
    return newest.path


class Ctx(NamedTuple):
    tmp: Path
    a: str
    b: str
    config: str
    model: Path  # a private copy of the trained model
    monkeypatch: pytest.MonkeyPatch
    other: Path  # a tiny model made with filters = 16 (weights of other shapes)


def _copy_faces(ctx: Ctx, name: str = "faces") -> Path:
    folder = ctx.tmp / name
    shutil.copytree(ctx.a, folder)
    return folder


def _face_bytes(ctx: Ctx) -> bytes:
    return sorted(Path(ctx.a).glob("*.png"))[0].read_bytes()


def _itxt(payload: bytes) -> bytes:
    body = b"faceswap" + b"\x00" * 5 + payload
    return (
        struct.pack(">I", len(body))
        + b"iTXt"
        + body
        + struct.pack(">I", zlib.crc32(b"iTXt" + body))
    )


def png_with_payload(payload: bytes, size: int = 64) -> bytes:
    """A valid PNG image whose faceswap header chunk carries ``payload`` (CRC correct)."""
    _ok, encoded = cv2.imencode(".png", np.full((size, size, 3), 128, np.uint8))
    data = encoded.tobytes()
    idat = data.index(b"IDAT") - 4
    return data[:idat] + _itxt(payload) + data[idat:]


def _flip_weights_byte(path: Path) -> None:
    """Damage one value of the largest dataset in place, so HDF5 reads but the checksum fails."""
    import h5py

    with h5py.File(path, "r") as handle:
        names: list = []
        handle.visititems(
            lambda n, o: (
                names.append((o.size, n, o.id.get_offset()))
                if isinstance(o, h5py.Dataset) and o.id.get_offset()
                else None
            )
        )
    _, _, offset = max(names)
    data = bytearray(path.read_bytes())
    data[offset + 1] ^= 0xFF
    path.write_bytes(bytes(data))


def _bad_folder(
    ctx: Ctx, name: str, data: bytes | None = None, image: np.ndarray | None = None
) -> str:
    """A copy of face set A with one bad file added."""
    folder = _copy_faces(ctx)
    if image is not None:
        cv2.imwrite(str(folder / name), image)
    else:
        (folder / name).write_bytes(data)
    return str(folder)


def _plain_folder(
    ctx: Ctx, name: str, data: bytes | None = None, image: np.ndarray | None = None
) -> str:
    """Face set A as plain crops (no faceswap header) with one bad file added: the pixels are
    checked when faces are read for the cache, not when the folder is indexed."""
    folder = ctx.tmp / "plain"
    folder.mkdir()
    for path in sorted(Path(ctx.a).glob("*.png")):
        cv2.imwrite(str(folder / path.name), cv2.imread(str(path)))
    if image is not None:
        cv2.imwrite(str(folder / name), image)
    else:
        (folder / name).write_bytes(data)
    return str(folder)


def _jpeg(ctx: Ctx) -> bytes:
    return cv2.imencode(".jpg", cv2.imread(sorted(Path(ctx.a).glob("*.png"))[0].as_posix()))[
        1
    ].tobytes()


def _full_disk(ctx: Ctx) -> None:
    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    ctx.monkeypatch.setattr(os, "fsync", no_space)


def _read_only(ctx: Ctx) -> None:
    def refused(src, dst, *args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(dst))

    ctx.monkeypatch.setattr(os, "replace", refused)


# ----------------------------------------------------------------------------- the table


class Case(NamedTuple):
    name: str
    argv: Callable[[Ctx], list[str]]
    expect: Callable[
        [Ctx], list[str]
    ]  # fragments the one error line must contain (case-insensitive)
    setup: Callable[[Ctx], None] | None = None


def train(
    *extra: str, a: Callable[[Ctx], str] | None = None, model: Callable[[Ctx], str] | None = None
) -> Callable[[Ctx], list[str]]:
    def argv(ctx: Ctx) -> list[str]:
        return [
            "train",
            "-A",
            a(ctx) if a else ctx.a,
            "-B",
            ctx.b,
            "-m",
            model(ctx) if model else str(ctx.model),
            "-C",
            ctx.config,
            *TINY,
            *extra,
        ]

    return argv


def preview(folder: Callable[[Ctx], str], *extra: str) -> Callable[[Ctx], list[str]]:
    return lambda ctx: [
        "augment-preview",
        "-A",
        folder(ctx),
        "-o",
        str(ctx.tmp / "p.png"),
        "--size",
        "32",
        "--count",
        "50",
        *extra,
    ]


def _write(ctx: Ctx, name: str, text: str) -> str:
    (ctx.tmp / name).write_text(text)
    return str(ctx.tmp / name)


def _a_file(ctx: Ctx) -> Path:
    (ctx.tmp / "a_file").write_text("x")
    return ctx.tmp / "a_file"


GRAY = np.full((64, 64), 100, np.uint8)
RGBA = np.full((64, 64, 4), 100, np.uint8)
WIDE = np.zeros((20, 40, 3), np.uint8)
DEEP = np.full((64, 64, 3), 300, np.uint16)
BAD_META = b"{'alignments': {'landmarks_xy': [[1, 2], [3"
META_NOT_DICT = b"[1, 2, 3]"
META_5_POINTS = str({"alignments": {"landmarks_xy": [[1.0, 2.0]] * 5}}).encode()
META_BAD_MASK = str(
    {
        "alignments": {
            "landmarks_xy": [[float(i), float(i)] for i in range(68)],
            "mask": {"components": {"mask": b"not zlib", "stored_size": 4}},
        }
    }
).encode()

FACE_DEFECTS: list[tuple[str, Callable[[Ctx], str], str]] = [
    ("missing folder", lambda ctx: str(ctx.tmp / "nope"), "nope"),
    ("empty folder", lambda ctx: (ctx.tmp / "empty").mkdir() or str(ctx.tmp / "empty"), "empty"),
    ("a file, not a folder", lambda ctx: str(_a_file(ctx)), "a_file"),
    (
        "non-image",
        lambda ctx: _bad_folder(ctx, "zz_notes.png", b"this is not a picture"),
        "zz_notes.png",
    ),
    (
        "truncated PNG",
        lambda ctx: _bad_folder(ctx, "zz_cut.png", _face_bytes(ctx)[:700]),
        "zz_cut.png",
    ),
    (
        "truncated PNG, header intact",
        lambda ctx: _bad_folder(ctx, "zz_cut.png", _face_bytes(ctx)[: len(_face_bytes(ctx)) - 40]),
        "zz_cut.png",
    ),
    ("empty PNG", lambda ctx: _bad_folder(ctx, "zz_empty.png", b""), "zz_empty.png"),
    (
        "malformed metadata",
        lambda ctx: _bad_folder(ctx, "zz_meta.png", png_with_payload(BAD_META)),
        "zz_meta.png",
    ),
    (
        "metadata not a dict",
        lambda ctx: _bad_folder(ctx, "zz_meta.png", png_with_payload(META_NOT_DICT)),
        "zz_meta.png",
    ),
    (
        "5-point landmarks",
        lambda ctx: _bad_folder(ctx, "zz_meta.png", png_with_payload(META_5_POINTS)),
        "zz_meta.png",
    ),
    (
        "corrupt stored mask",
        lambda ctx: _bad_folder(ctx, "zz_mask.png", png_with_payload(META_BAD_MASK)),
        "zz_mask.png",
    ),
    # images without a faceswap header among extracted faces are skipped, not refused: see
    # test_stray_images_in_an_extract_folder_are_skipped_with_a_warning
    (
        "plain crops: grayscale",
        lambda ctx: _plain_folder(ctx, "zz_gray.png", image=GRAY),
        "zz_gray.png",
    ),
    (
        "plain crops: 4-channel",
        lambda ctx: _plain_folder(ctx, "zz_rgba.png", image=RGBA),
        "zz_rgba.png",
    ),
    (
        "plain crops: 16-bit",
        lambda ctx: _plain_folder(ctx, "zz_deep.png", image=DEEP),
        "zz_deep.png",
    ),
    (
        "plain crops: non-square",
        lambda ctx: _plain_folder(ctx, "zz_wide.png", image=WIDE),
        "zz_wide.png",
    ),
    (
        "plain crops: text named .jpg",
        lambda ctx: _plain_folder(ctx, "zz_fake.jpg", b"\xff\xd8 no"),
        "zz_fake.jpg",
    ),
    (
        "plain crops: truncated JPEG",
        lambda ctx: _plain_folder(ctx, "zz_cut.jpg", _jpeg(ctx)[:500]),
        "zz_cut.jpg",
    ),
    (
        "plain crops: truncated PNG",
        lambda ctx: _plain_folder(
            ctx,
            "zz_cut.png",
            cv2.imencode(".png", np.full((64, 64, 3), 7, np.uint8))[1].tobytes()[:-30],
        ),
        "zz_cut.png",
    ),
]

CASES: list[Case] = []
for _name, _folder, _fragment in FACE_DEFECTS:
    CASES.append(Case(f"train: faces: {_name}", train(a=_folder), lambda ctx, f=_fragment: [f]))
    CASES.append(
        Case(f"augment-preview: faces: {_name}", preview(_folder), lambda ctx, f=_fragment: [f])
    )

CASES += [
    # train: options out of range and wrong models
    Case(
        "train: unknown model",
        lambda ctx: train()(ctx) + ["-t", "no_such_model"],
        lambda ctx: ["no_such_model"],
    ),
    Case(
        "train: folder of another model",
        lambda ctx: train()(ctx) + ["-t", "original"],
        lambda ctx: ["tiny"],
    ),
    Case("train: batch size 0", train("-b", "0"), lambda ctx: ["-b"]),
    Case("train: batch size 1000", train("-b", "1000"), lambda ctx: ["-b"]),
    Case("train: more than the faces", train("-b", "64"), lambda ctx: ["-b", "faces"]),
    Case("train: save interval 0", train("-s", "0"), lambda ctx: ["-s"]),
    Case("train: negative iterations", train("-i", "-5"), lambda ctx: ["-i"]),
    Case("train: warmup out of range", train("-a", "99999"), lambda ctx: ["-a"]),
    Case("train: negative snapshot interval", train("-I", "-1"), lambda ctx: ["-I"]),
    Case(
        "train: timelapse without output",
        lambda ctx: train("-x", ctx.a, "-y", ctx.b)(ctx),
        lambda ctx: ["-z"],
    ),
    Case(
        "train: missing -A",
        lambda ctx: ["train", "-B", ctx.b, "-m", str(ctx.model), *TINY],
        lambda ctx: ["-A"],
    ),
    Case(
        "train: load weights from a missing folder",
        lambda ctx: train(model=lambda c: str(c.tmp / "new"))(ctx) + ["-l", str(ctx.tmp / "none")],
        lambda ctx: ["none"],
    ),
    # train: config files
    Case(
        "train: config missing",
        lambda ctx: train()(ctx) + ["-C", str(ctx.tmp / "no.toml")],
        lambda ctx: ["no.toml"],
    ),
    Case(
        "train: config unknown key",
        lambda ctx: (
            train()(ctx)
            + ["-C", _write(ctx, "k.toml", FAST + "[augmentation]\nwarp_harder = true\n")]
        ),
        lambda ctx: ["k.toml", "warp_harder"],
    ),
    Case(
        "train: config unknown section",
        lambda ctx: train()(ctx) + ["-C", _write(ctx, "s.toml", FAST + "[trainer]\nx = 1\n")],
        lambda ctx: ["s.toml", "trainer"],
    ),
    Case(
        "train: config value out of range",
        lambda ctx: train()(ctx) + ["-C", _write(ctx, "r.toml", "[global]\nlearning_rate = 5.0\n")],
        lambda ctx: ["r.toml", "learning_rate"],
    ),
    Case(
        "train: config not TOML",
        lambda ctx: train()(ctx) + ["-C", _write(ctx, "t.toml", "[global\n")],
        lambda ctx: ["t.toml"],
    ),
    Case(
        "train: config unknown model option",
        lambda ctx: (
            train()(ctx) + ["-C", _write(ctx, "m.toml", FAST + "[model.tiny]\nlayers = 3\n")]
        ),
        lambda ctx: ["layers"],
    ),
    # train: the model folder
    Case(
        "train: model folder under a file",
        train(model=lambda ctx: str(_a_file(ctx) / "m")),
        lambda ctx: ["a_file"],
    ),
    Case(
        "train: model folder is a file",
        train(model=lambda ctx: str(_a_file(ctx))),
        lambda ctx: ["a_file"],
    ),
    Case(
        "train: folder of other files",
        train(
            model=lambda ctx: (
                (ctx.tmp / "docs").mkdir()
                or ((ctx.tmp / "docs" / "cv.txt").write_text("x") and str(ctx.tmp / "docs"))
            )
        ),
        lambda ctx: ["docs"],
    ),
    Case(
        "train: damaged state",
        train(),
        lambda ctx: ["state.toml", "restore"],
        setup=lambda ctx: (ctx.model / "state.toml").write_text("iterations = = 3"),
    ),
    Case(
        "train: state without weights",
        train(),
        lambda ctx: ["restore"],
        setup=lambda ctx: (ctx.model / "weights.h5").unlink(),
    ),
    Case(
        "train: truncated weights",
        train(),
        lambda ctx: ["weights.h5", "restore"],
        setup=lambda ctx: (ctx.model / "weights.h5").write_bytes(
            (ctx.model / "weights.h5").read_bytes()[:3000]
        ),
    ),
    Case(
        "train: weights fail their checksum",
        train(),
        lambda ctx: ["weights.h5", "checksum", "restore"],
        setup=lambda ctx: _flip_weights_byte(ctx.model / "weights.h5"),
    ),
    Case(
        "train: weights of other options",
        train(),
        lambda ctx: ["weights.h5", "do not match"],
        setup=lambda ctx: shutil.copy(ctx.other / "weights.h5", ctx.model / "weights.h5"),
    ),
    Case(
        "train: -l from damaged weights",
        lambda ctx: train(model=lambda c: str(c.tmp / "new"))(ctx) + ["-l", str(ctx.model)],
        lambda ctx: ["weights.h5", "checksum"],
        setup=lambda ctx: _flip_weights_byte(ctx.model / "weights.h5"),
    ),
    Case(
        "train: read-only model folder",
        train(),
        lambda ctx: ["weights.h5", "permission"],
        setup=_read_only,
    ),
    Case(
        "train: disk full at save",
        train(),
        lambda ctx: ["weights.h5", "no space"],
        setup=_full_disk,
    ),
    Case(
        "train: disk full at the first save of a new model",
        train(model=lambda ctx: str(ctx.tmp / "fresh")),
        lambda ctx: ["fresh", "no space"],
        setup=_full_disk,
    ),
    # summary
    Case(
        "summary: unknown model",
        lambda ctx: ["summary", "-t", "no_such_model"],
        lambda ctx: ["no_such_model"],
    ),
    Case(
        "summary: config unknown key",
        lambda ctx: ["summary", "-t", "tiny", "-C", _write(ctx, "k.toml", "[global]\nspeed = 3\n")],
        lambda ctx: ["k.toml", "speed"],
    ),
    Case(
        "summary: config missing",
        lambda ctx: ["summary", "-t", "tiny", "-C", str(ctx.tmp / "no.toml")],
        lambda ctx: ["no.toml"],
    ),
    Case(
        "summary: config out of range",
        lambda ctx: [
            "summary",
            "-t",
            "tiny",
            "-C",
            _write(ctx, "r.toml", "[model.tiny]\nfilters = 1000\n"),
        ],
        lambda ctx: ["r.toml", "filters"],
    ),
    # config
    Case(
        "config: unknown preset",
        lambda ctx: ["config", "--preset", "no_such_preset"],
        lambda ctx: ["no_such_preset"],
    ),
    Case(
        "config: write into a missing folder",
        lambda ctx: ["config", "--write", str(ctx.tmp / "no" / "fs.toml")],
        lambda ctx: ["no"],
    ),
    Case(
        "config: write under a file",
        lambda ctx: ["config", "--write", str(_a_file(ctx) / "fs.toml")],
        lambda ctx: ["a_file"],
    ),
    Case(
        "config: write onto a folder",
        lambda ctx: ["config", "--write", str(ctx.tmp)],
        lambda ctx: [str(ctx.tmp)],
    ),
    Case(
        "config: start from unknown keys",
        lambda ctx: ["config", "-C", _write(ctx, "k.toml", "[global]\nspeed = 3\n")],
        lambda ctx: ["k.toml", "speed"],
    ),
    Case(
        "config: write on a full disk",
        lambda ctx: ["config", "--write", str(ctx.tmp / "fs.toml")],
        lambda ctx: ["fs.toml", "no space"],
        setup=_full_disk,
    ),
    Case(
        "config: write in a read-only folder",
        lambda ctx: ["config", "--write", str(ctx.tmp / "fs.toml")],
        lambda ctx: ["fs.toml", "permission"],
        setup=_read_only,
    ),
    # demo-data
    Case(
        "demo-data: count 0",
        lambda ctx: ["demo-data", str(ctx.tmp / "d"), "--count", "0"],
        lambda ctx: ["--count"],
    ),
    Case(
        "demo-data: size 10",
        lambda ctx: ["demo-data", str(ctx.tmp / "d"), "--size", "10"],
        lambda ctx: ["--size"],
    ),
    Case(
        "demo-data: under a file",
        lambda ctx: ["demo-data", str(_a_file(ctx) / "d"), "--count", "1", "--size", "64"],
        lambda ctx: ["a_file"],
    ),
    Case(
        "demo-data: into a folder of other files",
        lambda ctx: ["demo-data", str(ctx.tmp), "--count", "1", "--size", "64"],
        lambda ctx: [str(ctx.tmp)],
        setup=lambda ctx: (ctx.tmp / "A").mkdir() or (ctx.tmp / "A" / "mine.txt").write_text("x"),
    ),
    Case(
        "demo-data: full disk",
        lambda ctx: ["demo-data", str(ctx.tmp / "d"), "--count", "1", "--size", "64"],
        lambda ctx: ["no space"],
        setup=_full_disk,
    ),
    # augment-preview options
    Case(
        "augment-preview: size 0", preview(lambda ctx: ctx.a, "--size", "0"), lambda ctx: ["--size"]
    ),
    Case(
        "augment-preview: count 0",
        preview(lambda ctx: ctx.a, "--count", "0"),
        lambda ctx: ["--count"],
    ),
    Case(
        "augment-preview: output folder missing",
        lambda ctx: ["augment-preview", "-A", ctx.a, "-o", str(ctx.tmp / "no" / "p.png")],
        lambda ctx: ["no"],
    ),
    Case(
        "augment-preview: config unknown key",
        lambda ctx: (
            preview(lambda c: c.a)(ctx)
            + ["-C", _write(ctx, "k.toml", "[augmentation]\nwarp_harder = true\n")]
        ),
        lambda ctx: ["k.toml", "warp_harder"],
    ),
    Case(
        "augment-preview: full disk",
        preview(lambda ctx: ctx.a),
        lambda ctx: ["p.png", "no space"],
        setup=lambda ctx: ctx.monkeypatch.setattr(
            "builtins.open", _refusing_open(ctx.tmp / "p.png", errno.ENOSPC)
        ),
    ),
    # restore
    Case(
        "restore: missing folder",
        lambda ctx: ["restore", "-m", str(ctx.tmp / "nope")],
        lambda ctx: ["nope"],
    ),
    Case(
        "restore: a file", lambda ctx: ["restore", "-m", str(_a_file(ctx))], lambda ctx: ["a_file"]
    ),
    Case(
        "restore: no backup",
        lambda ctx: ["restore", "-m", str(ctx.model)],
        lambda ctx: ["backup"],
        setup=lambda ctx: shutil.rmtree(ctx.model / "backups"),
    ),
    Case(
        "restore: damaged backup weights",
        lambda ctx: ["restore", "-m", str(ctx.model)],
        lambda ctx: ["backups", "weights.h5", "backup itself"],
        setup=lambda ctx: _flip_weights_byte(_newest_backup(ctx) / "weights.h5"),
    ),
    Case(
        "restore: damaged backup state",
        lambda ctx: ["restore", "-m", str(ctx.model)],
        lambda ctx: ["backups", "state.toml", "backup itself"],
        setup=lambda ctx: (_newest_backup(ctx) / "state.toml").write_bytes(b"\x00\x00\x00"),
    ),
    Case(
        "restore: read-only model folder",
        lambda ctx: ["restore", "-m", str(ctx.model)],
        lambda ctx: ["state.toml", "permission"],
        setup=_read_only,
    ),  # state is restored first
    Case(
        "restore: full disk",
        lambda ctx: ["restore", "-m", str(ctx.model)],
        lambda ctx: ["state.toml", "no space"],
        setup=_full_disk,
    ),
    # analysis
    Case(
        "analysis: missing folder",
        lambda ctx: ["analysis", "-m", str(ctx.tmp / "nope")],
        lambda ctx: ["nope"],
    ),
    Case(
        "analysis: not a model folder",
        lambda ctx: ["analysis", "-m", str(ctx.tmp)],
        lambda ctx: [str(ctx.tmp)],
    ),
    Case(
        "analysis: damaged state",
        lambda ctx: ["analysis", "-m", str(ctx.model)],
        lambda ctx: ["state.toml"],
        setup=lambda ctx: (ctx.model / "state.toml").write_text("[[["),
    ),
    Case(
        "analysis: unknown session",
        lambda ctx: ["analysis", "-m", str(ctx.model), "--session", "99"],
        lambda ctx: ["99"],
    ),
    Case(
        "analysis: csv into a missing folder",
        lambda ctx: ["analysis", "-m", str(ctx.model), "--csv", str(ctx.tmp / "no" / "s.csv")],
        lambda ctx: ["no"],
    ),
    Case(
        "analysis: csv on a full disk",
        lambda ctx: ["analysis", "-m", str(ctx.model), "--csv", str(ctx.tmp / "s.csv")],
        lambda ctx: ["s.csv", "no space"],
        setup=_full_disk,
    ),
]


def _refusing_open(target: Path, code: int):
    real_open = open

    def fake(file, mode="r", *args, **kwargs):
        if os.fspath(file) == os.fspath(target) and any(c in mode for c in "wax+"):
            raise OSError(code, os.strerror(code), os.fspath(file))
        return real_open(file, mode, *args, **kwargs)

    return fake


def _command_of(case: Case) -> str:
    return case.name.split(":")[0]


def _generic_cases(command: str) -> list[Case]:
    """Cases any command with a ``-m/--model-dir`` option must pass (swap, export, ... when
    added)."""
    from fs_core.cli.main import make_parser

    parser = make_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    options = sub.choices[command]._actions
    model_flag = next((a.option_strings[0] for a in options if a.dest == "model_dir"), None)
    if model_flag is None:
        return []

    def argv(ctx: Ctx, model: str) -> list[str]:
        # convert reads frames with their alignments: the demo clip the A faces were cut from
        source = str(Path(ctx.a).parent / "clip") if command == "convert" else ctx.a
        args = [command, model_flag, model]
        for action in options:
            if action.required and action.dest != "model_dir" and action.option_strings:
                value = source if "input" in action.dest else str(ctx.tmp / f"out_{action.dest}")
                args += [action.option_strings[0], value]
            elif action.required and not action.option_strings:
                args.append(ctx.a)
        return args

    return [
        Case(
            f"{command}: missing model folder",
            lambda ctx: argv(ctx, str(ctx.tmp / "nope")),
            lambda ctx: ["nope"],
        ),
        Case(
            f"{command}: damaged state",
            lambda ctx: argv(ctx, str(ctx.model)),
            lambda ctx: ["state.toml"],
            setup=lambda ctx: (ctx.model / "state.toml").write_text("[[["),
        ),
        Case(
            f"{command}: weights fail their checksum",
            lambda ctx: argv(ctx, str(ctx.model)),
            lambda ctx: ["weights.h5"],
            setup=lambda ctx: _flip_weights_byte(ctx.model / "weights.h5"),
        ),
    ]


def _swap(
    folder: Callable[[Ctx], str], out: Callable[[Ctx], str] = lambda ctx: str(ctx.tmp / "out")
) -> Callable[[Ctx], list[str]]:
    return lambda ctx: ["swap", "-m", str(ctx.model), "-i", folder(ctx), "-o", out(ctx)]


# the commands of the conversion pack, when it is there (their generic cases are added as well)
OPTIONAL: dict[str, list[Case]] = {
    "swap": [
        Case(f"swap: faces: {name}", _swap(folder), lambda ctx, f=fragment: [f])
        for name, folder, fragment in FACE_DEFECTS
    ]
    + [
        Case(
            "swap: output under a file",
            _swap(lambda ctx: ctx.a, lambda ctx: str(_a_file(ctx) / "o")),
            lambda ctx: ["a_file"],
        ),
        Case(
            "swap: full disk",
            _swap(lambda ctx: ctx.a),
            lambda ctx: ["out", "no space"],
            setup=_full_disk,
        ),
    ],
    "export": [
        Case(
            "export: output under a file",
            lambda ctx: ["export", "-m", str(ctx.model), "-o", str(_a_file(ctx) / "o")],
            lambda ctx: ["a_file"],
        ),
        # (a full disk is not simulated for export: it writes through TensorFlow's C++ file layer)
    ],
}
for _command, _cases in OPTIONAL.items():
    if importlib.util.find_spec(f"fs_core.cli.{_command}") is not None:
        CASES += _cases + _generic_cases(_command)


def _fake_keras(ctx: Ctx) -> str:
    """A faceswap model folder whose ``.keras`` is not a zip archive."""
    folder = ctx.tmp / "faceswap_model"
    folder.mkdir()
    (folder / "original.keras").write_bytes(b"not a zip archive")
    (folder / "original_state.json").write_text('{"name": "original", "iterations": 3}')
    return str(folder)


# fs import: -m is the folder it writes (never an existing model), -i the faceswap folder
CASES += [
    Case(
        "import: missing faceswap folder",
        lambda ctx: ["import", "-i", str(ctx.tmp / "nope"), "-m", str(ctx.tmp / "new")],
        lambda ctx: ["nope"],
    ),
    Case(
        "import: a faces folder, not a faceswap model",
        lambda ctx: ["import", "-i", ctx.a, "-m", str(ctx.tmp / "new")],
        lambda ctx: [".keras"],
    ),
    Case(
        "import: damaged .keras",
        lambda ctx: ["import", "-i", _fake_keras(ctx), "-m", str(ctx.tmp / "new")],
        lambda ctx: ["original.keras"],
    ),
    Case(
        "import: into an existing model folder",
        lambda ctx: ["import", "-i", _fake_keras(ctx), "-m", str(ctx.model)],
        lambda ctx: ["not empty"],
    ),
]


def _set(*settings: str) -> Callable[[Ctx], list[str]]:
    return lambda ctx: ["set", "-m", str(ctx.model), *settings]


# fs set: the model folder is read (state, stored settings), the change checked, nothing written
CASES += [
    Case(
        "set: missing model folder",
        lambda ctx: ["set", "-m", str(ctx.tmp / "nope"), "global.learning_rate=2e-5"],
        lambda ctx: ["nope"],
    ),
    Case(
        "set: damaged state",
        _set("global.learning_rate=2e-5"),
        lambda ctx: ["state.toml"],
        setup=lambda ctx: (ctx.model / "state.toml").write_text("[[["),
    ),
    Case("set: a locked option", _set("global.coverage=80"), lambda ctx: ["coverage", "locked"]),
    Case("set: out of range", _set("global.learning_rate=1"), lambda ctx: ["learning_rate"]),
    Case("set: not KEY=VALUE", _set("global.learning_rate"), lambda ctx: ["KEY=VALUE"]),
    Case(
        "set: damaged settings.toml",
        _set("--list"),
        lambda ctx: ["settings.toml"],
        setup=lambda ctx: (ctx.model / "settings.toml").write_text("[[["),
    ),
]

_EXPLICIT = {_command_of(case) for case in CASES}
for _module in COMMANDS:
    _command = _module.rsplit(".", 1)[1].replace("_cmd", "").replace("_", "-")
    if _command not in _EXPLICIT and importlib.util.find_spec(_module) is not None:
        CASES += _generic_cases(_command)


# ----------------------------------------------------------------------------- the checks


def _hashes(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def terminal_lines(text: str) -> list[str]:
    """The non-blank lines a terminal shows: a progress bar that ``\r`` overwrote is gone."""
    shown = (line.split("\r")[-1] for line in text.split("\n"))
    return [line for line in shown if line.strip()]


def _archived(name: str) -> bool:
    """``fs restore`` copies the current files to ``archived_<time>/`` first; a failed restore
    leaves that copy (the model itself is untouched), see the reliability report."""
    return name.startswith("archived_")


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_exit_1_one_line_and_changes_no_saved_model(
    case, world, tmp_path, monkeypatch, capsys
):
    model = tmp_path / "model"
    shutil.copytree(world["model"], model)
    work = tmp_path / "work"
    work.mkdir()
    ctx = Ctx(
        work,
        str(world["a"]),
        str(world["b"]),
        str(world["config"]),
        model,
        monkeypatch,
        world["other"],
    )
    monkeypatch.syspath_prepend(str(world["root"] / "site"))
    if case.setup:
        case.setup(ctx)
    argv = case.argv(ctx)
    before = _hashes(model)
    capsys.readouterr()
    code = main(argv)
    monkeypatch.undo()  # the simulated disk is real again before anything is checked
    err = capsys.readouterr().err
    lines = terminal_lines(err)
    assert "Traceback" not in err, err
    assert code == 1, f"exit {code}: {err}"
    assert len(lines) == 1, err
    for fragment in case.expect(ctx):
        assert fragment.lower() in lines[0].lower(), f"{fragment!r} not in: {lines[0]}"
    print(f"{case.name}: {lines[0]}")
    after = _hashes(model)
    # the training record is a log of what happened, this failed session included: it may grow
    changed = [
        name
        for name in before
        if after.get(name) != before[name] and not name.startswith(f"{RECORD_DIR}/")
    ]
    assert not changed, f"saved model files changed: {changed}"
    added = [name for name in after if name not in before and not _archived(name)]
    assert not added, f"files added to the model folder: {added}"


# ------------------------------------------------------------------ metadata structure fuzzing

_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 300),
    st.floats(allow_nan=True),
    st.text(max_size=4),
    st.binary(max_size=12),
)
_VALUE = st.recursive(
    _LEAF,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(
                ["landmarks_xy", "mask", "stored_size", "affine_matrix", "alignments", "x"]
            ),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=20,
)
_POINTS = st.one_of(
    _VALUE,
    st.lists(
        st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(1e308)), min_size=2, max_size=2),
        min_size=68,
        max_size=68,
    ),
)
_MASK_ENTRY = st.one_of(
    _VALUE,
    st.fixed_dictionaries(
        {
            "mask": st.one_of(
                st.binary(max_size=20),
                st.just(zlib.compress(b"\x80" * 16)),
                st.just(zlib.compress(b"\x80" * 15)),
            ),
            "stored_size": st.one_of(st.integers(-1, 5), _LEAF),
        }
    ),
)
_METADATA = st.one_of(
    _VALUE,
    st.fixed_dictionaries(
        {
            "alignments": st.one_of(
                _VALUE,
                st.fixed_dictionaries(
                    {
                        "landmarks_xy": _POINTS,
                        "mask": st.one_of(
                            _VALUE, st.dictionaries(st.text(max_size=3), _MASK_ENTRY, max_size=2)
                        ),
                    }
                ),
            )
        }
    ),
)


@pytest.mark.filterwarnings("error")  # a warning is one more line on the user's screen
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(metadata=_METADATA)
def test_fuzz_header_structure_through_index_read_and_prepare(metadata, tmp_path):
    """Any header structure (wrong types and shapes, huge values, broken masks) is FsUserError or a
    face, on every path a face takes: indexing, reading, preparing at the training crop."""
    from fs_core.faces.faceset import index_faceset
    from fs_core.faces.prepare import PrepareSpec, prepare_face
    from fs_core.faces.read import read_face

    folder = tmp_path / "fuzz"
    folder.mkdir(exist_ok=True)
    path = folder / "face.png"
    path.write_bytes(png_with_payload(repr(metadata).encode()))
    try:
        index_faceset(folder)
        record = read_face(path)
        prepare_face(record, PrepareSpec(size=32), path)
    except FsUserError as error:
        assert str(path) in error.one_line() or str(folder) in error.one_line()


@pytest.mark.parametrize("command", ["train", "augment-preview"])
def test_stray_images_in_an_extract_folder_are_skipped_with_a_warning(
    world, tmp_path, monkeypatch, capsys, caplog, command
):
    """Images without a faceswap header (grayscale, 4-channel, non-square, a JPEG that is not one)
    among extracted faces are left out with one warning naming them; the command runs on."""
    monkeypatch.syspath_prepend(str(world["root"] / "site"))
    folder = tmp_path / "faces"
    shutil.copytree(world["a"], folder)
    for name, image in (("zz_gray.png", GRAY), ("zz_rgba.png", RGBA), ("zz_wide.png", WIDE)):
        cv2.imwrite(str(folder / name), image)
    (folder / "zz_fake.jpg").write_bytes(b"\xff\xd8 not really")
    argv = (
        [
            "train",
            "-A",
            str(folder),
            "-B",
            str(world["b"]),
            "-m",
            str(tmp_path / "m"),
            "-C",
            str(world["config"]),
            *TINY,
        ]
        if command == "train"
        else [
            "augment-preview",
            "-A",
            str(folder),
            "-o",
            str(tmp_path / "p.png"),
            "--size",
            "32",
            "--count",
            "4",
        ]
    )
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in err, err
    # fs train shows it on its console; elsewhere it goes to Python's logging (stderr by default)
    shown = terminal_lines(out + err) + [record.getMessage() for record in caplog.records]
    warnings = [line for line in shown if "without a faceswap header" in line]
    assert len(warnings) == 1, out + err
    for name in ("zz_gray.png", "zz_rgba.png", "zz_wide.png", "zz_fake.jpg"):
        assert name in warnings[0]


def test_mixed_face_sizes_in_a_folder_train(world, tmp_path, monkeypatch, capsys):
    """Faces of different sizes are resized to the model's, as faceswap does: not an error."""
    from fs_core.faces.demo import write_demo_data

    monkeypatch.syspath_prepend(str(world["root"] / "site"))
    small, _ = write_demo_data(tmp_path / "small", count=3, size=64)
    large, _ = write_demo_data(tmp_path / "large", count=3, size=96, seed=5)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for path in [*small.iterdir(), *large.iterdir()]:
        if path.suffix == ".png":
            shutil.copy(path, mixed / f"{path.parent.parent.name}_{path.name}")
    code = main(
        [
            "train",
            "-A",
            str(mixed),
            "-B",
            str(world["b"]),
            "-m",
            str(tmp_path / "m"),
            "-C",
            str(world["config"]),
            *TINY,
        ]
    )
    assert code == 0, capsys.readouterr().err


def test_plugins_with_unknown_names_to_disable_still_lists(world, capsys):
    """``fs plugins`` takes no path; its one input, the names to disable, tolerates unknown
    names."""
    assert main(["--disable-plugins", "no_such_plugin,,", "plugins"]) == 0
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "error, code",
    [
        (
            OSError(errno.EIO, "Input/output error", "/data/faces/x.png"),
            1,
        ),  # a named file: one line
        (OSError(errno.ENOSPC, "No space left on device"), 1),  # a system refusal without a file
        (OSError(errno.EBADF, "Bad file descriptor"), 2),  # neither: a bug, with its traceback
    ],
)
def test_os_errors_that_escape_a_command(monkeypatch, capsys, error, code):
    """The last line of defence in ``main``: the system refusing a file is the user's to fix."""
    from fs_core.cli import summary

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(summary, "print_summary", fail)
    assert main(["summary", "-t", "tiny"]) == code
    err = capsys.readouterr().err
    if code == 1:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in err, err
        assert ("x.png" in err) if error.filename else ("no space" in err)
    else:
        assert "Traceback" in err and "internal error" in err
