"""The ``[convert]`` section: every option of ``fs convert``, with faceswap's defaults.

faceswap spreads these over ``config/convert.ini`` (one section per plugin) and the command line;
fs keeps them in one TOML section so ``fs config`` prints them all and a file can set any of them.
The command-line flags of ``fs convert`` override the values read from ``-C``. Options of one
plugin carry its name as a prefix (``match_hist_threshold``). Names of pluggable parts
(``color_adjustment``, ``mask_blend_type``, ``sharpen``, ``writer``) are checked against the
installed plugins when convert starts, so a pack can add choices.

It lives in the config package, beside the other core sections, so that loading the config never
imports convert; convert code imports it as :mod:`fs_core.convert.options`.
"""

from __future__ import annotations

import attrs

from fs_core.config.options import option

#: faceswap's ``-M`` choices: landmark masks, masks stored in the alignments file, the learned one
MASK_TYPES: tuple[str, ...] = (
    "none",
    "components",
    "extended",
    "predicted",
    "bisenet-fp_face",
    "bisenet-fp_head",
    "custom_face",
    "custom_head",
    "unet-dfl",
    "vgg-clear",
    "vgg-obstructed",
)
#: masks drawn from the landmarks, needing nothing stored
LANDMARK_MASKS: tuple[str, ...] = ("components", "extended")
MANUAL_BALANCE_SPACES: tuple[str, ...] = ("RGB", "HSV", "LAB", "YCrCb")


def _plugin(kind: str, names: str) -> str:
    return f"a {kind} from 'fs plugins' (built in: {names})"


@attrs.define
class ConvertOptions:
    # --- what is swapped
    color_adjustment: str = option(
        "avg-color",
        "Colour adjustment of the swapped face (-c): "
        + _plugin(
            "convert_color",
            "avg-color, color-transfer, match-hist, manual-balance, seamless-clone, none",
        )
        + ".",
    )
    mask_type: str = option(
        "extended",
        "Mask that places the face (-M): extended or components (from the landmarks), "
        "predicted (learned by the model), a mask stored in the alignments file, or none.",
        choices=MASK_TYPES,
    )
    swap_model: bool = option(False, "Swap B to A instead of A to B (-s).")
    face_scale: float = option(
        0.0, "Enlarge (positive) or shrink the swapped face, in percent (-S).", min=-10.0, max=10.0
    )
    # --- mask blending
    mask_blend_type: str = option(
        "normalized",
        "Blur of the mask edge: "
        + _plugin("convert_mask_blend", "gaussian, normalized, none")
        + ".",
    )
    mask_kernel_size: int = option(
        3, "Blur kernel of the mask, in pixels (made odd).", min=1, max=9
    )
    mask_passes: int = option(
        4, "Blur passes; each later pass uses a smaller kernel.", min=1, max=8
    )
    mask_threshold: int = option(
        4, "Stored mask values within this percent of 0 or 255 snap to it.", min=0, max=50
    )
    mask_erosion: float = option(
        0.0,
        "Shrink (positive) or grow the mask, in percent of its size.",
        min=-100.0,
        max=100.0,
    )
    mask_erosion_top: float = option(
        0.0, "Shrink (positive) or grow the mask's top edge, percent.", min=-100.0, max=100.0
    )
    mask_erosion_bottom: float = option(
        0.0, "Shrink (positive) or grow the mask's bottom edge, percent.", min=-100.0, max=100.0
    )
    mask_erosion_left: float = option(
        0.0, "Shrink (positive) or grow the mask's left edge, percent.", min=-100.0, max=100.0
    )
    mask_erosion_right: float = option(
        0.0, "Shrink (positive) or grow the mask's right edge, percent.", min=-100.0, max=100.0
    )
    # --- colour plugins
    color_transfer_clip: bool = option(
        True, "color-transfer: clip LAB values to range instead of rescaling them."
    )
    color_transfer_preserve_paper: bool = option(
        True, "color-transfer: scale by target/source deviation (the paper's formula)."
    )
    match_hist_threshold: float = option(
        99.0, "match-hist: percent of the histogram matched.", min=90.0, max=100.0
    )
    manual_balance_colorspace: str = option(
        "HSV", "manual-balance: colour space of the balance.", choices=MANUAL_BALANCE_SPACES
    )
    manual_balance_balance_1: float = option(
        0.0, "manual-balance: shift of the first channel, percent.", min=-100.0, max=100.0
    )
    manual_balance_balance_2: float = option(
        0.0, "manual-balance: shift of the second channel, percent.", min=-100.0, max=100.0
    )
    manual_balance_balance_3: float = option(
        0.0, "manual-balance: shift of the third channel, percent.", min=-100.0, max=100.0
    )
    manual_balance_contrast: float = option(
        0.0, "manual-balance: contrast change, percent.", min=-100.0, max=100.0
    )
    manual_balance_brightness: float = option(
        0.0, "manual-balance: brightness change, percent.", min=-100.0, max=100.0
    )
    # --- the whole frame
    sharpen: str = option(
        "none",
        "Sharpening of the frame: "
        + _plugin("convert_scaler", "none, box, gaussian, unsharp-mask")
        + ".",
    )
    sharpen_amount: int = option(150, "Sharpening strength, percent.", min=100, max=500)
    sharpen_radius: float = option(
        0.3, "Sharpening radius, percent of the frame width.", min=0.1, max=5.0
    )
    sharpen_threshold: float = option(
        5.0,
        "unsharp-mask: only pixels differing less than this (0-255) from the blur.",
        min=1.0,
        max=10.0,
    )
    output_scale: int = option(100, "Scale of the output frames, percent (-O).", min=25, max=400)
    # --- which frames
    frame_ranges: str = option(
        "", "Frames to convert, as 'start-end' ranges separated by spaces (-R); empty: all."
    )
    keep_unchanged: bool = option(
        False, "Write the frames outside frame_ranges unchanged instead of skipping them (-k)."
    )
    # --- output
    writer: str = option(
        "opencv", "Output: " + _plugin("convert_writer", "opencv, ffmpeg, gif, patch") + "."
    )
    writer_format: str = option(
        "png",
        "Image format of the opencv writer.",
        choices=("png", "jpg", "webp", "bmp", "jp2", "ppm", "tiff"),
    )
    jpg_quality: int = option(75, "JPEG quality of image frames.", min=1, max=95)
    png_compress_level: int = option(3, "PNG compression level of image frames.", min=0, max=9)
    video_container: str = option(
        "mp4",
        "Container of the ffmpeg writer's video.",
        choices=("avi", "flv", "mkv", "mov", "mp4", "mpeg", "webm"),
    )
    video_codec: str = option(
        "libx264", "Video codec of the ffmpeg writer.", choices=("libx264", "libx265")
    )
    video_crf: int = option(
        23, "Constant rate factor of the video (lower: better, larger).", min=0, max=51
    )
    video_preset: str = option(
        "medium",
        "Encoder preset of the video (slower: smaller file).",
        choices=(
            "ultrafast",
            "superfast",
            "veryfast",
            "faster",
            "fast",
            "medium",
            "slow",
            "slower",
            "veryslow",
        ),
    )
    gif_fps: int = option(25, "Frames per second of the gif writer.", min=1, max=60)
    gif_loop: int = option(0, "Times the GIF loops (0: forever).", min=0, max=100)
    gif_palette_size: int = option(
        256, "Colours in the GIF palette.", choices=(2, 4, 8, 16, 32, 64, 128, 256)
    )
    patch_format: str = option(
        "png",
        "Image format of the patch writer: png (the matrix in the 'faceswap' iTXt chunk) or tiff "
        "(in the ImageDescription tag).",
        choices=("png", "tiff"),
    )
