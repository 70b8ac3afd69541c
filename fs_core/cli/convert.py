"""``fs convert``: put the swapped faces back into the frames (or the video) they came from.

The flags are faceswap's (``-i -o -m -p -a -s -c -M -w -O -R -k -S -j -C``), with the older
spellings faceswap users still type (``-al``, ``-osc``, ``-fr``) as aliases. A flag overrides the
same option of the ``[convert]`` section of ``-C`` (``fs config`` prints the section); options
without a flag (mask blending, colour plugin settings, writer settings) come from the file.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from fs_core import plugin_manager
from fs_core.cli.common import disabled_from
from fs_core.config import load_config
from fs_core.errors import FsUserError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "convert",
        help="swap the faces of a folder of frames or a video with a trained model",
        description="Swap every face listed in a faceswap alignments file into its frame and "
        "write the frames, a video, a GIF or the face patches. Frames without faces are written "
        "unchanged; a stopped run resumes where it stopped (image writers).",
    )
    add = parser.add_argument
    add(
        "-i",
        "--input-dir",
        dest="input_dir",
        required=True,
        metavar="INPUT",
        help="a folder of frames or a video file",
    )
    add(
        "-o",
        "--output-dir",
        dest="output_dir",
        required=True,
        metavar="OUT",
        help="the folder to write to (created if missing)",
    )
    add(
        "-m",
        "--model-dir",
        dest="model_dir",
        required=True,
        metavar="MODEL_DIR",
        help="the trained model folder",
    )
    add(
        "-p",
        "-al",
        "--alignments",
        dest="alignments",
        default=None,
        metavar="FSA",
        help="the alignments file (default: INPUT/alignments.fsa for a folder, "
        "<video stem>_alignments.fsa next to a video)",
    )
    add(
        "-a",
        "--input-aligned-dir",
        dest="input_aligned_dir",
        default=None,
        metavar="FACES",
        help="swap only the faces that are in this folder of extracted faces",
    )
    add(
        "-s",
        "--swap-model",
        dest="swap_model",
        action="store_true",
        default=None,
        help="swap B to A instead of A to B",
    )
    add(
        "-c",
        "--color-adjustment",
        dest="color_adjustment",
        default=None,
        metavar="NAME",
        help="colour adjustment (default avg-color; 'fs plugins' lists them)",
    )
    add(
        "-M",
        "--mask-type",
        dest="mask_type",
        default=None,
        metavar="MASK",
        help="mask placing the face: extended (default), components, predicted, none, or a "
        "mask stored in the alignments file",
    )
    add(
        "-w",
        "--writer",
        dest="writer",
        default=None,
        metavar="WRITER",
        help="output: opencv (image frames, default), ffmpeg (video), gif, patch",
    )
    add(
        "-O",
        "-osc",
        "--output-scale",
        dest="output_scale",
        type=int,
        default=None,
        metavar="PERCENT",
        help="scale the output frames, 25-400 percent (default 100)",
    )
    add(
        "-S",
        "--face-scale",
        dest="face_scale",
        type=float,
        default=None,
        metavar="PERCENT",
        help="enlarge (positive) or shrink the swapped face, -10 to 10 percent",
    )
    add(
        "-R",
        "-fr",
        "--frame-ranges",
        dest="frame_ranges",
        nargs="+",
        default=None,
        metavar="START-END",
        help="convert only these frame ranges (inclusive), e.g. 10-50 90-100",
    )
    add(
        "-k",
        "--keep-unchanged",
        dest="keep_unchanged",
        action="store_true",
        default=None,
        help="write the frames outside -R unchanged instead of skipping them",
    )
    add(
        "-b",
        "--batch-size",
        dest="batch_size",
        type=int,
        default=None,
        metavar="N",
        help="faces per model batch (overrides convert_batchsize)",
    )
    add(
        "-j",
        "--jobs",
        dest="jobs",
        type=int,
        default=0,
        metavar="N",
        help="writer threads for image frames (0: up to 4)",
    )
    add(
        "-C",
        "--config",
        "--configfile",
        dest="config",
        default=None,
        metavar="CONFIG",
        help="config file whose [convert] section sets the options (flags win)",
    )
    add(
        "--progress-file",
        dest="progress_file",
        default=None,
        help=argparse.SUPPRESS,  # for fs gui: frames done and total as JSON, rewritten as it goes
    )
    parser.set_defaults(func=run)
    return parser


def progress_writer(path: Path, every: float = 0.5) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback that keeps ``{"done", "total", "seconds"}`` in
    ``path`` (replaced whole, at most every ``every`` seconds and at the last frame), so a watcher
    such as ``fs gui`` reads the count without parsing a progress bar."""
    started = time.monotonic()
    last = [-every]
    lock = threading.Lock()

    def write(done: int, total: int) -> None:
        now = time.monotonic()
        with lock:
            if done not in (0, total) and now - last[0] < every:
                return
            last[0] = now
            data = {"done": done, "total": total, "seconds": round(now - started, 3)}
            temp = path.with_name(f".{path.name}.tmp")
            try:
                temp.write_text(json.dumps(data), encoding="utf-8")
                os.replace(temp, path)
            except OSError:
                pass  # a watcher's convenience: never worth stopping the convert

    return write


#: flag destination -> [convert] option it overrides
_OVERRIDES = (
    "swap_model",
    "color_adjustment",
    "mask_type",
    "writer",
    "output_scale",
    "face_scale",
    "keep_unchanged",
)


def convert_options(args: argparse.Namespace, registry: Any) -> Any:
    """The ``[convert]`` options of ``-C`` (defaults without it) with the flags applied, each
    checked as the file's values are."""
    classes = registry.model_config_classes()
    options = load_config(args.config, classes).convert
    changes: dict[str, Any] = {
        name: getattr(args, name) for name in _OVERRIDES if getattr(args, name) is not None
    }
    if args.frame_ranges is not None:
        changes["frame_ranges"] = " ".join(args.frame_ranges)
    try:
        return attrs.evolve(options, **changes)
    except FsUserError:
        raise
    except (ValueError, TypeError) as error:
        raise FsUserError(f"bad option: {error}") from None


def run(args: argparse.Namespace) -> int:
    from fs_core.convert.run import ConvertRequest, convert  # noqa: PLC0415 (OpenCV: fs --help starts without it)

    if args.batch_size is not None and not 1 <= args.batch_size <= 32:
        raise FsUserError(f"-b/--batch-size must be 1 to 32, got {args.batch_size}")
    if args.jobs < 0:
        raise FsUserError(f"-j/--jobs must be 0 or more, got {args.jobs}")
    registry = plugin_manager.get_registry(disabled_from(args))
    options = convert_options(args, registry)
    request = ConvertRequest(
        input=Path(args.input_dir),
        output=Path(args.output_dir),
        model_dir=Path(args.model_dir),
        alignments=Path(args.alignments) if args.alignments else None,
        aligned_dir=Path(args.input_aligned_dir) if args.input_aligned_dir else None,
        jobs=args.jobs,
    )
    result = convert(
        request,
        options,
        registry,
        swapper_factory=_swapper(request, options, registry, args),
        progress=progress_writer(Path(args.progress_file)) if args.progress_file else None,
    )
    where = ", ".join(str(path) for path in result.outputs) or str(request.output)
    rate = result.written / result.seconds if result.seconds > 0 else 0.0
    parts = [f"{result.swapped} swapped", f"{result.unchanged} unchanged"]
    if result.skipped_done:
        parts.append(f"{result.skipped_done} already done")
    if result.skipped_range:
        parts.append(f"{result.skipped_range} outside the ranges")
    print(
        f"Converted {result.written} frames ({', '.join(parts)}) into {where} "
        f"in {result.seconds:.1f} s ({rate:.1f} frames/s)"
    )
    return 0


def _swapper(request: Any, options: Any, registry: Any, args: argparse.Namespace) -> Any:
    """Load the model only once every input has been checked (the slow step comes last)."""

    def make() -> Any:
        from fs_core.convert.swap import FaceSwapper  # noqa: PLC0415 (OpenCV: fs --help starts without it)

        return FaceSwapper.from_model_dir(
            request.model_dir,
            options,
            registry,
            config_path=args.config,
            batch_size=args.batch_size,
        )

    return make
