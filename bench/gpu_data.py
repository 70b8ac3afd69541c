"""The GPU benchmark's data side: demo faces cached as ``fs train`` caches them, pools of loader
batches for the case processes, and fs's loader's rate at a given worker count.

Everything here is fs's own code path (``fs_core.faces``, ``fs_core.data``) with the default
config; nothing imports TensorFlow or initialises JAX, so the parent process of
``bench_gpu.py`` can run it while the GPU is left to the case processes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def default_loader_setup(size: int) -> tuple[Any, tuple[str, ...], Any, list]:
    """(PrepareSpec, mask names, augmentation options, augmenters) as ``fs train`` sets them up
    with the default config."""
    from gpu_step import load_registry

    from fs_core.config import Config
    from fs_core.faces.prepare import training_spec
    from fs_core.losses.selection import mask_names

    config = Config()
    names = mask_names(config.loss, config.mask)
    spec = training_spec(config, size, names)
    augmenters = sorted(load_registry(False).augmenters.values(), key=lambda a: a.stage)
    return spec, names, config.augmentation, augmenters


def face_caches(folders: tuple[Path, Path], size: int) -> tuple[Any, Any]:
    """Both sides' faces decoded and prepared once at process size ``size`` (as training does)."""
    from fs_core.data.cache import FaceCache, default_prepare
    from fs_core.faces.faceset import index_faceset

    spec = default_loader_setup(size)[0]
    made = []
    for folder in folders:
        faces = index_faceset(folder)
        made.append(
            FaceCache(
                faces.paths,
                size,
                default_prepare(spec),
                mask_names=tuple(spec.mask_names),
                source=folder,
            )
        )
    return made[0], made[1]


def make_loader(caches: tuple, batch: int, model: dict, workers: int) -> Any:
    from fs_core.data.loader import BatchLoader

    size = max([model["input_size"], *model["output_sizes"]])
    _, names, options, augmenters = default_loader_setup(size)
    return BatchLoader(
        caches[0],
        caches[1],
        batch_size=batch,
        input_size=model["input_size"],
        output_sizes=model["output_sizes"],
        mask_names=names,
        augmenters=augmenters,
        options=options,
        color_order=model["color_order"],
        seed=0,
        workers=workers,
    )


def save_pool(path: Path, caches: tuple, batch: int, model: dict, count: int) -> None:
    """``count`` training batches from fs's loader, saved for a case process (``load_pool``)."""
    import numpy as np

    arrays: dict[str, Any] = {}
    with make_loader(caches, batch, model, workers=2) as loader:
        for index in range(count):
            batch_dict = next(loader)
            for side in ("a", "b"):
                part = batch_dict[side]
                arrays[f"{index}/{side}/input"] = part["input"]
                for k, target in enumerate(part["targets"]):
                    arrays[f"{index}/{side}/targets/{k}"] = target
                for name, masks in part["masks"].items():
                    for k, mask in enumerate(masks):
                        arrays[f"{index}/{side}/masks/{name}/{k}"] = mask
            names = list(batch_dict["a"]["masks"])
    np.savez(
        path,
        count=count,
        outputs=len(model["output_sizes"]),
        mask_names=np.asarray(names),
        **arrays,
    )


def loader_rate(caches: tuple, batch: int, model: dict, workers: int, seconds: float) -> dict:
    """Faces per second (both sides) and CPU ms per face of fs's loader with ``workers`` threads."""
    with make_loader(caches, batch, model, workers) as loader:
        # The workers start together and may stay in step, finishing their batches in waves of
        # ``workers``: the clock starts after the first wave and stops after a whole number of
        # waves, so no batch that was made before the clock started is counted.
        for _ in range(workers):
            next(loader)
        start, cpu, batches = time.perf_counter(), time.process_time(), 0
        while time.perf_counter() - start < seconds:
            for _ in range(workers):
                next(loader)
            batches += workers
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    faces = 2 * batch * batches
    return {"faces_per_second": faces / elapsed, "cpu_ms_per_face": 1000 * cpu / faces}
