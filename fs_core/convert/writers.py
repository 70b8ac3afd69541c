"""The built-in writers of ``fs convert`` (``-w``): image frames, a video, a GIF and face patches.

Every writer follows one rule: nothing that looks finished appears unless it is finished.

* ``opencv`` writes each frame as ``<frame stem>.<format>`` (png, jpg or webp) under a hidden
  temporary name and renames it into place, so a stopped run leaves only whole frames; a resumed
  run skips the frames whose file exists (:func:`image_done_keys`). The encoding happens in the
  driver's writer threads (several frames at once: PNG compression of a 1080p frame costs about
  as much as running the model on its face, even with the fast settings of :func:`_fast_png`).
* ``ffmpeg`` encodes H.264 (``libx264``, the ``video_crf`` quality) into a hidden temporary file
  at the source's frame rate, copying the source video's audio packets alongside when every frame
  of the source is written (a partial run's audio would drift); only :meth:`close` renames it to
  ``<source stem>_converted.<container>``. A stopped run deletes it and starts over next time:
  a video cannot be resumed half-way, and a half video must never look like a result.
* ``gif`` collects the frames (each quantised to a 256-colour palette at once, one byte a pixel)
  and writes the GIF atomically at :meth:`close`.
* ``patch`` writes each swapped face (BGRA, the blended mask as alpha, 16 bits as faceswap's
  default) with the matrix that maps it back into the frame, stored as JSON where faceswap stores
  it: a PNG's ``faceswap`` iTXt chunk (``patch_format = "png"``), or a TIFF's ImageDescription tag
  (``"tiff"``, LZW-compressed as faceswap's default, :mod:`fs_core.convert.tiffmeta`); named as
  faceswap names them (``clip_00.000122.png`` / ``.tiff``).

Video needs PyAV (``pip install "fs-core[convert]"``); the GIF uses Pillow, which fs already
installs with matplotlib.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import struct
import tempfile
import zlib
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fs_core.atomic import write_error
from fs_core.convert.tiffmeta import add_description
from fs_core.convert.types import SourceInfo
from fs_core.descriptors import WriterDescriptor
from fs_core.errors import FsUserError
from fs_core.faces.alignments_file import frame_key_for_video
from fs_core.hookspecs import hookimpl
from fs_core.media.frames import IMAGE_EXTENSIONS, require_av

#: image formats of the opencv writer -> the file extension written
IMAGE_FORMATS = {
    "png": ".png",
    "jpg": ".jpg",
    "jpeg": ".jpg",
    "webp": ".webp",
    "bmp": ".bmp",
    "jp2": ".jp2",
    "ppm": ".ppm",
    "tiff": ".tif",
}
#: containers the ffmpeg writer can write -> the file extension
VIDEO_CONTAINERS = {"mp4": ".mp4", "mkv": ".mkv", "mov": ".mov", "avi": ".avi", "webm": ".webm"}
#: the frame rate of a video or GIF made from a folder of frames (faceswap's GIF default)
DEFAULT_FPS = 25.0
_TEMP_SUFFIX = ".partial"
_PATCH_NAME_SPLIT = re.compile(r"[^0-9a-zA-Z]")


def _option(options: Any, name: str, default: Any) -> Any:
    """An option of the ``[convert]`` section; the default when the options do not have it (a
    pack's writer may be opened with older options)."""
    value = getattr(options, name, default)
    return default if value is None else value


def _atomic_write(target: Path, data: bytes) -> None:
    """``data`` to ``target`` via a hidden temporary file and a rename: a stopped run leaves a
    whole file or none. No fsync per frame (it would cost more than the encoding on a slow disk);
    a power cut can at worst leave an empty frame file, which resume treats as not done."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as error:
        raise write_error(error, target) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(name, 0o644)
        os.replace(name, target)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(name)
        if isinstance(error, OSError):
            raise write_error(error, target) from None
        raise


def _remove_temp_files(output: Path, prefix: str) -> None:
    """Temporary files an earlier, killed run left behind (never a finished output)."""
    with contextlib.suppress(OSError):
        for entry in output.iterdir():
            if entry.name.startswith(prefix) and entry.name.endswith((".tmp", _TEMP_SUFFIX)):
                with contextlib.suppress(OSError):
                    entry.unlink()


# ------------------------------------------------------------------------------------ opencv


def _image_extension(options: Any) -> str:
    name = str(_option(options, "writer_format", "png")).lower()
    if name not in IMAGE_FORMATS:
        raise FsUserError(
            f"unknown image format {name!r} for the opencv writer "
            f"(choose from {', '.join(sorted(IMAGE_FORMATS))})"
        )
    return IMAGE_FORMATS[name]


def image_name(key: str, extension: str) -> str:
    """The output file of frame ``key``: its stem with the writer's extension."""
    return f"{os.path.splitext(os.path.basename(key))[0]}{extension}"


def image_done_keys(
    output: Path, source: SourceInfo, options: Any, keys: Sequence[str]
) -> set[str]:
    """The keys among ``keys`` whose frame file already exists (and is not empty)."""
    extension = _image_extension(options)
    done = set()
    for key in keys:
        with contextlib.suppress(OSError):
            if (output / image_name(key, extension)).stat().st_size > 0:
                done.add(key)
    return done


def _fast_png(cv2: Any) -> list[int]:
    """zlib's run-length strategy and libpng's fast filter set (OpenCV 4.10+), at the level the
    user chose. Lossless either way; on a 1080p frame they encode 3x faster than zlib's default
    strategy with all filters (what OpenCV switches to when a level is given) and the file is
    smaller (3.34 against 3.66 MB on a noisy natural frame, at every level from 1 to 9 too):
    PNG encoding otherwise costs more CPU per frame than the model itself."""
    params = [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
    if hasattr(cv2, "IMWRITE_PNG_FILTER") and hasattr(cv2, "IMWRITE_PNG_FAST_FILTERS"):
        params += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FAST_FILTERS]
    return params


class ImageWriter:
    """One image file per frame, each written atomically. Thread-safe: the driver calls
    :meth:`write` from several threads at once."""

    concurrent = True
    wants_patches = False

    def __init__(self, output: Path, source: SourceInfo, options: Any) -> None:
        self.output = output
        self.extension = _image_extension(options)
        if self.extension == ".jpg":
            self.params = [cv2.IMWRITE_JPEG_QUALITY, int(_option(options, "jpg_quality", 75))]
        elif self.extension == ".png":
            self.params = [
                cv2.IMWRITE_PNG_COMPRESSION,
                int(_option(options, "png_compress_level", 3)),
                *_fast_png(cv2),
            ]
        elif self.extension == ".webp":
            self.params = [cv2.IMWRITE_WEBP_QUALITY, int(_option(options, "jpg_quality", 75))]
        else:
            self.params = []
        _remove_temp_files(output, ".")

    def write(self, index: int, key: str, frame: np.ndarray) -> None:
        target = self.output / image_name(key, self.extension)
        ok, encoded = cv2.imencode(self.extension, frame, self.params)
        if not ok:  # pragma: no cover - cv2 fails only for arrays it cannot store
            raise FsUserError(f"OpenCV could not encode the frame as {self.extension}", target)
        _atomic_write(target, encoded.tobytes())

    def close(self) -> None:
        """Nothing to finish: every frame was complete when written."""

    def abort(self) -> None:
        """Nothing to undo: the finished frames are kept for the next run to skip."""


# ------------------------------------------------------------------------------------ ffmpeg


def _container(options: Any) -> str:
    name = str(_option(options, "video_container", "mp4")).lower()
    if name not in VIDEO_CONTAINERS:
        raise FsUserError(
            f"unknown video container {name!r} (choose from {', '.join(sorted(VIDEO_CONTAINERS))})"
        )
    return name


def stream_output_path(output: Path, source: SourceInfo, extension: str) -> Path:
    """``<source stem>_converted<ext>`` in ``output``, with ``_1``, ``_2`` ... while the name is
    taken (as faceswap does: a finished video is never overwritten)."""
    stem = source.path.stem if source.is_video else source.path.name
    stem = stem or "frames"
    candidate = output / f"{stem}_converted{extension}"
    number = 0
    while candidate.exists():
        number += 1
        candidate = output / f"{stem}_converted_{number}{extension}"
    return candidate


def _rate(fps: float | None) -> Fraction:
    """The frame rate as a fraction (29.97 -> 30000/1001, as the source stored it)."""
    value = fps if fps and fps > 0 else DEFAULT_FPS
    return Fraction(value).limit_denominator(100_000)


class VideoWriter:
    """H.264 (or the ``video_codec``) into a temporary file that :meth:`close` renames."""

    concurrent = False
    wants_patches = False

    def __init__(self, output: Path, source: SourceInfo, options: Any) -> None:
        self.av = require_av()
        self.source = source
        self.options = options
        self.container_name = _container(options)
        self.target = stream_output_path(output, source, VIDEO_CONTAINERS[self.container_name])
        _remove_temp_files(output, f".{self.target.stem}")
        self.temp = output / f".{self.target.name}{_TEMP_SUFFIX}"
        self.rate = _rate(source.fps)
        self.codec = str(_option(options, "video_codec", "libx264"))
        self.crf = int(_option(options, "video_crf", 23))
        self.preset = str(_option(options, "video_preset", "medium"))
        self.out: Any = None
        self.stream: Any = None
        self.size: tuple[int, int] = (0, 0)
        self.count = 0
        self.audio_in: Any = None
        self.audio_out: Any = None
        self.audio_packets: Any = None
        self.pending_audio: Any = None
        try:
            self.out = self.av.open(os.fspath(self.temp), "w", format=self.container_name)
        except (self.av.FFmpegError, OSError) as error:
            raise FsUserError(f"cannot write the video: {error}", self.target) from None

    def _start(self, frame: np.ndarray) -> None:
        """Open the stream at the first frame's size (rounded up to even: yuv420p needs it)."""
        height, width = frame.shape[:2]
        self.size = (width + width % 2, height + height % 2)
        try:
            self.stream = self.out.add_stream(self.codec, rate=self.rate)
        except (self.av.FFmpegError, ValueError) as error:
            raise FsUserError(f"the video codec {self.codec!r} is not available: {error}") from None
        self.stream.width, self.stream.height = self.size
        self.stream.pix_fmt = "yuv420p"
        self.stream.codec_context.time_base = 1 / self.rate
        if self.codec in ("libx264", "libx265"):
            self.stream.options = {"crf": str(self.crf), "preset": self.preset}
        if self.source.audio and self.source.is_video:
            self._open_audio()

    def _open_audio(self) -> None:
        """The source's first audio stream, copied packet by packet (no re-encoding)."""
        av = self.av
        try:
            self.audio_in = av.open(os.fspath(self.source.path))
            template = self.audio_in.streams.audio[0]
            self.audio_out = self.out.add_stream_from_template(template)
            self.audio_packets = self.audio_in.demux(template)
        except (av.FFmpegError, ValueError, IndexError):  # no usable audio: write video only
            self._close_audio()
            self.audio_out = None

    def _close_audio(self) -> None:
        if self.audio_in is not None:
            with contextlib.suppress(Exception):
                self.audio_in.close()
        self.audio_in = self.audio_packets = None

    def _mux_audio_until(self, seconds: float | None) -> None:
        """Mux the audio packets that start before ``seconds`` (None: all that are left), so
        the file is interleaved as it is written."""
        if self.audio_packets is None:
            return
        while True:
            packet = self.pending_audio
            self.pending_audio = None
            if packet is None:
                try:
                    packet = next(self.audio_packets)
                except (StopIteration, self.av.FFmpegError):
                    self._close_audio()
                    return
            if packet.dts is None:  # the demuxer's final flush packet
                continue
            when = float(packet.pts * packet.time_base) if packet.pts is not None else 0.0
            if seconds is not None and when > seconds:
                self.pending_audio = packet
                return
            packet.stream = self.audio_out
            self.out.mux(packet)

    def _mux(self, packets: Any) -> None:
        for packet in packets:
            if self.audio_out is not None and packet.pts is not None:
                self._mux_audio_until(float(packet.pts * packet.time_base))
            self.out.mux(packet)

    def write(self, index: int, key: str, frame: np.ndarray) -> None:
        if self.stream is None:
            self._start(frame)
        width, height = self.size
        if frame.shape[1] != width or frame.shape[0] != height:
            if abs(frame.shape[1] - width) <= 1 and abs(frame.shape[0] - height) <= 1:
                frame = cv2.copyMakeBorder(
                    frame,
                    0,
                    height - frame.shape[0],
                    0,
                    width - frame.shape[1],
                    cv2.BORDER_REPLICATE,
                )
            else:  # a folder whose frames differ in size: fit each to the first
                frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        video_frame = self.av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="bgr24")
        video_frame.pts = self.count
        video_frame.time_base = 1 / self.rate
        self.count += 1
        try:
            self._mux(self.stream.encode(video_frame))
        except self.av.FFmpegError as error:
            raise FsUserError(f"cannot write the video: {error}", self.target) from None
        except OSError as error:
            raise write_error(error, self.target) from None

    def close(self) -> None:
        """Flush the encoder, add the rest of the audio when the whole source was written, and
        only then rename the file into place."""
        try:
            if self.stream is not None:
                self._mux(self.stream.encode(None))
                if self.audio_out is not None and self.count >= self.source.frame_count:
                    self._mux_audio_until(None)
            self._close_audio()
            self.out.close()
            self.out = None
            if self.stream is None:  # nothing was written: no video at all
                self.temp.unlink(missing_ok=True)
                return
            os.replace(self.temp, self.target)
        except self.av.FFmpegError as error:
            self.abort()
            raise FsUserError(f"cannot finish the video: {error}", self.target) from None
        except OSError as error:
            self.abort()
            raise write_error(error, self.target) from None

    def abort(self) -> None:
        self._close_audio()
        if self.out is not None:
            with contextlib.suppress(Exception):
                self.out.close()
            self.out = None
        with contextlib.suppress(OSError):
            self.temp.unlink()


# --------------------------------------------------------------------------------------- gif


class GifWriter:
    """An animated GIF at the source's frame rate, written atomically when the run finishes."""

    concurrent = False
    wants_patches = False

    def __init__(self, output: Path, source: SourceInfo, options: Any) -> None:
        try:
            import PIL.Image  # noqa: F401, PLC0415 (optional extra: Pillow)
        except ImportError:
            raise FsUserError(
                'the gif writer needs Pillow: pip install "fs-core[convert]"'
            ) from None
        self.target = stream_output_path(output, source, ".gif")
        fps = _option(options, "gif_fps", None) or source.fps or DEFAULT_FPS
        self.duration = max(20, round(1000.0 / float(fps)))  # GIF delays are in 10 ms steps
        self.loop = int(_option(options, "gif_loop", 0))
        self.colours = int(_option(options, "gif_palette_size", 256))
        self.frames: list[Any] = []
        self.size: tuple[int, int] | None = None

    def write(self, index: int, key: str, frame: np.ndarray) -> None:
        import PIL.Image  # noqa: PLC0415 (optional extra: Pillow)

        image = PIL.Image.fromarray(np.ascontiguousarray(frame[:, :, ::-1]))
        if self.size is None:
            self.size = image.size
        elif image.size != self.size:
            image = image.resize(self.size, PIL.Image.Resampling.LANCZOS)
        self.frames.append(image.quantize(self.colours, method=PIL.Image.Quantize.FASTOCTREE))

    def close(self) -> None:
        if not self.frames:
            return
        buffer = io.BytesIO()
        first, *rest = self.frames
        first.save(
            buffer,
            "GIF",
            save_all=True,
            append_images=rest,
            duration=self.duration,
            loop=self.loop,
            disposal=1,
            optimize=False,
        )
        self.frames = []
        _atomic_write(self.target, buffer.getvalue())

    def abort(self) -> None:
        self.frames = []


# ------------------------------------------------------------------------------------- patch


def _png_with_text(image: np.ndarray, text: bytes) -> bytes:
    """PNG bytes of ``image`` with ``text`` in a ``faceswap`` iTXt chunk before the first IDAT
    (where faceswap's patch writer puts the matrix)."""
    ok, encoded = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:  # pragma: no cover
        raise ValueError(f"cv2 could not encode an image of shape {image.shape} as PNG")
    data = encoded.tobytes()
    pos = 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            break
        pos += 12 + length
    body = b"faceswap" + b"\x00" * 5 + text
    chunk = struct.pack(">I", len(body)) + b"iTXt" + body
    chunk += struct.pack(">I", zlib.crc32(b"iTXt" + body) & 0xFFFFFFFF)
    return data[:pos] + chunk + data[pos:]


#: the patch writer's formats (``patch_format``) -> the file extension faceswap gives them
PATCH_EXTENSIONS = {"png": ".png", "tiff": ".tiff"}
#: faceswap's TIFF compression for its default 16-bit patches: LZW
_TIFF_LZW = 5


def _patch_extension(options: Any) -> str:
    name = str(_option(options, "patch_format", "png")).lower()
    if name not in PATCH_EXTENSIONS:
        raise FsUserError(
            f"unknown patch_format {name!r} for the patch writer "
            f"(choose from {', '.join(PATCH_EXTENSIONS)})"
        )
    return PATCH_EXTENSIONS[name]


def _tiff_with_text(image: np.ndarray, text: bytes) -> bytes:
    """LZW-compressed TIFF bytes of ``image`` with ``text`` as its ImageDescription (where
    faceswap's patch writer puts the matrix in a TIFF)."""
    ok, encoded = cv2.imencode(".tif", image, [cv2.IMWRITE_TIFF_COMPRESSION, _TIFF_LZW])
    if not ok:  # pragma: no cover
        raise ValueError(f"cv2 could not encode an image of shape {image.shape} as TIFF")
    return add_description(encoded.tobytes(), text)


def patch_name(key: str, face_index: int, extension: str = ".png") -> str:
    """faceswap's patch file name with its default options: the frame stem's last number made
    0-based and padded to 6 digits, the face index before it (``clip_000123`` face 0 ->
    ``clip_00.000122.png``)."""
    stem = os.path.splitext(os.path.basename(key))[0]
    parts = _PATCH_NAME_SPLIT.split(stem)
    face = f"{face_index:02d}"
    if parts and parts[-1].isdigit():
        number = f".{int(parts[-1]) - 1:06d}"
        base = stem[: -len(parts[-1]) - 1]
    else:
        number, base = "", stem
    return f"{base}_{face}{number}{extension}"


def patch_done_keys(
    output: Path, source: SourceInfo, options: Any, keys: Sequence[str]
) -> set[str]:
    """Frames whose face 0 patch (in ``patch_format``) exists: faces are written last to first, so
    face 0 appearing means every face of the frame is there."""
    extension = _patch_extension(options)
    return {key for key in keys if (output / patch_name(key, 0, extension)).is_file()}


class PatchWriter:
    """Each swapped face (before it is warped back) with the matrix mapping it into the frame."""

    concurrent = True
    wants_patches = True

    def __init__(self, output: Path, source: SourceInfo, options: Any) -> None:
        self.output = output
        self.empty_frames = str(_option(options, "patch_empty_frames", "blank"))
        self.extension = _patch_extension(options)
        self.encode = _png_with_text if self.extension == ".png" else _tiff_with_text
        _remove_temp_files(output, ".")

    def write(self, index: int, key: str, frame: np.ndarray) -> None:
        raise TypeError("the patch writer takes patches (write_patches), not frames")

    def write_patches(
        self,
        index: int,
        key: str,
        frame_size: tuple[int, int],
        patches: Sequence[tuple[np.ndarray, np.ndarray]],
        patch_size: int,
    ) -> None:
        """``patches``: (float32 (S, S, 4) BGRA in 0-1, the 2x3 frame-to-patch matrix) per face;
        ``frame_size``: (width, height) of the frame the matrices refer to."""
        if not patches:
            if self.empty_frames == "skip":
                return
            blank = np.zeros((patch_size, patch_size, 4), np.float32)
            patches = [(blank, np.zeros((2, 3)))]
        height = frame_size[1]
        # faceswap's default origin is bottom-left: the matrix's translation is where the patch's
        # bottom-left corner lands, measured from the frame's bottom-left corner (y up), the
        # shear terms flipped to match, and the ROI's corners clockwise from that origin
        box = np.array(
            [[0, 0], [0, patch_size], [patch_size, patch_size], [patch_size, 0]], np.float32
        )
        origin = np.array([[[0, patch_size]]], np.float32)
        for face_index in reversed(range(len(patches))):
            image, matrix = patches[face_index]
            matrix = np.asarray(matrix, np.float64)
            if np.any(matrix):
                adjusted = np.linalg.inv(np.vstack([matrix[:2], [0.0, 0.0, 1.0]]))
            else:  # a blank patch: the identity, as faceswap writes it
                adjusted = np.eye(3)
            corner = cv2.transform(origin, adjusted[:2]).reshape(2)
            adjusted[:2, 2] = [corner[0], height - corner[1]]
            adjusted[:2, :2] *= [[1, -1], [-1, 1]]
            roi = cv2.transform(box[:, None, :], adjusted[:2]).reshape(4, 2)
            text = json.dumps(
                {"transform_matrix": adjusted.tolist(), "roi": roi.tolist()}, ensure_ascii=True
            ).encode("ascii")
            pixels = (np.clip(image, 0.0, 1.0) * 65535.0).astype(np.uint16)
            target = self.output / patch_name(key, face_index, self.extension)
            _atomic_write(target, self.encode(pixels, text))

    def close(self) -> None:
        """Nothing to finish: every patch was complete when written."""

    def abort(self) -> None:
        """Nothing to undo: finished frames' patches are kept for the next run to skip."""


# ------------------------------------------------------------------------------ registration


def source_keys(source: SourceInfo) -> list[str]:
    """The frame keys of ``source`` (a folder's frame files, or a video's numbered frames)."""
    if source.is_video:
        return [frame_key_for_video(source.path, index) for index in range(source.frame_count)]
    with contextlib.suppress(OSError):
        return sorted(
            entry.name
            for entry in source.path.iterdir()
            if entry.suffix.lower() in IMAGE_EXTENSIONS
        )
    return []


def _done_images(output: Path, source: SourceInfo, options: Any) -> set[str]:
    return image_done_keys(output, source, options, source_keys(source))


def _done_patches(output: Path, source: SourceInfo, options: Any) -> set[str]:
    return patch_done_keys(output, source, options, source_keys(source))


@hookimpl
def fs_convert_writers() -> list[WriterDescriptor]:
    return [
        WriterDescriptor(
            name="opencv",
            help="image frames (png, jpg or webp: the writer_format option), named as the input "
            "frames; resumable",
            extensions=(".png", ".jpg", ".webp"),
            open=ImageWriter,
            done_keys=_done_images,
        ),
        WriterDescriptor(
            name="ffmpeg",
            help="a video (H.264, the source's frame rate and audio); needs fs-core[convert]",
            extensions=tuple(VIDEO_CONTAINERS.values()),
            open=VideoWriter,
        ),
        WriterDescriptor(name="gif", help="an animated GIF", extensions=(".gif",), open=GifWriter),
        WriterDescriptor(
            name="patch",
            help="the swapped faces (16-bit BGRA PNG or TIFF: the patch_format option) with the "
            "matrix that puts each back into its frame, as faceswap's patch writer; resumable",
            extensions=tuple(PATCH_EXTENSIONS.values()),
            open=PatchWriter,
            done_keys=_done_patches,
        ),
    ]
