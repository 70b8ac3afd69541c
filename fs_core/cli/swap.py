"""``fs swap``: run a trained model on a folder of faces and write the swapped faces.

Faces of either kind (faceswap-extracted or plain square crops) are cropped exactly as in training
(centering, coverage, vertical offset stored in the model), fed through the other side's decoder in
batches of ``convert_batchsize``, and written as PNG at the model's output size, named after the
input files. A model that learns a mask writes it as the alpha channel.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from fs_core.errors import FsUserError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "swap",
        help="swap a folder of faces with a trained model",
        description="Run faces through a trained model (A faces through decoder B for a-to-b) and "
        "write the swapped faces as PNG (alpha = the learned mask, when the model "
        "learns one).",
    )
    parser.add_argument(
        "-m",
        "--model-dir",
        dest="model_dir",
        required=True,
        metavar="MODEL_DIR",
        help="the trained model folder",
    )
    parser.add_argument("-i", "--input", required=True, metavar="FACES", help="folder of faces")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="folder to write to")
    parser.add_argument(
        "--direction",
        default="a-to-b",
        choices=("a-to-b", "b-to-a"),
        help="a-to-b (default): faces of A become B; b-to-a: the reverse",
    )
    parser.add_argument(
        "-C",
        "--configfile",
        default=None,
        metavar="CONFIG",
        help="config file for changeable options (convert_batchsize)",
    )
    parser.set_defaults(func=run)
    return parser


def swap_spec(trained: Any) -> Any:
    """The training crop of this model, without masks (the swap needs only the face)."""
    from fs_core.faces.prepare import PrepareSpec

    options, built = trained.config.global_, trained.built
    return PrepareSpec(
        size=max((built.input_size,) + built.output_sizes),
        centering=options.centering,
        coverage=options.coverage,
        vertical_offset=options.vertical_offset,
    )


def swap_folder(trained: Any, faces: Any, out: Path, direction: str, progress: bool = True) -> int:
    """Swap every face of ``faces`` (a FaceSet) into ``out``; returns how many were written."""
    import cv2
    from tqdm import tqdm

    from fs_core.faces.prepare import prepare_face
    from fs_core.faces.read import read_face
    from fs_core.preview.predict import model_input, run_both, to_bgr_uint8
    from fs_core.preview.render import write_image
    from fs_core.preview.trained import swap_side

    side = swap_side(direction)
    built, spec, batch = trained.built, swap_spec(trained), trained.batch_size
    order = built.descriptor.color_order
    written = 0
    with tqdm(
        total=len(faces),
        desc="Swapping",
        unit="face",
        file=sys.stderr,
        disable=not (progress and sys.stderr.isatty()),
        leave=False,
    ) as bar:
        for start in range(0, len(faces), batch):
            paths = faces.paths[start : start + batch]
            crops = np.stack([prepare_face(read_face(p), spec, p).image for p in paths])
            face, mask = run_both(built, model_input(crops, built.input_size, order), batch)[side]
            images = to_bgr_uint8(face, order)
            for index, path in enumerate(paths):
                image = images[index]
                if mask is not None:
                    alpha = np.clip(np.rint(mask[index] * 255.0), 0, 255).astype(np.uint8)
                    if alpha.shape[:2] != image.shape[:2]:
                        alpha = cv2.resize(
                            alpha, image.shape[1::-1], interpolation=cv2.INTER_LINEAR
                        )
                    image = np.dstack([image, alpha])
                write_image(out / f"{Path(path).stem}.png", image)
                written += 1
            bar.update(len(paths))
    return written


def run(args: argparse.Namespace) -> int:
    from fs_core.cli.main import disabled_from
    from fs_core.faces.faceset import index_faceset
    from fs_core.plugin_manager import get_registry
    from fs_core.preview.trained import load_trained, swap_side

    swap_side(args.direction)
    faces = index_faceset(args.input)
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise FsUserError("the output is a file, not a folder", out)
    if out.resolve() == Path(args.input).resolve():
        raise FsUserError("the output folder is the input folder; choose another", out)
    trained = load_trained(args.model_dir, get_registry(disabled_from(args)), args.configfile)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FsUserError(
            f"cannot create the output folder: {error.strerror or error}", out
        ) from None
    count = swap_folder(trained, faces, out, args.direction)
    print(f"Swapped {count} faces ({args.direction}) into {out}")
    return 0
