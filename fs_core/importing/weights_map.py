"""Every weight of a faceswap ``.keras`` model, put on the fs variable it belongs to.

``model.weights.h5`` (Keras 3's ``saving_lib``) stores a layer's own variables at
``<path>/vars/<i>`` (with the layer's name in the ``vars`` group's ``name`` attribute) and its
children below it: a functional model's ``layers`` first, each under the snake-cased name of its
class made unique in layer order (``conv2d``, ``conv2d_1``, ...), then other attributes in sorted
order. The layer order comes from ``config.json``, so the file is read in exactly the order Keras
wrote it, which is the order of ``layer.weights`` within each named part.

fs's models are parameter-exact with faceswap's and keep its part names (``encoder``,
``decoder_a``, ...), so the weights of each part are matched one to one, in order, and every shape
must agree; anything left over or different refuses the import with the part, layer and shapes
named. Links out of the file (external, soft or virtual datasets) are refused: the file is the
user's, and must not make fs read other files.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import h5py
import numpy as np

from fs_core.errors import FsUserError
from fs_core.model.weights import ROOT_PART

FUNCTIONAL = ("Functional", "Sequential", "Model")
OPTIMIZER = "optimizer"


@attrs.frozen
class SourceWeight:
    """One faceswap weight: where it is in the file, its layer's name and its shape."""

    path: str
    layer: str
    shape: tuple[int, ...]


def snake_case(name: str) -> str:
    """Keras's ``naming.to_snake_case``: the group name ``saving_lib`` gives a layer's class."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _attribute_key(name: str) -> str:
    """Keras visits private attributes last (``saving_lib._name_key``)."""
    return f"~{name}" if name.startswith("_") else name


def _natural_key(name: str) -> tuple[str, int]:
    base, _, number = name.rpartition("_")
    return (base, int(number)) if base and number.isdigit() else (name, -1)


def _layer_configs(config: Mapping[str, Any], where: Path) -> list[Mapping[str, Any]]:
    inner = config.get("config")
    layers = inner.get("layers") if isinstance(inner, Mapping) else None
    if not isinstance(layers, list) or not all(isinstance(item, Mapping) for item in layers):
        raise FsUserError("config.json: a functional model without a layer list", where)
    return layers


def _layer_name(layer: Mapping[str, Any]) -> str:
    inner = layer.get("config")
    name = inner.get("name") if isinstance(inner, Mapping) else None
    return str(layer.get("name") or name or "?")


def _is_functional(layer: Mapping[str, Any]) -> bool:
    return str(layer.get("class_name", "")) in FUNCTIONAL and isinstance(
        (layer.get("config") or {}).get("layers"), list
    )


def _child(group: h5py.Group, name: str, where: Path) -> Any:
    """``group[name]`` when it is a plain member of this file, None when absent."""
    link = group.get(name, getlink=True)
    if link is None:
        return None
    if not isinstance(link, h5py.HardLink):
        raise FsUserError(f"weights file links {group.name}/{name} elsewhere; refused", where)
    item = group[name]
    if isinstance(item, h5py.Dataset) and (item.is_virtual or item.external):
        raise FsUserError(f"weights file stores {item.name} outside itself; refused", where)
    return item


def _own_vars(group: h5py.Group, label: str, where: Path) -> Iterator[SourceWeight]:
    holder = _child(group, "vars", where)
    if holder is None:
        return
    layer = str(holder.attrs.get("name", label))
    names = sorted(holder, key=lambda key: int(key) if key.isdigit() else 1 << 30)
    for key in names:
        item = _child(holder, key, where)
        if not isinstance(item, h5py.Dataset):
            raise FsUserError(f"weights file: {holder.name}/{key} is not a dataset", where)
        yield SourceWeight(path=item.name, layer=layer, shape=tuple(int(n) for n in item.shape))


def _walk(
    group: h5py.Group, label: str, config: Mapping[str, Any] | None, where: Path
) -> Iterator[SourceWeight]:
    """A layer's weights in the order Keras saved them (see the module docstring)."""
    yield from _own_vars(group, label, where)
    children = [name for name in group if name != "vars"]
    if config is not None and _is_functional(config):
        layers_group = _child(group, "layers", where)
        if layers_group is not None:
            yield from _walk_layers(layers_group, _layer_configs(config, where), where)
        children = [name for name in children if name != "layers"]
    for name in sorted(children, key=lambda n: (_attribute_key(n), _natural_key(n))):
        item = _child(group, name, where)
        if isinstance(item, h5py.Group):
            inner = sorted(item, key=_natural_key) if name == "layers" else None
            if inner is not None:  # a list of sub-layers: Keras's unique names, in order
                for sub in inner:
                    sub_item = _child(item, sub, where)
                    if isinstance(sub_item, h5py.Group):
                        yield from _walk(sub_item, f"{label}/{sub}", None, where)
            else:
                yield from _walk(item, f"{label}/{name}", None, where)


def _walk_layers(
    group: h5py.Group, layers: list[Mapping[str, Any]], where: Path
) -> Iterator[SourceWeight]:
    used: dict[str, int] = {}
    for layer in layers:
        base = snake_case(str(layer.get("class_name", "")))
        if base in used:
            used[base] += 1
            key = f"{base}_{used[base]}"
        else:
            used[base] = 0
            key = base
        item = _child(group, key, where)
        if isinstance(item, h5py.Group):
            yield from _walk(item, _layer_name(layer), layer, where)


def source_parts(
    config: Mapping[str, Any], handle: h5py.File, where: Path
) -> dict[str, list[SourceWeight]]:
    """The weights of each named part (nested model) of the faceswap model, in saved order;
    weights of top-level layers outside any part go to ``model`` (fs's name for them)."""
    layers = _layer_configs(config, where)
    top = _child(handle, "layers", where)
    parts: dict[str, list[SourceWeight]] = {}
    if top is None:
        return parts
    used: dict[str, int] = {}
    for layer in layers:
        base = snake_case(str(layer.get("class_name", "")))
        used[base] = used.get(base, -1) + 1
        key = base if used[base] == 0 else f"{base}_{used[base]}"
        item = _child(top, key, where)
        if not isinstance(item, h5py.Group):
            continue
        name = _layer_name(layer) if _is_functional(layer) else ROOT_PART
        found = list(_walk(item, _layer_name(layer), layer, where))
        if found:
            parts.setdefault(name, []).extend(found)
    return parts


def has_optimizer_group(handle: h5py.File) -> bool:
    """Whether the file carries a Keras optimizer's variables (a model saved compiled)."""
    return OPTIMIZER in handle


def _shown(problems: list[str]) -> str:
    more = len(problems) - 3
    return "; ".join(problems[:3]) + (f"; and {more} more" if more > 0 else "")


def map_weights(
    source: Mapping[str, list[SourceWeight]],
    target: Mapping[str, list[tuple[str, Any]]],
    where: Path,
) -> list[tuple[SourceWeight, str, Any]]:
    """(faceswap weight, fs key, fs variable) for every weight; FsUserError naming every part,
    weight or shape that does not map, when anything does not."""
    target = {part: items for part, items in target.items() if items}
    problems: list[str] = []
    extra = sorted(set(source) - set(target))
    missing = sorted(set(target) - set(source))
    if extra:
        problems.append(f"faceswap part(s) {', '.join(extra)} have no fs counterpart")
    if missing:
        problems.append(f"fs part(s) {', '.join(missing)} are not in the faceswap model")
    pairs: list[tuple[SourceWeight, str, Any]] = []
    for part in [name for name in source if name in target]:  # faceswap's order of parts
        theirs, ours = source[part], target[part]
        for index, (weight, (key, variable)) in enumerate(zip(theirs, ours)):
            shape = tuple(int(n) for n in variable.shape)
            if weight.shape != shape:
                problems.append(
                    f"{part}: weight {index} ({weight.layer}, {weight.path}) has shape "
                    f"{weight.shape}, fs's {key} needs {shape}"
                )
            else:
                pairs.append((weight, f"{part}/{key}", variable))
        if len(theirs) != len(ours):
            problems.append(
                f"{part}: faceswap has {len(theirs)} weights, fs's model {len(ours)}"
                + (
                    f" (first unmapped: {theirs[len(ours)].layer})"
                    if len(theirs) > len(ours)
                    else f" (first unmapped fs weight: {ours[len(theirs)][0]})"
                )
            )
    if problems:
        raise FsUserError(
            f"the faceswap weights do not map onto fs's model ({_shown(problems)}); "
            "nothing was written",
            where,
        )
    return pairs


def read_value(handle: h5py.File, weight: SourceWeight, where: Path) -> np.ndarray:
    """The array of one weight, as a float32 (the only dtype an fs variable stores)."""
    item = handle[weight.path]
    if item.dtype.kind != "f":
        raise FsUserError(
            f"weights file: {weight.path} is not floating point ({item.dtype})", where
        )
    value = np.asarray(item[()], dtype=np.float32)
    if not np.all(np.isfinite(value)):
        raise FsUserError(f"weights file: {weight.path} ({weight.layer}) holds NaN or inf", where)
    return value
