"""``fs export --format onnx|dfm``: onnxruntime runs the file and matches the Keras model; the DFM
passes DeepFaceLive's loader checks; every architecture family converts (small sizes).

Tolerances: float32 |ONNX - Keras| < 1e-4; float16 < 2e-2 (outputs are sigmoids in [0, 1]; float16
keeps about 3 significant digits, and rounding compounds over the layers)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

_MISSING = [
    m
    for m in ("tf2onnx", "onnx", "onnxruntime", "onnxconverter_common")
    if importlib.util.find_spec(m) is None
]
pytestmark = pytest.mark.skipif(
    bool(_MISSING),
    reason=f"the export extra is not installed ({', '.join(_MISSING)} missing): "
    'pip install "fs-core[export]"',
)

from test_watch_swap import _model_dir  # noqa: E402

from fs_core.cli.main import main  # noqa: E402

FLOAT16_BOUND = 2e-2


@pytest.fixture(autouse=True)
def tiny_registry(registry, monkeypatch):
    import fs_core.plugin_manager

    monkeypatch.setattr(fs_core.plugin_manager, "get_registry", lambda disabled=None: registry)
    return registry


@pytest.fixture(scope="module")
def masked(registry, tmp_path_factory):
    folder = tmp_path_factory.mktemp("models") / "masked"
    return folder, _model_dir(registry, folder, True)


@pytest.fixture(scope="module")
def plain(registry, tmp_path_factory):
    folder = tmp_path_factory.mktemp("models") / "plain"
    return folder, _model_dir(registry, folder, False)


def _session(path: Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _faces(count: int, size: int = 32, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).random((count, size, size, 3), dtype=np.float32)


def _keras(built, faces: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(o) for o in built.model([faces, faces], training=False)]


@pytest.mark.parametrize("precision, bound", [("float32", 1e-4), ("float16", FLOAT16_BOUND)])
def test_onnx_matches_keras_with_a_dynamic_batch(masked, tmp_path, precision, bound, capsys):
    folder, built = masked
    out = tmp_path / "swap.onnx"
    assert main(["export", "-m", str(folder), "-o", str(out), "--format", "onnx",
                 "--precision", precision]) == 0  # fmt: skip
    message = capsys.readouterr().out
    assert "centering 'face', coverage 100%" in message and str(out) in message
    session = _session(out)
    (spec,) = session.get_inputs()
    assert spec.name == "faces" and spec.shape[1:] == [32, 32, 3] and spec.type == "tensor(float)"
    assert not isinstance(spec.shape[0], int)  # dynamic
    assert [o.name for o in session.get_outputs()] == ["face", "mask"]
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["architecture"] == "tiny" and meta["centering"] == "face"
    assert meta["coverage"] == "100.0" and meta["input_size"] == "32"
    assert meta["color_order"] == "BGR" and meta["iterations"] == "7" and meta["fs_version"]
    for count in (1, 3):
        faces = _faces(count)
        face, mask = session.run(None, {"faces": faces})
        expected = _keras(built, faces)
        assert np.abs(face - expected[2]).max() < bound
        assert np.abs(mask - expected[3]).max() < bound


def test_onnx_fixed_batch_and_other_direction(masked, tmp_path):
    folder, built = masked
    assert main(["export", "-m", str(folder), "-o", str(tmp_path), "--format", "onnx",
                 "--batch", "2", "--direction", "b-to-a"]) == 0  # fmt: skip
    (path,) = tmp_path.glob("*.onnx")
    assert path.name == "tiny_b-to-a.onnx"
    session = _session(path)
    assert session.get_inputs()[0].shape == [2, 32, 32, 3]
    faces = _faces(2)
    face, mask = session.run(None, {"faces": faces})
    expected = _keras(built, faces)
    assert np.abs(face - expected[0]).max() < 1e-4 and np.abs(mask - expected[1]).max() < 1e-4


def test_onnx_without_a_learned_mask_has_only_the_face(plain, tmp_path):
    folder, _ = plain
    out = tmp_path / "plain.onnx"
    assert main(["export", "-m", str(folder), "-o", str(out), "--format", "onnx"]) == 0
    assert [o.name for o in _session(out).get_outputs()] == ["face"]


@pytest.mark.parametrize("precision, bound", [("float32", 1e-4), ("float16", FLOAT16_BOUND)])
def test_dfm_passes_deepfacelive_checks_and_matches_keras(masked, tmp_path, precision, bound):
    from fs_core.export.dfm import dfm_problems

    folder, built = masked
    out = tmp_path / "model.dfm"
    assert main(["export", "-m", str(folder), "-o", str(out), "--format", "dfm",
                 "--precision", precision]) == 0  # fmt: skip
    assert dfm_problems(out) == []
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # shareable like any file the user writes
    session = _session(out)
    assert session.get_inputs()[0].name == "in_face:0"  # the name DeepFaceLive feeds
    assert [o.name for o in session.get_outputs()] == [
        "out_face_mask:0",
        "out_celeb_face:0",
        "out_celeb_face_mask:0",
    ]
    assert session.get_inputs()[0].shape == [1, 32, 32, 3]
    faces = _faces(1)
    own_mask, celeb, celeb_mask = session.run(None, {"in_face:0": faces})
    expected = _keras(built, faces)
    # a-to-b: the input's own mask from decoder A, the swap and its mask from decoder B
    assert np.abs(own_mask - expected[1]).max() < bound
    assert np.abs(celeb - expected[2]).max() < bound
    assert np.abs(celeb_mask - expected[3]).max() < bound


def test_dfm_without_a_learned_mask_uses_a_soft_mask_and_warns(plain, tmp_path, capsys):
    from fs_core.export.dfm import dfm_problems

    folder, built = plain
    out = tmp_path / "plain.dfm"
    assert main(["export", "-m", str(folder), "-o", str(out), "--format", "dfm"]) == 0
    captured = capsys.readouterr()
    assert "learn_mask" in captured.err and "coverage" in captured.out
    assert dfm_problems(out) == []
    own_mask, celeb, celeb_mask = _session(out).run(None, {"in_face:0": _faces(1)})
    assert own_mask.shape == celeb_mask.shape == (1, 32, 32, 1)
    np.testing.assert_array_equal(own_mask, celeb_mask)
    assert own_mask[0, 16, 16, 0] > 0.9 and own_mask[0, 0, 0, 0] < 0.1
    assert np.abs(celeb - _keras(built, _faces(1))[1]).max() < 1e-4
    assert _session(out).get_modelmeta().custom_metadata_map["mask"] == "soft face area"


def test_dfm_problems_names_what_deepfacelive_refuses(masked, tmp_path):
    from fs_core.export.dfm import dfm_problems

    out = tmp_path / "dynamic.onnx"
    assert main(["export", "-m", str(masked[0]), "-o", str(out), "--format", "onnx"]) == 0
    problems = dfm_problems(out)
    assert any("in_face" in p for p in problems) and any("outputs" in p for p in problems)


@pytest.mark.parametrize(
    "case",
    ["not a model folder", "unknown format", "output folder missing", "output exists",
     "dfm batch", "savedmodel float16", "output read-only"],
)  # fmt: skip
def test_bad_input_is_one_line_exit_1_and_no_file(case, masked, tmp_path, capsys):
    import os

    (tmp_path / "empty").mkdir()
    (tmp_path / "taken.onnx").write_bytes(b"keep")
    locked = tmp_path / "locked"
    locked.mkdir()
    model = str(masked[0])
    args = {
        "not a model folder": ["-m", str(tmp_path / "empty"), "-o", str(tmp_path / "o.onnx"),
                               "--format", "onnx"],
        "unknown format": ["-m", model, "-o", str(tmp_path / "o.onnx"), "--format", "tflite"],
        "output folder missing": ["-m", model, "-o", str(tmp_path / "no" / "o.onnx"),
                                  "--format", "onnx"],
        "output exists": ["-m", model, "-o", str(tmp_path / "taken.onnx"), "--format", "onnx"],
        "dfm batch": ["-m", model, "-o", str(tmp_path / "o.dfm"), "--format", "dfm",
                      "--batch", "4"],
        "savedmodel float16": ["-m", model, "-o", str(tmp_path / "o"), "--precision", "float16"],
        "output read-only": ["-m", model, "-o", str(locked / "o.onnx"), "--format", "onnx"],
    }[case]  # fmt: skip
    if case == "output read-only":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        locked.chmod(0o500)
    try:
        try:
            code = main(["export", *args])
        except SystemExit as stop:  # argparse's refusal of an unknown choice
            code = stop.code
    finally:
        locked.chmod(0o700)
    assert code == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "locked", "taken.onnx"]
    assert (tmp_path / "taken.onnx").read_bytes() == b"keep"
    assert list(locked.iterdir()) == []


def test_without_the_extra_the_command_names_it(masked, tmp_path, monkeypatch, capsys):
    import fs_core.export

    monkeypatch.setattr(fs_core.export, "missing_converter", lambda: ["tf2onnx"])
    code = main(
        ["export", "-m", str(masked[0]), "-o", str(tmp_path / "o.onnx"), "--format", "onnx"]
    )
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err and 'pip install "fs-core[export]"' in err
    assert not (tmp_path / "o.onnx").exists()


def _resident_mib() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_rewriting_a_node_does_not_keep_copies_of_its_weights():
    """tf2onnx rewrites each node's protobuf after every optimizer pass; with the upb runtime an
    in-place rewrite left the old weights in the message's arena (a copy of every weight per
    pass). Under fresh_node_protos ten rewrites of a 64 MB constant cost no new copies, and the
    patch is gone afterwards."""
    from tf2onnx.graph import Graph, Node

    from fs_core.export.onnx import fresh_node_protos

    original = Node.update_proto
    graph = Graph([], opset=13)
    node = graph.make_const("weights", np.ones(16 * 2**20, np.float32))
    node.update_proto()
    with fresh_node_protos():
        before = _resident_mib()
        for _ in range(10):
            node.update_proto()
        grown = _resident_mib() - before
    assert Node.update_proto is original
    assert np.array_equal(
        np.frombuffer(node.op.attribute[0].t.raw_data, np.float32)[:4], np.ones(4, np.float32)
    )
    assert grown < 2 * 64  # at most the new copy beside the one being dropped (was 10 x 64)


def test_tensors_a_layer_keeps_become_constants_not_inputs():
    """A Normalization given its statistics (as Keras' EfficientNet encoders are) keeps tensors,
    not weights; the exported graph still has the face as its only input, and matches Keras."""
    import keras

    from fs_core.export.onnx import _convert

    faces = keras.Input((16, 16, 3))
    normal = keras.layers.Normalization(mean=[0.4, 0.5, 0.6], variance=[0.04, 0.09, 0.16])(faces)
    model = keras.Model(faces, keras.layers.Conv2D(2, 3, padding="same")(normal))
    model(np.zeros((1, 16, 16, 3), np.float32))
    proto = _convert(model, "faces", 16, None)
    assert [value.name for value in proto.graph.input] == ["faces"]

    import onnxruntime as ort

    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    data = _faces(2, 16)
    (result,) = session.run(None, {"faces": data})
    assert np.abs(result - np.asarray(model(data))).max() < 1e-5


# ------------------------------------------------------------------ every architecture family

#: iae, dfaker, dfl_h128 and villain have no smaller options (48-143 M parameters): each takes a
#: minute or more to convert, too long for the test run; bench/bench_export.py exports them
FAMILIES = [
    ("original", {"lowmem": True}, False),
    ("lightweight", {}, False),
    ("dfl_sae", {"input_size": 64, "encoder_dims": 21, "decoder_dims": 10,
                 "autoencoder_dims": 64}, False),
    ("dfl_sae", {"input_size": 64, "architecture": "liae", "encoder_dims": 21,
                 "decoder_dims": 10, "autoencoder_dims": 64, "multiscale_decoder": True}, True),
    ("unbalanced", {"input_size": 64, "nodes": 512, "complexity_encoder": 64,
                    "complexity_decoder_a": 64, "complexity_decoder_b": 64}, True),
    ("realface", {"input_size": 64, "output_size": 64, "dense_nodes": 768,
                  "complexity_encoder": 96}, True),
    ("dlight", {"features": "lowmem", "details": "fast", "output_size": 128}, True),
    ("phaze_a", {"output_size": 64, "fc_min_filters": 128, "fc_max_filters": 128,
                 "fc_upsample_filters": 128, "dec_max_filters": 256, "dec_min_filters": 32,
                 "fs_original_min_filters": 16, "fs_original_max_filters": 256,
                 "bottleneck_size": 128, "fc_gblock_min_nodes": 128,
                 "fc_gblock_max_nodes": 128}, True),
]  # fmt: skip


def _trained(registry, name: str, options: dict, learn_mask: bool, folder: Path):
    from fs_core.config import config_from_mapping
    from fs_core.inference.trained import TrainedModel
    from fs_core.model.build import build_from_config
    from fs_core.model.state import ModelState

    classes = {n: d.config_class for n, d in registry.models.items()}
    config = config_from_mapping(
        {"global": {"mask": {"learn_mask": learn_mask}}, "model": {name: options}}, classes
    )
    built = build_from_config(registry, name, config)
    return TrainedModel(built, config, ModelState(model=name, iterations=0), folder)


#: bytes of memory a conversion may peak at per parameter, with margin (the whole export process:
#: IAE 5.4 GiB for 143 M parameters); an OOM kill would end the whole run
CONVERTER_BYTES_PER_PARAMETER = 80


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _skip_without_memory(parameters: int) -> None:
    needed, available = parameters * CONVERTER_BYTES_PER_PARAMETER, _available_memory()
    if available is not None and needed > available:
        pytest.skip(
            f"converting {parameters / 1e6:.0f} M parameters needs about {needed / 2**30:.0f} GiB "
            f"in tf2onnx; {available / 2**30:.0f} GiB available"
        )


@pytest.mark.parametrize(
    "name, options",
    [
        pytest.param(n, o, marks=[pytest.mark.slow] if slow else [], id=f"{n}-{i}")
        for i, (n, o, slow) in enumerate(FAMILIES)
    ],
)
def test_every_family_exports_to_a_dfm_that_matches_keras(registry, name, options, tmp_path):
    """export_dfm itself runs the file in onnxruntime against the Keras model and refuses a
    difference over 1e-4; the family's graph must also pass DeepFaceLive's checks."""
    from fs_core.export.dfm import dfm_problems, export_dfm

    trained = _trained(registry, name, options, True, tmp_path)
    _skip_without_memory(trained.built.model.count_params())
    done = export_dfm(trained, tmp_path / "m.dfm", "a-to-b", "float32")
    assert done.max_difference < 1e-4
    assert dfm_problems(done.path) == []
