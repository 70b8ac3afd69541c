"""Before and after one frame of a convert, for the page's slider.

The server must not load TensorFlow or a model, so the "after" is made by ``fs convert`` itself in
a short process of its own, asked for that one frame (``-R N-N``) into a folder of the cache; the
"before" is the input's frame, read here (OpenCV, or PyAV for a video) and written as PNG. Each
pair is kept under ``ROOT/.fs-jobs/previews/KEY/``, KEY a hash of the model (and when it was last
saved), the input, the alignments, the frame and the options, so moving the slider back to a frame
already seen, with the same options, answers at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import cv2

from fs_core.errors import FsUserError
from fs_core.folder.layout import state_file
from fs_core.gui.detached import start_detached
from fs_core.gui.job_forms import ConvertForm, convert_toml
from fs_core.gui.jobs import IMAGE_SUFFIXES, error_line, jobs_root
from fs_core.media.frames import FrameSource

PREVIEWS_DIR = "previews"
#: previews computed at once; a further request waits for one to finish (the page says so)
MAX_RUNNING = 2
_KEY_CHARS = frozenset("0123456789abcdef")
#: options that change only how the whole output is written, not the swapped frame shown
OUTPUT_ONLY = frozenset({"writer", "writer_format", "video_container", "output_scale"})


def frame_list(path: Path) -> dict[str, Any]:
    """The input's frames for the slider: their count and whether it is a video."""
    source = FrameSource(path)
    return {
        "count": source.info.frame_count,
        "video": source.info.is_video,
        "width": source.info.width,
        "height": source.info.height,
    }


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def _model_stamp(model_dir: Path) -> str:
    try:
        info = state_file(model_dir).stat()
    except OSError:
        return "unsaved"
    return f"{info.st_mtime_ns}:{info.st_size}"


class FramePreviews:
    """The previews of one server: cached in files, computed by at most :data:`MAX_RUNNING`
    ``fs convert`` processes at a time."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        #: key -> its fs convert (None while the frame is read, before the process starts)
        self._running: dict[str, subprocess.Popen | None] = {}

    def folder(self, key: str) -> Path:
        if len(key) != 32 or not set(key) <= _KEY_CHARS:
            raise FsUserError(f"not a preview key: {key!r}")
        return jobs_root(self.root) / PREVIEWS_DIR / key

    def request(self, form: ConvertForm, index: int) -> dict[str, Any]:
        """The state of the preview of frame ``index`` with ``form``'s model and options,
        starting its computation when it is neither cached nor under way. The page asks again
        every second while it computes, so a cached or running answer reads no frame."""
        if index < 0:
            raise FsUserError(f"frame must be 0 or more, got {index}")
        ident = json.dumps(
            [
                str(form.model_dir),
                _model_stamp(form.model_dir),
                str(form.source.input),
                str(form.source.alignments),
                index,
                {k: v for k, v in form.options.items() if k not in OUTPUT_ONLY},
            ],
            sort_keys=True,
        )
        key = hashlib.sha256(ident.encode()).hexdigest()[:32]
        folder = self.folder(key)
        answer: dict[str, Any] = {"key": key, "frame": index}
        with self._lock:
            done = self._finished(key, folder)
            if done is not None:
                return {**answer, **done, "name": _read(folder / "name.txt")}
            if key in self._running:
                return {**answer, "state": "computing", "name": _read(folder / "name.txt")}
            if len(self._running) >= MAX_RUNNING:
                return {**answer, "state": "busy", "name": ""}
            self._running[key] = None  # reserved while the frame is read (outside the lock)
        try:
            name = self._prepare(form, index, folder)
        except BaseException:
            with self._lock:
                self._running.pop(key, None)
            raise
        return {**answer, "state": "computing", "name": name}

    def _prepare(self, form: ConvertForm, index: int, folder: Path) -> str:
        """Check the frame, write its "before" and start ``fs convert`` for its "after"."""
        source = FrameSource(form.source.input)
        keys = source.keys()
        if index >= len(keys):
            raise FsUserError(f"frame must be from 0 to {len(keys) - 1}, got {index}")
        _, frame_key, number = keys[index]
        if number is None:
            raise FsUserError(
                f"frame {frame_key} has no number at the end of its name, so fs convert cannot "
                "pick it alone (-R); rename the frames to end in digits for a preview"
            )
        folder.mkdir(parents=True, exist_ok=True)
        self._write_before(source, index, folder / "before.png")
        (folder / "name.txt").write_text(frame_key, encoding="utf-8")
        self._start(folder.name, folder, form, number)
        return frame_key

    def _finished(self, key: str, folder: Path) -> dict[str, Any] | None:
        if (folder / "after.png").is_file():
            return {"state": "ready"}
        if key not in self._running and (folder / "error.txt").is_file():
            return {"state": "failed", "error": (folder / "error.txt").read_text().strip()}
        return None

    @staticmethod
    def _write_before(source: FrameSource, index: int, target: Path) -> None:
        image = None
        for frame in source.frames(wanted=lambda i: i == index, stop=index + 1):
            if frame.index == index:
                image = frame.image
        if image is None:
            raise FsUserError(f"frame {index} could not be read from {source.path.name}")
        ok, data = cv2.imencode(".png", image)
        if not ok:
            raise FsUserError("the frame could not be encoded as PNG")
        target.write_bytes(data.tobytes())

    def _start(self, key: str, folder: Path, form: ConvertForm, number: int) -> None:
        out = folder / "out"
        shutil.rmtree(out, ignore_errors=True)
        (folder / "error.txt").unlink(missing_ok=True)
        # one PNG at the input's size, whatever output the convert itself will write
        options = {**form.options, "writer": "opencv", "writer_format": "png", "output_scale": 100}
        config = folder / "convert.toml"
        config.write_text(convert_toml(options), encoding="utf-8")
        argv = [
            sys.executable,
            "-m",
            "fs_core",
            "convert",
            "-i",
            str(form.source.input),
            "-o",
            str(out),
            "-m",
            str(form.model_dir),
            "-p",
            str(form.source.alignments),
            "-R",
            f"{number}-{number}",
            "-C",
            str(config),
        ]
        with open(folder / "log.txt", "wb") as log:
            process = start_detached(argv, self.root, log)
        with self._lock:
            self._running[key] = process
        threading.Thread(
            target=self._finish, args=(key, folder, process), name=f"preview-{key}", daemon=True
        ).start()

    def _finish(self, key: str, folder: Path, process: subprocess.Popen) -> None:
        code = process.wait()
        out = folder / "out"
        images = sorted(p for p in out.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        try:
            if code == 0 and len(images) == 1:
                os.replace(images[0], folder / "after.png")
            else:
                line = error_line(folder) if code else "fs convert wrote no frame"
                (folder / "error.txt").write_text(line, encoding="utf-8")
        finally:
            shutil.rmtree(out, ignore_errors=True)
            with self._lock:
                self._running.pop(key, None)

    def image(self, key: str, which: str) -> Path:
        if which not in ("before", "after"):
            raise FsUserError(f"not a preview image: {which!r}")
        path = self.folder(key) / f"{which}.png"
        if not path.is_file():
            raise FileNotFoundError(which)
        return path
