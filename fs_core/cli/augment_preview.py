"""``fs augment-preview``: see what the augmenters do to a face set before training on it.

Writes one PNG: a row per face, the warped model input beside the (unwarped, augmented) target, both
at the process size, made by exactly the code the training loader runs (:func:`build_side`) with the
``[augmentation]`` options of the config file.

The faces are shown as side B's by default (``--side``), so the side-B-only options (colour
transfer, random HSV) show when they are on; colour transfer takes its reference colours from
``--reference`` (side-A faces), else from the other faces of the same folder. Colour transfer and
blur out mask get the face mask (``[global.mask] mask_type``) as training does.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import cv2
import numpy as np

from fs_core import plugin_manager
from fs_core.cli.common import disabled_from
from fs_core.config import load_config
from fs_core.data.assemble import SidePlan, build_side, order_augmenters
from fs_core.data.batch import AugmentBatch, OtherSideFaces
from fs_core.data.cache import FaceCache, default_prepare
from fs_core.data.neighbours import nearest_faces
from fs_core.errors import FsUserError
from fs_core.faces.faceset import index_faceset
from fs_core.faces.prepare import training_spec

GAP = 4  # pixels between the two faces of a row


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "augment-preview",
        help="write a PNG of augmented faces (warped input | target)",
        description="Augment faces from a folder as training would and write them to a PNG grid: "
        "one row per face, the warped model input on the left, the target on the right.",
    )
    parser.add_argument(
        "-A", "--input-A", dest="input_a", required=True, metavar="DIR", help="folder of faces"
    )
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="PNG file to write")
    parser.add_argument(
        "-C",
        "--config",
        default=None,
        metavar="CONFIG",
        help="config file ([augmentation] and [global] face options); defaults without",
    )
    parser.add_argument(
        "--size", type=int, default=128, metavar="N", help="face size in px (default 128)"
    )
    parser.add_argument(
        "--count", type=int, default=8, metavar="N", help="faces to show (default 8)"
    )
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    parser.add_argument(
        "--side",
        choices=("a", "b"),
        default="b",
        help="the side these faces train as (default b: colour transfer and random HSV, which "
        "touch side B only, show)",
    )
    parser.add_argument(
        "--reference",
        default=None,
        metavar="DIR",
        help="side-A faces colour transfer moves colours toward (default: the other faces of -A)",
    )
    parser.set_defaults(func=run)
    return parser


def preview_grid(
    cache: Any,
    augmenters: list[Any],
    options: Any,
    seed: int,
    side: str = "a",
    reference: Any = None,
) -> np.ndarray:
    """Rows of (warped input | target), uint8 BGR, one per face of ``cache`` trained as ``side``.

    Warp-to-landmarks has no other side here: each face's nearest *other* faces of the same cache
    stand in for it, which shows the kind of morph it makes. Colour transfer takes face i's
    reference from ``reference`` (a cache of other-side faces), else the next face of ``cache``.
    """
    rng = np.random.default_rng(seed)
    indices = np.arange(len(cache))
    chosen = order_augmenters(augmenters, options)
    others = None
    if any(aug.needs_other_side and side in aug.sides for aug in chosen):
        source = cache if reference is None else reference
        picks = (indices + (1 if reference is None else 0)) % len(source)
        ref_images, ref_masks, _ = source.gather(picks)
        others = OtherSideFaces(ref_images, ref_masks, source.mask_names, picks)
    images, masks, landmarks = cache.gather(indices)
    neighbours = None
    if any(aug.needs_landmarks for aug in chosen):
        table = cache.landmarks_table()
        if table is None or len(cache) < 2:
            raise FsUserError(
                "warp_to_landmarks needs at least two faces with landmarks "
                "(raise --count, or use extracted faces)",
                cache.source,
            )
        neighbours = table[nearest_faces(table, table, exclude_self=True)]
    batch = AugmentBatch(
        images=images,
        masks=masks,
        mask_names=cache.mask_names,
        landmarks=landmarks,
        indices=indices,
        neighbours=neighbours,
        side=side,
        others=others,
    )
    plan = SidePlan(
        input_size=cache.size, output_sizes=(cache.size,), augmenters=chosen, options=options
    )
    built = build_side(batch, plan, rng)
    to_bytes = lambda faces: np.clip(np.rint(faces * 255.0), 0, 255).astype(np.uint8)  # noqa: E731
    feed, target = to_bytes(built["input"]), to_bytes(built["targets"][-1])
    gap = np.zeros((len(feed), cache.size, GAP, 3), np.uint8)
    rows = np.concatenate([feed, gap, target], axis=2)
    return rows.reshape(-1, rows.shape[2], 3)


def _mask_names(config: Any, path: str | None) -> tuple[str, ...]:
    """The face mask, when an option shown here uses it (colour transfer inside the face, blur
    out mask); blur out mask without a mask type is refused as training refuses it."""
    options = config.augmentation
    wanted = options.blur_out_mask or options.color_transfer != "none"
    if not wanted:
        return ()
    if config.mask.mask_type == "none":
        if options.blur_out_mask:
            raise FsUserError(
                "[augmentation] blur_out_mask needs the face mask; set [global.mask] mask_type",
                path,
            )
        return ()
    return ("face",)


def run(args: argparse.Namespace) -> int:
    if args.size < 16:
        raise FsUserError(f"--size must be at least 16, got {args.size}")
    if args.count < 1:
        raise FsUserError(f"--count must be at least 1, got {args.count}")
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        raise FsUserError("the folder to write the preview in does not exist", folder)

    registry = plugin_manager.get_registry(
        disabled_from(args)
    )  # plugins' augmenters run too, as in training
    model_classes = registry.model_config_classes()
    config = load_config(args.config, model_classes)
    spec = training_spec(config, args.size, _mask_names(config, args.config))
    faces = index_faceset(args.input_a)
    chosen = np.sort(
        np.random.default_rng(args.seed).choice(
            len(faces), size=min(args.count, len(faces)), replace=False
        )
    )
    cache = FaceCache(
        [faces.paths[i] for i in chosen],
        args.size,
        default_prepare(spec),
        mask_names=spec.mask_names,
        source=faces.folder,
    )
    reference = None
    if args.reference is not None:
        others = index_faceset(args.reference)
        reference = FaceCache(
            others.paths[: len(cache)],
            args.size,
            default_prepare(spec),
            mask_names=spec.mask_names,
            source=others.folder,
        )
    grid = preview_grid(
        cache,
        list(registry.augmenters.values()),
        config.augmentation,
        args.seed,
        side=args.side,
        reference=reference,
    )
    ok, data = cv2.imencode(".png", grid)
    if not ok:
        raise FsUserError("could not encode the preview as PNG", args.output)
    try:
        with open(args.output, "wb") as handle:
            handle.write(data.tobytes())
    except OSError as error:
        raise FsUserError(
            f"cannot write the preview: {error.strerror or error}", args.output
        ) from None
    print(f"wrote {len(cache)} faces (warped input | target) to {args.output}")
    return 0
