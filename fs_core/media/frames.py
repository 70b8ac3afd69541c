"""Where ``fs extract`` and ``fs convert`` read frames from: a folder of frames, or a video
decoded with PyAV.

Both are read as faceswap reads them, so the keys match the alignments file faceswap (or
``fs extract``) wrote when the faces were extracted:

* a folder: the files whose extension faceswap reads as images (any case), sorted by name; each
  frame's key is its file name, its frame number the last run of digits just before the
  extension (frame ranges select by that number);
* a video: the first video stream decoded in order as BGR; frame ``i`` (0-based) has the key
  ``<stem>_<i + 1:06d><ext>`` and the frame number ``i + 1``.

PyAV is an optional dependency (``pip install "fs-core[convert]"``): a frame folder needs
nothing beyond OpenCV, so a user who never converts a video does not have to install FFmpeg's
libraries. Every unreadable input is an :class:`~fs_core.errors.FsUserError` naming the file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import cv2
import numpy as np

from fs_core.errors import FsUserError
from fs_core.faces.alignments_file import VIDEO_EXTENSIONS, frame_key_for_video

#: the image extensions faceswap reads from a frames folder (compared lowercase)
IMAGE_EXTENSIONS = frozenset({".bmp", ".exr", ".jpeg", ".jpg", ".png", ".tif", ".tiff"})
#: how to get the optional video support, said wherever it is missing
INSTALL_HINT = 'video needs PyAV: pip install "fs-core[convert]"'
_TRAILING_DIGITS = re.compile(r"(\d+)$")


@attrs.frozen
class SourceInfo:
    """What the writer needs to know about the input: a folder of frames or a video.

    ``fps`` is the video's average frame rate (None for a folder of frames: a video writer then
    uses its own default); ``frame_count`` is the number of frames the source yields (for a video
    it may be an estimate from the container); ``width``/``height`` are the size of the first
    frame; ``audio`` says whether the video has an audio stream a video writer can copy.
    """

    path: Path
    is_video: bool
    fps: float | None
    frame_count: int
    width: int
    height: int
    audio: bool = False


def require_av() -> Any:
    """The ``av`` module, or a one-line FsUserError saying which extra installs it."""
    try:
        import av  # noqa: PLC0415 (optional extra: av)
    except ImportError:
        raise FsUserError(INSTALL_HINT) from None
    return av


def frame_number(key: str) -> int | None:
    """faceswap's frame number of a frame file name: the last run of digits immediately before
    the extension (``clip_000012.png`` -> 12); None when the stem does not end in digits."""
    match = _TRAILING_DIGITS.search(os.path.splitext(key)[0])
    return int(match.group(1)) if match else None


def is_video_path(path: str | os.PathLike) -> bool:
    source = Path(path)
    return source.suffix.lower() in VIDEO_EXTENSIONS and not source.is_dir()


@attrs.frozen
class Frame:
    """One frame as read: its position in the source (0-based), its alignments key, its frame
    number (for ``-R``; None for a file name without digits) and the pixels, uint8 BGR (H, W, 3).
    ``image`` is None when only the key is wanted (a frame that is skipped is never decoded)."""

    index: int
    key: str
    number: int | None
    image: np.ndarray | None = attrs.field(default=None, eq=False, repr=False)


def _to_bgr(image: np.ndarray, path: Path) -> np.ndarray:
    """An image as OpenCV read it (``IMREAD_UNCHANGED``) as uint8 BGR, as faceswap converts it:
    grey to BGR, other integer depths scaled to 8 bits, floats clipped to 0-1; the alpha channel
    is dropped (faceswap would fail on it and pass the frame through unchanged)."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise FsUserError(f"unsupported image layout {image.shape}", path)
    if image.dtype != np.uint8:
        if np.issubdtype(image.dtype, np.integer):
            image = (image.astype(np.float64) * (255.0 / np.iinfo(image.dtype).max)).astype(
                np.uint8
            )
        else:
            image = (np.clip(np.nan_to_num(image), 0.0, 1.0) * 255.0).astype(np.uint8)
    channels = image.shape[2]
    if channels == 1:
        return np.repeat(image, 3, axis=2)
    if channels == 4:
        return np.ascontiguousarray(image[:, :, :3])
    return image


def read_frame_file(path: Path) -> np.ndarray:
    """One frame file as uint8 BGR; an unreadable or corrupt file is a FsUserError naming it."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        raise FsUserError(f"cannot read the frame: {error.strerror or error}", path) from None
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise FsUserError("cannot read the frame: not an image, or the file is corrupt", path)
    return _to_bgr(image, path)


class FrameSource:
    """The frames of ``path``, a folder of frames or a video file.

    :attr:`info` describes the source (size from the first frame); :meth:`keys` lists every frame
    without decoding a folder's images; :meth:`frames` decodes frames in order, only those whose
    index ``wanted`` accepts (a video must still decode every frame up to the last one wanted).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FsUserError(
                "the input does not exist (give a folder of frames or a video)", self.path
            )
        self.is_video = not self.path.is_dir()
        if self.is_video and self.path.suffix.lower() not in VIDEO_EXTENSIONS:
            known = ", ".join(sorted(VIDEO_EXTENSIONS))
            raise FsUserError(
                f"not a folder of frames or a video file (video extensions: {known})", self.path
            )
        self._files: list[Path] = []
        if self.is_video:
            self.info = self._video_info()
        else:
            self.info = self._folder_info()

    # -- folders --------------------------------------------------------------------------

    def _folder_info(self) -> SourceInfo:
        try:
            entries = sorted(self.path.iterdir(), key=lambda entry: entry.name)
        except OSError as error:
            raise FsUserError(
                f"cannot list the frames folder: {error.strerror or error}", self.path
            ) from None
        self._files = [
            entry
            for entry in entries
            if entry.suffix.lower() in IMAGE_EXTENSIONS and entry.is_file()
        ]
        if not self._files:
            known = ", ".join(sorted(IMAGE_EXTENSIONS))
            raise FsUserError(f"the folder holds no frames ({known})", self.path)
        height, width = read_frame_file(self._files[0]).shape[:2]
        return SourceInfo(self.path, False, None, len(self._files), width, height, False)

    # -- videos ---------------------------------------------------------------------------

    def _open_video(self) -> Any:
        av = require_av()
        try:
            container = av.open(os.fspath(self.path))
        except (av.FFmpegError, OSError) as error:
            raise FsUserError(f"cannot open the video: {error}", self.path) from None
        if not container.streams.video:
            container.close()
            raise FsUserError("the file holds no video stream", self.path)
        return container

    def _video_info(self) -> SourceInfo:
        av = require_av()
        container = self._open_video()
        try:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            fps = float(rate) if rate else None
            width, height = stream.codec_context.width, stream.codec_context.height
            audio = bool(container.streams.audio)
            count = int(stream.frames or 0)
            if count <= 0:  # the container does not say: count the packets (no decoding)
                count = sum(
                    1
                    for packet in container.demux(stream)
                    if packet.size and packet.pts is not None
                )
        except av.FFmpegError as error:
            raise FsUserError(f"cannot read the video: {error}", self.path) from None
        finally:
            container.close()
        if not width or not height:
            raise FsUserError("the video stream has no frame size", self.path)
        return SourceInfo(self.path, True, fps, count, int(width), int(height), audio)

    def _video_frames(self, wanted: Any, stop: int | None) -> Iterator[Frame]:
        av = require_av()
        container = self._open_video()
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # frame-threaded decoding: decode is not the bottleneck
            index = -1
            try:
                for decoded in container.decode(stream):
                    index += 1
                    if stop is not None and index >= stop:
                        break
                    key = frame_key_for_video(self.path, index)
                    if wanted is not None and not wanted(index):
                        yield Frame(index, key, index + 1)
                        continue
                    image = decoded.to_ndarray(format="bgr24")
                    yield Frame(index, key, index + 1, image)
            except av.FFmpegError as error:
                raise FsUserError(
                    f"cannot decode the video at frame {index + 1}: {error}", self.path
                ) from None
        finally:
            container.close()

    # -- both -----------------------------------------------------------------------------

    def keys(self) -> list[tuple[int, str, int | None]]:
        """(index, key, frame number) of every frame; for a video, from the frame count."""
        if self.is_video:
            return [
                (index, frame_key_for_video(self.path, index), index + 1)
                for index in range(self.info.frame_count)
            ]
        return [
            (index, path.name, frame_number(path.name)) for index, path in enumerate(self._files)
        ]

    def frames(
        self,
        wanted: Any = None,
        stop: int | None = None,
        unreadable: Callable[[Frame, FsUserError], None] | None = None,
    ) -> Iterator[Frame]:
        """Every frame in order; frames whose index ``wanted(index)`` rejects come without pixels
        (a folder's file is then never read). ``stop``: no frame from this index on.

        ``unreadable``: for a folder, a frame file that cannot be decoded is passed to it (with
        the error) and left out, instead of stopping the run -- one bad file in thousands of
        frames is worth a count, not a lost extract. Without it, the error is raised."""
        if self.is_video:
            yield from self._video_frames(wanted, stop)
            return
        for index, path in enumerate(self._files):
            if stop is not None and index >= stop:
                return
            number = frame_number(path.name)
            if wanted is not None and not wanted(index):
                yield Frame(index, path.name, number)
                continue
            try:
                image = read_frame_file(path)
            except FsUserError as error:
                if unreadable is None:
                    raise
                unreadable(Frame(index, path.name, number), error)
                continue
            yield Frame(index, path.name, number, image)
