"""Small model folders in faceswap 3's exact on-disk format, written without faceswap.

A faceswap model folder holds ``<name>.keras`` (a zip: ``metadata.json``, ``config.json``,
``model.weights.h5``; ``optimizer.pt`` when the optimizer was saved) and ``<name>_state.json``.
The layout below was checked against folders faceswap itself wrote on the development machine
(faceswap 3 on PyTorch, Keras 3.14; see docs/moving-from-faceswap.md): the top-level model is a
``Functional`` named after the plugin with inputs ``face_in_a``/``face_in_b`` and one nested
``Functional`` per part; each layer's variables are at ``layers/<part class>/layers/<layer class>/
vars/<i>``, the class names snake-cased and made unique in layer order (``conv2d``, ``conv2d_1``),
with the layer's own name in the ``vars`` group's ``name`` attribute.

The weights written are those of an fs model built here with its own random draw, so an import
that puts any weight in the wrong place gives different outputs. Run as a script to write one:
``python tests/faceswap_fixtures.py OUT_DIR original [--learn-mask]``.
"""

from __future__ import annotations

import argparse
import io
import json
import struct
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np

from fs_core.importing.weights_map import snake_case
from fs_core.model.build import build_model
from fs_core.model.weights import parts_of

#: the global options faceswap 3 keeps in a state file's ``config`` (as one of its files has them)
FACESWAP_GLOBAL_CONFIG: dict[str, Any] = {
    "centering": "face",
    "coverage": 100.0,
    "vertical_offset": 0,
    "icnr_init": False,
    "conv_aware_init": False,
    "lr_finder_iterations": 1000,
    "lr_finder_mode": "set",
    "lr_finder_strength": "default",
    "reflect_padding": False,
    "mixed_precision": False,
    "nan_protection": True,
    "convert_batchsize": 16,
    "loss_function": "ssim",
    "loss_function_2": "mse",
    "loss_weight_2": 100,
    "loss_function_3": "none",
    "loss_weight_3": 0,
    "loss_function_4": "none",
    "loss_weight_4": 0,
    "mask_loss_function": "mse",
    "eye_multiplier": 3,
    "mouth_multiplier": 2,
    "penalized_mask_loss": True,
    "mask_type": "extended",
    "mask_dilation": 0.0,
    "mask_blur_kernel": 3,
    "mask_threshold": 4,
    "learn_mask": False,
    "optimizer": "adam",
    "learning_rate": 5e-05,
    "epsilon_exponent": -7,
    "save_optimizer": "exit",
    "gradient_clipping": "none",
    "clipping_value": 1.0,
    "autoclip_history": 10000,
    "weight_decay": 0.0,
    "gradient_accumulation": 1,
    "ada_beta_1": 0.9,
    "ada_beta_2": 0.999,
    "ada_amsgrad": False,
}

#: small options per architecture (fs's names = faceswap's) so fixtures build in seconds
SMALL_OPTIONS: dict[str, dict[str, Any]] = {
    "original": {"lowmem": True},
    "lightweight": {},
    "iae": {},
    "dfaker": {"output_size": 128},
    "unbalanced": {"input_size": 64, "lowmem": True},
    "dfl_h128": {"lowmem": True},
    "dfl_sae": {"input_size": 64, "autoencoder_dims": 128, "encoder_dims": 21, "decoder_dims": 10},
    "villain": {"lowmem": True},
    "realface": {"input_size": 64, "output_size": 64, "complexity_encoder": 96},
    "dlight": {"output_size": 128},
    "phaze_a": {
        "output_size": 64,
        "fc_min_filters": 128,
        "fc_max_filters": 128,
        "fc_upsample_filters": 128,
        "dec_max_filters": 256,
        "dec_min_filters": 32,
        "fs_original_min_filters": 16,
        "fs_original_max_filters": 256,
        "bottleneck_size": 128,
        "fc_gblock_min_nodes": 128,
        "fc_gblock_max_nodes": 128,
    },
}


def _layers(model: keras.Model, extra: Mapping[str, list[Any]]) -> list[Any]:
    """``model.layers``, plus any ``extra`` layers for a part (to write a mismatching file)."""
    return list(model.layers) + list(extra.get(model.name, []))


def _layer_entry(layer: Any, extra: Mapping[str, list[Any]]) -> dict[str, Any]:
    """A layer as Keras 3's functional config lists it (the keys the importer reads)."""
    if isinstance(layer, keras.Model):
        return {
            "module": "keras.src.models.functional",
            "class_name": "Functional",
            "config": {
                "name": layer.name,
                "trainable": True,
                "layers": [_layer_entry(inner, extra) for inner in _layers(layer, extra)],
            },
            "registered_name": "Functional",
            "name": layer.name,
            "inbound_nodes": [],
        }
    return {
        "module": "keras.layers",
        "class_name": type(layer).__name__,
        "config": {"name": layer.name, "trainable": True},
        "registered_name": None,
        "name": layer.name,
        "inbound_nodes": [],
    }


def _write_layers(group: h5py.Group, layers: list[Any], extra: Mapping[str, list[Any]]) -> None:
    """``saving_lib``'s layout: one group per layer (class name made unique in layer order)."""
    used: dict[str, int] = {}
    for layer in layers:
        base = snake_case(
            type(layer).__name__ if not isinstance(layer, keras.Model) else "Functional"
        )
        used[base] = used.get(base, -1) + 1
        key = base if used[base] == 0 else f"{base}_{used[base]}"
        entry = group.create_group(key)
        if isinstance(layer, keras.Model):
            _write_layers(entry.create_group("layers"), _layers(layer, extra), extra)
            continue
        holder = entry.create_group("vars")
        holder.attrs["name"] = layer.name
        for index, variable in enumerate(layer.weights):
            holder.create_dataset(str(index), data=np.asarray(variable.numpy()))


def keras_archive_bytes(
    model: keras.Model,
    name: str,
    members: Mapping[str, bytes] = {},
    extra_layers: Mapping[str, list[Any]] = {},
) -> bytes:
    """The bytes of ``<name>.keras`` as faceswap's ``model.save`` writes them; ``members``: more
    archive members (``optimizer.pt``); ``extra_layers``: layers to add to a part, by part name."""
    config = {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": {
            "name": name,
            "trainable": True,
            "layers": [_layer_entry(layer, extra_layers) for layer in model.layers],
        },
        "registered_name": "Functional",
        "build_config": {"input_shape": None},
        "compile_config": None,
    }
    weights = io.BytesIO()
    with h5py.File(weights, "w") as handle:
        _write_layers(handle.create_group("layers"), list(model.layers), extra_layers)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "metadata.json",
            json.dumps({"keras_version": "3.14.1", "date_saved": "2026-11-27@22:57:31"}),
        )
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", weights.getvalue())
        for member, data in members.items():
            archive.writestr(member, data, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def state_json(
    name: str,
    options: Mapping[str, Any],
    learn_mask: bool,
    iterations: int = 1234,
    config_changes: Mapping[str, Any] = {},
) -> dict[str, Any]:
    """``<name>_state.json`` as faceswap's ``State.save`` writes it."""
    config = {**FACESWAP_GLOBAL_CONFIG, "learn_mask": learn_mask, **options, **config_changes}
    session_config = {
        key: config[key] for key in ("learning_rate", "loss_function", "save_optimizer")
    }
    return {
        "name": name,
        "sessions": {
            "1": {
                "timestamp": 1795820202.15,
                "no_logs": False,
                "batchsize": 16,
                "iterations": iterations - 200,
                "config": session_config,
            },
            "3": {
                "timestamp": 1795830202.15,
                "no_logs": False,
                "batchsize": 8,
                "iterations": 200,
                "config": session_config,
            },
        },
        "lowest_avg_loss": 0.0421,
        "iterations": iterations,
        "mixed_precision_layers": [],
        "lr_finder": 3.5e-05,
        "config": config,
    }


def write_faceswap_model(
    folder: str | Path,
    name: str,
    options: Mapping[str, Any] | None = None,
    *,
    learn_mask: bool = False,
    seed: int = 1,
    iterations: int = 1234,
    config_changes: Mapping[str, Any] = {},
    extra_members: Mapping[str, bytes] = {},
    adam_step: int | None = None,
    adam_drop: int = 0,
) -> keras.Model:
    """Write a faceswap model folder for fs model ``name``; returns the model whose weights it
    holds (for expected outputs). ``adam_step``: also save a torch Adam state at that step
    (``adam_drop``: with that many parameters left out, so it does not map)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    options = dict(SMALL_OPTIONS.get(name, {}) if options is None else options)
    keras.utils.set_random_seed(seed)
    model = build_model(name, options, learn_mask=learn_mask)
    assert parts_of(model), name
    members = dict(extra_members)
    if adam_step is not None:  # faceswap's save_optimizer: torch Adam's state as optimizer.pt
        members["optimizer.pt"] = torch_file_bytes(adam_state(model, adam_step, drop=adam_drop))
    (folder / f"{name}.keras").write_bytes(keras_archive_bytes(model, name, members))
    state = state_json(name, options, learn_mask, iterations, config_changes)
    (folder / f"{name}_state.json").write_text(json.dumps(state, indent=2))
    return model


# --- optimizer.pt: torch.save's zip of a pickle, written opcode by opcode (no torch needed) ---


class _Tensor:
    """A float32 array to be written as a torch tensor."""

    def __init__(self, value: np.ndarray) -> None:
        self.value = np.array(value, dtype="<f4", order="C")  # keeps 0-d arrays 0-d


def _pickle(value: Any, storages: list[np.ndarray]) -> bytes:
    """Protocol-2 opcodes for ``value`` as torch.save writes a state_dict."""
    if isinstance(value, bool):
        return b"\x88" if value else b"\x89"
    if value is None:
        return b"N"
    if isinstance(value, int):
        return b"J" + struct.pack("<i", value)
    if isinstance(value, float):
        return b"G" + struct.pack(">d", value)
    if isinstance(value, str):
        data = value.encode()
        return b"X" + struct.pack("<I", len(data)) + data
    if isinstance(value, dict):
        items = b"".join(_pickle(k, storages) + _pickle(v, storages) for k, v in value.items())
        return b"}(" + items + b"u"
    if isinstance(value, list):
        return b"](" + b"".join(_pickle(v, storages) for v in value) + b"e"
    if isinstance(value, tuple):
        return b"(" + b"".join(_pickle(v, storages) for v in value) + b"t"
    if isinstance(value, _Tensor):
        key = str(len(storages))
        storages.append(value.value)
        shape = value.value.shape
        strides = tuple(int(np.prod(shape[i + 1 :])) for i in range(len(shape)))
        storage = (
            b"("
            + _pickle("storage", storages)
            + b"ctorch\nFloatStorage\n"
            + _pickle(key, storages)
            + _pickle("cpu", storages)
            + _pickle(int(value.value.size), storages)
            + b"tQ"
        )
        arguments = (
            storage
            + _pickle(0, storages)
            + _pickle(tuple(shape), storages)
            + _pickle(strides, storages)
            + b"\x89"
            + b"ccollections\nOrderedDict\n)R"
        )
        return b"ctorch._utils\n_rebuild_tensor_v2\n(" + arguments + b"tR"
    raise TypeError(type(value))


def torch_file_bytes(state: Any) -> bytes:
    """``torch.save(state)``'s zip layout: ``archive/data.pkl`` plus one buffer per tensor."""
    storages: list[np.ndarray] = []
    pickled = b"\x80\x02" + _pickle(state, storages) + b"."
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickled)
        archive.writestr("archive/byteorder", b"little")
        for index, array in enumerate(storages):
            archive.writestr(f"archive/data/{index}", array.tobytes())
        archive.writestr("archive/version", b"3\n")
    return buffer.getvalue()


def adam_state(model: keras.Model, step: int = 7, seed: int = 5, drop: int = 0) -> dict[str, Any]:
    """faceswap's optimizer file for ``model``: torch Adam state over the trainable weights in
    faceswap's two groups (decayed weights first); ``drop`` leaves the last parameters out."""
    rng = np.random.default_rng(seed)
    trainables = list(model.trainable_variables)
    decayed = [v for v in trainables if len(v.shape) > 1 and not v.name.endswith("bias")]
    others = [v for v in trainables if not (len(v.shape) > 1 and not v.name.endswith("bias"))]
    ordered = (decayed + others)[: len(trainables) - drop]
    state = {
        index: {
            "step": _Tensor(np.array(float(step))),
            "exp_avg": _Tensor(rng.normal(size=variable.shape)),
            "exp_avg_sq": _Tensor(rng.random(variable.shape)),
        }
        for index, variable in enumerate(ordered)
    }
    group = {"lr": 5e-05, "betas": (0.9, 0.999), "eps": 1e-07, "weight_decay": 0.0}
    split = min(len(decayed), len(ordered))
    groups = [
        {**group, "amsgrad": False, "params": list(range(split))},
        {
            **group,
            "amsgrad": False,
            "weight_decay": 0.0,
            "params": list(range(split, len(ordered))),
        },
    ]
    return {"version": 1.0, "optimizer": {"state": state, "param_groups": groups}, "scaler": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out")
    parser.add_argument("model")
    parser.add_argument("--learn-mask", action="store_true")
    args = parser.parse_args()
    started = time.time()
    write_faceswap_model(args.out, args.model, learn_mask=args.learn_mask)
    print(f"wrote {args.out} in {time.time() - started:.1f} s")


if __name__ == "__main__":
    main()
