"""A trained model's swap as an ONNX file: one input, the swapped face and (when learned) its mask.

The converter is tf2onnx, called on the model's traced function the way Keras'
``Model.export(format="onnx")`` calls it (same graph, Keras' NumPy 2 fixes applied), but in
tf2onnx's large-model mode and without the copies of the weights tf2onnx otherwise leaves behind
(see :func:`_convert` and :func:`fresh_node_protos`). Opset
:data:`OPSET` (13) is read by every onnxruntime since 1.6 (2020, so DeepFaceLive's, FaceFusion's
and VisoMaster's bundled ones), TensorRT, OpenVINO and DirectML, and has every operator these
models need.

The training model takes ``[faces_a, faces_b]``; the exported graph feeds one input to both and
keeps only the outputs asked for, so the other side's decoder is dropped and the shared encoder
(traced twice) is merged into one by tf2onnx's duplicate-node pass. float16 keeps float32 inputs
and outputs (onnxconverter-common casts at the edges) and halves the file.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from tqdm import tqdm

from fs_core.atomic import atomic_write_bytes
from fs_core.errors import FsUserError
from fs_core.export.metadata import describe
from fs_core.inference.trained import swap_side
from fs_core.version import __version__

OPSET = 13
#: largest |ONNX - Keras| accepted at export, by precision (sigmoid outputs in [0, 1])
TOLERANCE = {"float32": 1e-4, "float16": 2e-2}


@attrs.frozen
class Exported:
    """A written export: where, how big, and how far its outputs are from the Keras model's."""

    path: Path
    size_bytes: int
    max_difference: float
    outputs: tuple[str, ...]


def side_indices(built: Any, side: str) -> tuple[int, int | None]:
    """Indices of ``side``'s largest face output and learned mask (None) in the model's outputs."""
    per_side = built.outputs_per_side
    start = 0 if side == "a" else per_side
    face = start + len(built.output_sizes) - 1
    return face, (start + per_side - 1 if built.learn_mask else None)


def one_input_model(
    built: Any, select: Callable[[Sequence[Any]], list[Any]], name: str = "fs_export"
) -> Any:
    """A Keras model with one BGR face input fed to both sides, returning ``select(outputs)``
    (faces in BGR: a model trained in RGB gets its channels turned at both ends)."""
    import keras  # noqa: PLC0415 (TensorFlow: export.onnx loads without it)

    size = int(built.input_size)
    face = keras.Input((size, size, 3), name="faces")
    rgb = built.descriptor.color_order == "rgb"
    feed = keras.ops.flip(face, axis=-1) if rgb else face
    outputs = built.model([feed, feed])
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    chosen = select(outputs)
    if rgb:  # the exported file speaks BGR whatever the model was trained in
        chosen = [keras.ops.flip(o, axis=-1) if o.shape[-1] == 3 else o for o in chosen]
    model = keras.Model(face, chosen, name=name)
    model(np.zeros((1, size, size, 3), np.float32))  # Keras exports only called models
    return model


@contextlib.contextmanager
def fresh_node_protos() -> Iterator[None]:
    """While converting, rebuild each tf2onnx node's protobuf instead of editing it in place.

    tf2onnx writes every node's attributes back into its ``NodeProto`` after each of its graph
    optimizers (about two dozen passes), by clearing the repeated field and extending it. With
    the upb protobuf runtime (protobuf 4 and later), what a message drops stays allocated in that
    message's arena until the message itself is freed, so each pass left one more copy of every
    weight behind: a Lightweight export peaked at 7.1 GiB for 0.3 GB of weights, and IAE, Villain
    and RealFace ran out of a 24 GiB machine. A new ``NodeProto`` per write lets the old one, and
    its arena, go. (Patched on tf2onnx's class for the duration of one conversion, restored after.)
    """
    onnx = importlib.import_module("onnx")
    node_class = importlib.import_module("tf2onnx.graph").Node
    original = node_class.update_proto

    def update_proto(node: Any, external_tensor_storage: Any = None) -> Any:
        old = node._op
        node._op = onnx.NodeProto(
            name=old.name, op_type=old.op_type, domain=old.domain, doc_string=old.doc_string
        )
        return original(node, external_tensor_storage)

    node_class.update_proto = update_proto
    try:
        yield
    finally:
        node_class.update_proto = original


def _convert(model: Any, input_name: str, size: int, batch: int | None) -> Any:
    """tf2onnx on the model's traced function, read back as an ``onnx.ModelProto``.

    Keras' ``export(format="onnx")`` calls the same tf2onnx function, but neither in its
    large-model mode (weights kept outside the protobuf while it works, a third less memory and
    half the time: Original 11 against 16 GiB before :func:`fresh_node_protos`) nor with the
    node fix, so it is called here directly, after Keras' NumPy 2 fixes to tf2onnx.
    """
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow: export.onnx loads without it)

    onnx = importlib.import_module("onnx")
    tf2onnx = importlib.import_module("tf2onnx")
    try:
        from keras.src.export.tf2onnx_lib import patch_tf2onnx  # noqa: PLC0415 (TensorFlow: export.onnx loads without it)
    except ImportError:  # a Keras that moved it; a tf2onnx new enough not to need it
        pass
    else:
        patch_tf2onnx()
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    spec = tf.TensorSpec([batch, size, size, 3], tf.float32, name=input_name)
    function = tf.function(lambda faces: model(faces, training=False), input_signature=[spec])
    captured = captured_constants(function.get_concrete_function(spec))
    with tempfile.TemporaryDirectory(prefix="fs_export_") as folder:
        archive = os.path.join(folder, "model.zip")
        with warnings.catch_warnings(), fresh_node_protos():
            warnings.simplefilter("ignore")
            tf2onnx.convert.from_function(
                function,
                input_signature=[spec],
                opset=OPSET,
                large_model=True,
                output_path=archive,
            )
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(folder)
        proto = onnx.load(os.path.join(folder, "__MODEL_PROTO.onnx"), load_external_data=True)
    _fold_captured_inputs(proto, captured)
    return proto


def captured_constants(concrete: Any) -> dict[str, np.ndarray]:
    """The values a traced function captured that are not variables, by their name inside it.

    A layer that keeps a tensor rather than a weight (Keras' ``Normalization`` given its mean and
    variance, as the EfficientNet and other Keras Applications encoders do) is captured by the
    trace; tf2onnx keeps only variables' captures out of the graph's inputs, so each such tensor
    would become an input the consuming tool does not know to feed.
    """
    count = len(concrete.captured_inputs)
    if count == 0:
        return {}
    found = {}
    for outside, inside in zip(concrete.captured_inputs, concrete.inputs[-count:], strict=True):
        if inside.dtype.name != "resource":
            found[inside.name] = np.asarray(outside)
    return found


def _fold_captured_inputs(proto: Any, captured: dict[str, np.ndarray]) -> None:
    """Turn the graph inputs tf2onnx made of captured tensors into constants of their values."""
    numpy_helper = importlib.import_module("onnx").numpy_helper
    graph = proto.graph
    for value in [v for v in graph.input if v.name in captured]:
        graph.input.remove(value)
        graph.initializer.append(numpy_helper.from_array(captured[value.name], value.name))


def _rename(proto: Any, input_name: str, outputs: Sequence[str]) -> None:
    """Name the graph's input and outputs (tf2onnx names outputs ``Identity:0`` ...), and the
    dynamic batch dimension ``batch``. Each output gets an Identity node of its new name, since
    an output may be a folded constant or the same tensor as another (a soft mask given twice)."""
    helper = importlib.import_module("onnx").helper
    graph = proto.graph
    old_input = graph.input[0].name
    for node in graph.node:
        node.input[:] = [input_name if name == old_input else name for name in node.input]
    graph.input[0].name = input_name
    for value, new in zip(graph.output, outputs):
        graph.node.append(helper.make_node("Identity", [value.name], [new], name=new))
        value.name = new
    for value in [*graph.input, *graph.output]:
        first = value.type.tensor_type.shape.dim[0]
        if not first.HasField("dim_value"):
            first.dim_param = "batch"


def _fix_transpose_pads(proto: Any) -> None:
    """tf2onnx writes a ``same`` Conv2DTranspose whose kernel is smaller than its stride with
    negative end pads, which ONNX forbids; TensorFlow pads nothing there and the last rows and
    columns get only the bias, which is exactly ``output_padding`` with zero pads."""
    for node in proto.graph.node:
        if node.op_type != "ConvTranspose":
            continue
        attrs_by_name = {attr.name: attr for attr in node.attribute}
        pads = attrs_by_name.get("pads")
        if pads is None or min(pads.ints) >= 0:
            continue
        half = len(pads.ints) // 2
        begin, end = list(pads.ints[:half]), list(pads.ints[half:])
        if min(begin) < 0:
            continue  # not a shape TensorFlow makes; onnxruntime's check will name it
        pads.ints[:] = begin + [max(0, value) for value in end]
        extra = [max(0, -value) for value in end]
        if "output_padding" in attrs_by_name:
            old = attrs_by_name["output_padding"].ints
            extra = [a + b for a, b in zip(old, extra)]
            node.attribute.remove(attrs_by_name["output_padding"])
        node.attribute.append(
            importlib.import_module("onnx").helper.make_attribute("output_padding", extra)
        )


def _float16(proto: Any) -> Any:
    """Weights and arithmetic in float16, float32 at the input and outputs."""
    float16 = importlib.import_module("onnxconverter_common.float16")  # the export extra

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one warning per weight below float16's range
        return float16.convert_float_to_float16(proto, keep_io_types=True)


def _set_metadata(proto: Any, metadata: dict[str, str]) -> None:
    proto.producer_name = "fs"
    proto.producer_version = __version__
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


def max_difference(data: bytes, model: Any, batch: int | None, seed: int = 0) -> float:
    """Largest |onnxruntime - Keras| over every output, on random faces (onnxruntime's CPU)."""
    ort = importlib.import_module("onnxruntime")  # optional (the export extra), untyped

    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    spec = session.get_inputs()[0]
    size = int(model.inputs[0].shape[1])
    faces = np.random.default_rng(seed).random((batch or 2, size, size, 3), dtype=np.float32)
    got = session.run(None, {spec.name: faces})
    want = model(faces, training=False)
    want = want if isinstance(want, (list, tuple)) else [want]
    return max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(got, want))


def check_output(out: str | Path) -> None:
    """Before the (slow) model load: ``out`` is a writable folder, or a new file in one."""
    path = Path(out)
    folder = path if path.is_dir() else path.parent
    if not path.is_dir() and path.exists():
        raise FsUserError("the output file exists; choose a new name", path)
    if not folder.is_dir():
        raise FsUserError("the folder for the output does not exist", folder)
    if not os.access(folder, os.W_OK):
        raise FsUserError("cannot write into this folder", folder)


def output_path(out: str | Path, stem: str, suffix: str) -> Path:
    """The file to write: ``out`` itself, or ``stem + suffix`` inside ``out`` when it is a folder.
    An existing file is never replaced, and the folder it goes into must exist."""
    path = Path(out)
    if path.is_dir():
        path = path / f"{stem}{suffix}"
    check_output(path)
    return path


def write_model(
    model: Any,
    path: Path,
    input_name: str,
    output_names: Sequence[str],
    batch: int | None,
    precision: str,
    metadata: dict[str, str],
) -> Exported:
    """Convert ``model`` (one input), name its ends, set ``metadata``, check it against Keras in
    onnxruntime and write it atomically to ``path``."""
    size = int(model.inputs[0].shape[1])
    with tqdm(total=3, desc="Exporting", unit="step", file=sys.stderr, leave=False) as bar:
        proto = _convert(model, input_name, size, batch)
        _rename(proto, input_name, output_names)
        _fix_transpose_pads(proto)
        if precision == "float16":
            proto = _float16(proto)
        _set_metadata(proto, metadata)
        data = proto.SerializeToString()
        bar.update()
        difference = max_difference(data, model, batch)
        bar.update()
        if difference > TOLERANCE[precision]:
            raise RuntimeError(
                f"the {precision} ONNX graph differs from the Keras model by {difference:.3g} "
                f"(more than {TOLERANCE[precision]:g})"
            )
        atomic_write_bytes(data=data, path=path)  # normal permissions, never a partial file
        bar.update()
    return Exported(path, len(data), difference, tuple(output_names))


def export_onnx(
    trained: Any, out: str | Path, direction: str, precision: str, batch: int | None
) -> Exported:
    """Write ``direction``'s swap as ONNX: input ``faces``, outputs ``face`` [and ``mask``]."""
    built = trained.built
    path = output_path(out, f"{built.name}_{direction}", ".onnx")
    face, mask = side_indices(built, swap_side(direction))
    wanted = [face] if mask is None else [face, mask]
    model = one_input_model(built, lambda outputs: [outputs[i] for i in wanted])
    names = ["face"] if mask is None else ["face", "mask"]
    metadata = describe(
        trained, direction, "onnx", precision, "learned" if mask is not None else "none", batch
    )
    return write_model(model, path, "faces", names, batch, precision, metadata)
