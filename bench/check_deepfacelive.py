"""Load an fs ``.dfm`` with DeepFaceLive's own model class and swap one frame (a check, not a
test: DeepFaceLive is not a dependency of fs, and nothing is downloaded).

DeepFaceLive has no installable package; its loader is ``modelhub/DFLive/DFMModel.py`` in its
source tree, on top of its ``xlib``. Point ``--deepfacelive`` at a checkout
(https://github.com/iperov/DeepFaceLive) and run this with a Python that has what that loader
imports (numpy, onnxruntime, onnx, opencv-python, numexpr)::

    python bench/check_deepfacelive.py --deepfacelive ~/src/DeepFaceLive model.dfm [more.dfm]

For each file it builds ``DFMModel`` on the CPU exactly as DeepFaceLive's face-swap stage does,
prints the input size it read, then calls ``convert()`` on a random 8-bit face of 256 x 256
(DeepFaceLive hands it the aligned face at the aligner's resolution) and checks what comes back:
the swapped face (1, 256, 256, 3) and both masks (1, 256, 256, 1), uint8 like the input, with the
values not all equal. Exit 0 when every file passes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def check(model_class: type, path: Path) -> list[str]:
    """What went wrong loading and running ``path`` with DeepFaceLive's class (empty: it works)."""
    try:
        model = model_class(path)
    except Exception as error:  # DeepFaceLive raises a bare Exception for a file it refuses
        return [f"DeepFaceLive refused the file: {error}"]
    width, height = model.get_input_res()
    print(f"{path}: DeepFaceLive loaded it; input {width} x {height}, morph input: "
          f"{model.has_morph_value()}")  # fmt: skip
    frame = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    try:
        celeb, celeb_mask, face_mask = model.convert(frame, morph_factor=0.75)
    except Exception as error:
        return [f"convert() failed: {error}"]
    problems = []
    for name, array, channels in (
        ("swapped face", celeb, 3),
        ("swapped face's mask", celeb_mask, 1),
        ("input face's mask", face_mask, 1),
    ):
        if array.shape != (1, 256, 256, channels) or array.dtype != np.uint8:
            problems.append(
                f"{name}: {array.shape} {array.dtype}, not (1, 256, 256, {channels}) uint8"
            )
        elif array.min() == array.max():
            problems.append(f"{name}: every value is {array.min()}")
        else:
            print(f"  {name}: {array.shape} {array.dtype}, values {array.min()}-{array.max()}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--deepfacelive", required=True, type=Path, help="a DeepFaceLive checkout")
    parser.add_argument("files", nargs="+", type=Path, help=".dfm files to load")
    args = parser.parse_args(argv)
    if not (args.deepfacelive / "modelhub" / "DFLive" / "DFMModel.py").is_file():
        parser.error(f"{args.deepfacelive}: no modelhub/DFLive/DFMModel.py (not a checkout)")
    sys.path.insert(0, str(args.deepfacelive))
    from modelhub.DFLive.DFMModel import DFMModel

    failed = 0
    for path in args.files:
        problems = check(DFMModel, path)
        for problem in problems:
            print(f"{path}: {problem}")
        failed += bool(problems)
    print("PASS" if not failed else f"FAIL ({failed} of {len(args.files)})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
