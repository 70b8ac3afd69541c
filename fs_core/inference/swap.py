"""``fs swap``: run a trained model on a folder of faces and write the swapped faces.

Faces of either kind (faceswap-extracted or plain square crops) are cropped exactly as in training
(centering, coverage, vertical offset stored in the model), fed through the other side's decoder in
batches of ``convert_batchsize``, and written as PNG at the model's output size, named after the
input files. A model that learns a mask writes it as the alpha channel.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from fs_core.errors import FsUserError
from fs_core.inference.trained import load_trained, swap_side


def swap_faces(
    model_dir: str,
    faces_dir: str,
    out: Path,
    direction: str,
    registry: Any,
    config_path: str | None = None,
) -> int:
    """Check the folders, load the model, swap every face of ``faces_dir`` into ``out``; returns
    how many faces were written."""
    from fs_core.faces.faceset import index_faceset  # noqa: PLC0415 (OpenCV: inference.swap loads without it)

    swap_side(direction)
    faces = index_faceset(faces_dir)
    if out.exists() and not out.is_dir():
        raise FsUserError("the output is a file, not a folder", out)
    if out.resolve() == Path(faces_dir).resolve():
        raise FsUserError("the output folder is the input folder; choose another", out)
    trained = load_trained(model_dir, registry, config_path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FsUserError(
            f"cannot create the output folder: {error.strerror or error}", out
        ) from None
    return swap_folder(trained, faces, out, direction)


def swap_spec(trained: Any) -> Any:
    """The training crop of this model, without masks (the swap needs only the face)."""
    from fs_core.faces.prepare import PrepareSpec  # noqa: PLC0415 (OpenCV: inference.swap loads without it)

    options, built = trained.config.global_, trained.built
    return PrepareSpec(
        size=max((built.input_size,) + built.output_sizes),
        centering=options.centering,
        coverage=options.coverage,
        vertical_offset=options.vertical_offset,
    )


def swap_folder(trained: Any, faces: Any, out: Path, direction: str, progress: bool = True) -> int:
    """Swap every face of ``faces`` (a FaceSet) into ``out``; returns how many were written."""
    import cv2  # noqa: PLC0415 (OpenCV: inference.swap loads without it)

    from fs_core.faces.images import write_image  # noqa: PLC0415 (OpenCV: inference.swap loads without it)
    from fs_core.faces.prepare import prepare_face  # noqa: PLC0415 (OpenCV: inference.swap loads without it)
    from fs_core.faces.read import read_face  # noqa: PLC0415 (OpenCV: inference.swap loads without it)
    from fs_core.inference.predict import model_input, run_both, to_bgr_uint8  # noqa: PLC0415 (OpenCV: inference.swap loads without it)

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
