"""Synthetic demo face sets, so a new user can train at once (``fs demo-data OUT_DIR``).

Each face is *drawn* into a synthetic frame from 68 landmarks (jaw, brows, nose, eyes, lips), then
extracted exactly the way faceswap extracts a face: an aligned, head-centred S x S crop made with
:mod:`fs_core.faces.alignment`, written as a PNG with a faceswap-style header (frame landmarks, a
stored ``custom_face`` mask, a ``source`` section). So the landmarks agree with the pixels, and the
demo exercises the same path as real faceswap faces.

The two identities differ in face shape (A round, B long with a square jaw), skin, hair, eye and
mouth shape and brows; every image varies in 3-D pose, expression, lighting, scale, position and
background, so a model has something to learn.

The first A faces (up to :data:`CLIP_FRAMES`, in :func:`clip_face_order`) are cut from a short
clip that is written too: ``clip/`` holds its frames (``clip_000001.png``, ...; one A face turning
its head in front of a fixed background) and ``clip/alignments.fsa``, the frames' landmarks and
stored masks in faceswap's current alignments format (version 2.4). Those faces are exactly the
crops :func:`fs_core.faces.alignment.extract_face` cuts from the written frames at the stored
landmarks (the light and noise are in the frames), so the clip is what ``fs convert`` swaps back
into.

Re-running: a folder this module wrote carries a ``.fs-demo-data`` marker file. An existing
non-empty ``A``/``B``/``clip`` folder is only overwritten when it has the marker and holds nothing
but demo files; otherwise :class:`~fs_core.errors.FsUserError` is raised and nothing is touched.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import cv2
import numpy as np

from fs_core.atomic import atomic_write_bytes
from fs_core.errors import FsUserError
from fs_core.faces import alignment as al
from fs_core.faces.alignments_file import mask_entry, write_alignments
from fs_core.faces.header import face_header, fsa_face, landmark_box
from fs_core.faces.pngmeta import encode_faceswap_png

MARKER = ".fs-demo-data"
MASK_NAME = "custom_face"
MASK_SIZE = 128
_NAME_RE = re.compile(r"^demo_[ab]_\d+_0\.png$")
CLIP_FOLDER = "clip"
CLIP_FRAMES = 24
ALIGNMENTS_NAME = "alignments.fsa"
_CLIP_NAME_RE = re.compile(r"^(clip_\d{6}\.png|alignments\.fsa)$")
_SHIFT = 4  # sub-pixel bits for cv2 drawing
_ONE = 1 << _SHIFT

# A neutral 68-point face in unit aligned space: points 17-67 are the mean face; the jaw (0-16) is
# placed to agree with the 3-D mean face used for pose, so solvePnP sees a plausible head.
_JAW_HALF = np.array(
    [
        (0.0, 0.26),
        (0.005, 0.40),
        (0.02, 0.54),
        (0.05, 0.68),
        (0.09, 0.81),
        (0.15, 0.92),
        (0.23, 1.01),
        (0.37, 1.085),
        (0.5, 1.11),
    ]
)
_JAW = np.concatenate([_JAW_HALF, np.stack([1.0 - _JAW_HALF[7::-1, 0], _JAW_HALF[7::-1, 1]], 1)])
_NEUTRAL = np.concatenate([_JAW, al.MEAN_FACE_2D])
# depth (towards the camera, unit face widths) of each landmark, for 3-D pose variation
_DEPTH = np.concatenate(
    [
        [
            -0.35,
            -0.35,
            -0.34,
            -0.32,
            -0.28,
            -0.22,
            -0.14,
            -0.02,
            0.0,
            -0.02,
            -0.14,
            -0.22,
            -0.28,
            -0.32,
            -0.34,
            -0.35,
            -0.35,
        ],
        [-0.05, 0.0, 0.03, 0.04, 0.04, 0.04, 0.04, 0.03, 0.0, -0.05],  # brows 17-26
        [0.05, 0.10, 0.15, 0.20, 0.08, 0.12, 0.19, 0.12, 0.08],  # nose 27-35
        [-0.03, 0.0, 0.0, 0.03, 0.0, 0.0, 0.03, 0.0, 0.0, -0.03, 0.0, 0.0],  # eyes 36-47
        [0.03, 0.08, 0.11, 0.12, 0.11, 0.08, 0.03, 0.08, 0.11, 0.12, 0.11, 0.08],  # outer lips
        [0.04, 0.10, 0.11, 0.10, 0.04, 0.10, 0.11, 0.10],  # inner lips
    ]
)

IDENTITIES = {
    "a": dict(
        jaw_w=1.02,
        jaw_h=0.93,
        square=0.0,
        forehead=0.44,
        skin=(150, 182, 228),
        hair=(45, 80, 135),
        hair_long=True,
        iris=(150, 95, 35),
        eye_w=1.15,
        eye_h=1.35,
        mouth_w=1.12,
        lip_t=0.7,
        lips=(105, 100, 205),
        brow=(60, 95, 140),
        brow_t=0.022,
        nose_w=0.9,
    ),
    "b": dict(
        jaw_w=0.90,
        jaw_h=1.12,
        square=1.0,
        forehead=0.36,
        skin=(75, 105, 150),
        hair=(22, 20, 24),
        hair_long=False,
        iris=(35, 60, 45),
        eye_w=0.92,
        eye_h=0.62,
        mouth_w=0.86,
        lip_t=1.35,
        lips=(70, 70, 130),
        brow=(18, 18, 22),
        brow_t=0.045,
        nose_w=1.2,
    ),
}


def _scale_about(points: np.ndarray, idx: slice | np.ndarray, sx: float, sy: float) -> None:
    centre = points[idx].mean(axis=0)
    points[idx] = centre + (points[idx] - centre) * (sx, sy)


def _face_points(
    ident: dict, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Unit-space points of one face of ``ident`` with a random expression: the 68 landmarks, then
    the forehead arc, the hair outline and the neck; their depths; and (forehead, hair) counts."""
    pts = _NEUTRAL.copy()
    # jaw shape: width, length, squareness
    jaw = pts[:17]
    jaw[:, 0] = 0.5 + (jaw[:, 0] - 0.5) * ident["jaw_w"]
    jaw[:, 1] = 0.26 + (jaw[:, 1] - 0.26) * ident["jaw_h"]
    if ident["square"]:
        push = (
            np.array(
                [0, 0, 0, 0.01, 0.035, 0.05, 0.045, 0.0, 0, 0.0, 0.045, 0.05, 0.035, 0.01, 0, 0, 0]
            )
            * ident["square"]
        )
        jaw[:, 0] += np.sign(jaw[:, 0] - 0.5) * push
        jaw[[7, 9], 1] = jaw[8, 1] - 0.01
    # eyes: identity size, random openness
    openness = rng.uniform(0.45, 1.15)
    for eye in (slice(36, 42), slice(42, 48)):
        _scale_about(pts, eye, ident["eye_w"], ident["eye_h"] * openness)
    _scale_about(pts, slice(31, 36), ident["nose_w"], 1.0)
    # mouth: width, lip thickness, then smile and opening
    _scale_about(pts, slice(48, 68), ident["mouth_w"], 1.0)
    line = pts[60:68, 1].mean()
    pts[48:60, 1] = line + (pts[48:60, 1] - line) * ident["lip_t"]
    smile = rng.uniform(-0.015, 0.035)
    for corner, sign in ((48, -1), (60, -1), (54, 1), (64, 1)):
        pts[corner] += (sign * smile * 0.4, -smile)
    opening = 0.13 * rng.uniform(0.0, 1.0) ** 2
    pts[[65, 66, 67], 1] += opening
    pts[55:60, 1] += opening
    pts[[61, 62, 63], 1] -= opening * 0.15
    pts[17:27, 1] -= rng.uniform(-0.02, 0.04)  # brows
    # outline beyond the landmarks: forehead arc (16 -> 0 over the top) and hair
    angles = np.linspace(0.0, np.pi, 11)[1:-1]
    half_w = (pts[16, 0] - pts[0, 0]) / 2
    forehead = np.stack(
        [0.5 + half_w * np.cos(angles), pts[0, 1] - ident["forehead"] * np.sin(angles) - 0.05], 1
    )
    hair = 0.5 + (np.concatenate([forehead, pts[[0, 16]]]) - 0.5) * (1.16, 1.12) - (0, 0.04)
    if ident["hair_long"]:
        hair = np.concatenate(
            [hair, [(pts[0, 0] - 0.17, pts[6, 1] + 0.1), (pts[16, 0] + 0.17, pts[10, 1] + 0.1)]]
        )
    neck = np.array(
        [pts[5] + (0.05, 0), pts[11] - (0.05, 0), pts[11] + (-0.02, 0.7), pts[5] + (0.02, 0.7)]
    )
    extra = np.concatenate([forehead, hair, neck])
    depth = np.concatenate(
        [_DEPTH, -0.35 + 0.3 * np.sin(angles), np.full(len(hair), -0.6), np.full(4, -0.5)]
    )
    return np.concatenate([pts, extra]), depth, (len(forehead), len(hair))


def _project(
    points: np.ndarray,
    depth: np.ndarray,
    yaw: float,
    pitch: float,
    roll: float,
    scale: float,
    centre: np.ndarray,
) -> np.ndarray:
    """Rotate unit-space points (with depth) in 3-D and project them orthographically to pixels."""
    xyz = np.column_stack([points[:, 0] - 0.5, points[:, 1] - 0.5, -depth])
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    rot_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rot_x = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rot_z = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    moved = xyz @ (rot_z @ rot_x @ rot_y).T
    return centre + moved[:, :2] * scale


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(points) * _ONE).astype(np.int32)


def _poly(img: np.ndarray, points: np.ndarray, colour) -> None:
    cv2.fillPoly(img, [_fixed(points)], colour, lineType=cv2.LINE_AA, shift=_SHIFT)


def _line(img: np.ndarray, points: np.ndarray, colour, thickness: float, closed=False) -> None:
    cv2.polylines(
        img,
        [_fixed(points)],
        closed,
        colour,
        max(1, int(round(thickness))),
        lineType=cv2.LINE_AA,
        shift=_SHIFT,
    )


def _jitter(colour, rng: np.random.Generator, amount: float) -> tuple:
    return tuple(min(255.0, max(0.0, c * rng.uniform(1 - amount, 1 + amount))) for c in colour)


def _draw_eye(img: np.ndarray, eye: np.ndarray, iris_colour, unit: float) -> None:
    """Sclera, iris and pupil clipped to the six-point eye outline ``eye``, then the lid line."""
    x0, y0 = np.floor(eye.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(eye.max(axis=0)).astype(int) + 3
    height, width = img.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    roi = img[y0:y1, x0:x1]
    local = eye - (x0, y0)
    inside = np.zeros(roi.shape[:2], np.uint8)
    _poly(inside, local, 255)
    drawn = np.empty_like(roi)
    drawn[:] = (225, 232, 238)
    centre = local[[1, 2, 4, 5]].mean(axis=0)
    eye_w = np.linalg.norm(local[3] - local[0])
    radius = max(0.23 * float(eye_w), 1.0)
    cv2.circle(
        drawn, tuple(_fixed(centre)), int(radius * _ONE), iris_colour, -1, cv2.LINE_AA, _SHIFT
    )
    cv2.circle(
        drawn,
        tuple(_fixed(centre)),
        int(radius * 0.45 * _ONE),
        (12, 10, 10),
        -1,
        cv2.LINE_AA,
        _SHIFT,
    )
    alpha = inside[..., None].astype(np.float32) / 255.0
    roi[:] = (drawn * alpha + roi * (1.0 - alpha)).astype(np.uint8)
    _line(img, eye, (30, 28, 35), max(1.0, unit * 0.012), closed=True)


def _outline(pts: np.ndarray, forehead: np.ndarray) -> np.ndarray:
    """The skin silhouette: jaw and forehead arc, widened where a turned head's brows or cheeks
    would poke out of it (the convex hull of the jaw, brows and forehead)."""
    hull = cv2.convexHull(np.concatenate([pts[:27], forehead]).astype(np.float32)).reshape(-1, 2)
    return hull.astype(np.float64)


def _draw_face(
    frame: np.ndarray,
    pts: np.ndarray,
    counts: tuple[int, int],
    ident: dict,
    rng: np.random.Generator,
    unit: float,
) -> np.ndarray:
    """Draw one face into ``frame``; return its outline polygon (for the stored mask)."""
    n_fore, n_hair = counts
    forehead = pts[68 : 68 + n_fore]
    hair = pts[68 + n_fore : 68 + n_fore + n_hair]
    neck = pts[68 + n_fore + n_hair :]
    skin = _jitter(ident["skin"], rng, 0.06)
    _poly(
        frame,
        cv2.convexHull(hair.astype(np.float32)).reshape(-1, 2),
        _jitter(ident["hair"], rng, 0.1),
    )
    _poly(frame, neck, tuple(c * 0.8 for c in skin))
    outline = _outline(pts, forehead)
    _poly(frame, outline, skin)
    # a fringe of hair over the top of the forehead
    top = forehead[len(forehead) // 4 : len(forehead) - len(forehead) // 4]
    _line(frame, top, _jitter(ident["hair"], rng, 0.1), unit * 0.06)
    shade = tuple(c * 0.78 for c in skin)
    _line(frame, pts[27:31], shade, unit * 0.02)
    _line(frame, pts[31:36], tuple(c * 0.55 for c in skin), unit * 0.018)
    brow = _jitter(ident["brow"], rng, 0.1)
    _line(frame, pts[17:22], brow, unit * ident["brow_t"])
    _line(frame, pts[22:27], brow, unit * ident["brow_t"])
    iris = _jitter(ident["iris"], rng, 0.1)
    for eye in (slice(36, 42), slice(42, 48)):
        _draw_eye(frame, pts[eye], iris, unit)
    _poly(frame, pts[48:60], _jitter(ident["lips"], rng, 0.08))
    _poly(frame, pts[60:68], (45, 35, 70))
    _line(frame, pts[60:68], (50, 40, 80), max(1.0, unit * 0.008), closed=True)
    return outline


def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    """A random two-colour gradient with a few shapes, like a blurred room behind the subject."""
    c1, c2 = rng.uniform(30, 230, 3), rng.uniform(30, 230, 3)
    line = (c1 + (c2 - c1) * np.linspace(0.0, 1.0, size)[:, None]).astype(np.uint8)
    vertical = rng.random() < 0.5
    frame = np.ascontiguousarray(
        np.broadcast_to(line[:, None] if vertical else line[None, :], (size, size, 3))
    )
    for _ in range(rng.integers(2, 5)):
        colour = tuple(float(v) for v in rng.uniform(20, 240, 3))
        x, y = rng.uniform(0, size, 2)
        extent = rng.uniform(0.05, 0.3) * size
        if rng.random() < 0.5:
            cv2.circle(frame, (int(x), int(y)), int(extent), colour, -1, cv2.LINE_AA)
        else:
            cv2.rectangle(
                frame, (int(x), int(y)), (int(x + extent), int(y + extent * 1.5)), colour, -1
            )
    return frame


def _gain(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A random directional light and brightness: a linear gain ramp over the image."""
    angle = rng.uniform(0, 2 * np.pi)
    strength = rng.uniform(0.1, 0.5)
    coords_x = np.arange(width, dtype=np.float32) / width - 0.5
    coords_y = np.arange(height, dtype=np.float32) / height - 0.5
    return np.float32(rng.uniform(0.8, 1.15)) + np.float32(strength) * (
        np.float32(np.cos(angle)) * coords_x[None, :]
        + np.float32(np.sin(angle)) * coords_y[:, None]
    )


def _light_and_noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Directional light and overall brightness (a linear gain ramp), then sensor noise.

    Applied to the extracted crop rather than the larger frame: a linear ramp stays linear under
    the similarity warp, and it is several times cheaper.
    """
    out = image * _gain(image.shape[0], image.shape[1], rng)[..., None]
    out += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(3.0)
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)


def _stored_mask(
    outline: np.ndarray, landmarks: np.ndarray, offsets: dict, legacy: np.ndarray
) -> dict:
    """The face-outline mask in face-centred 128 px space, as faceswap's mask entry: compressed,
    with its matrix and the interpolator faceswap picks from that matrix's scale."""
    matrix = al.aligned_matrix(landmarks, MASK_SIZE, "face", 1.0, offsets, legacy)
    mask = np.zeros((MASK_SIZE, MASK_SIZE), np.uint8)
    _poly(mask, al.transform_points(outline, matrix), 255)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    interpolator = int(cv2.INTER_LINEAR if scale < 1 else cv2.INTER_AREA)
    return mask_entry(mask, matrix, "face", interpolator)


def make_demo_face(
    side: str, index: int, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, dict]:
    """One demo face of identity ``side`` ("a" or "b"): the aligned crop and its faceswap header."""
    ident = IDENTITIES[side]
    frame_size = int(round(size * 1.6))
    points, depth, counts = _face_points(ident, rng)
    unit = 0.375 * size * rng.uniform(0.85, 1.2)
    centre = frame_size * (0.5 + rng.uniform(-0.06, 0.06, 2))
    projected = _project(
        points,
        depth,
        rng.uniform(-0.4, 0.4),
        rng.uniform(-0.2, 0.2),
        rng.uniform(-0.25, 0.25),
        unit,
        centre,
    )
    frame = _background(frame_size, rng)
    outline = _draw_face(frame, projected, counts, ident, rng, unit)
    # the header's landmarks are what faceswap would store; extract with exactly those
    landmarks = np.round(projected[:68], 3).astype(np.float32).astype(np.float64)
    face, metadata = _extract(
        frame, landmarks, outline, size, side, index, f"demo_{side}_{index:04d}.png"
    )
    return _light_and_noise(face, rng), metadata


def _extract(
    frame: np.ndarray,
    landmarks: np.ndarray,
    outline: np.ndarray,
    size: int,
    side: str,
    index: int,
    source_name: str,
) -> tuple[np.ndarray, dict]:
    """Cut the head-centred ``size`` px face at ``landmarks`` from ``frame`` as faceswap extracts
    it (the crop :func:`fs_core.faces.alignment.extract_face` makes) and build its PNG header,
    with the face ``outline`` stored as the ``custom_face`` mask."""
    legacy = al.legacy_matrix(landmarks)
    offsets = al.centering_offsets(landmarks, legacy)
    matrix = al.aligned_matrix(landmarks, size, "head", 1.0, offsets, legacy)
    face = cv2.warpAffine(
        frame,
        matrix,
        (size, size),
        flags=al.warp_interpolation(matrix),
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    mask = _stored_mask(outline, landmarks, offsets, legacy)
    metadata = face_header(
        landmarks,
        landmark_box(landmarks),
        {MASK_NAME: mask},
        source_name,
        0,
        (int(frame.shape[0]), int(frame.shape[1])),
        False,
    )
    # a demo face is named after its identity and index, not after the frame it was drawn in
    metadata["source"]["original_filename"] = f"demo_{side}_{index:04d}_0.png"
    return face, metadata


def clip_frame_name(index: int) -> str:
    """The demo clip's frame ``index`` (0-based), named as a frame extracted from a video."""
    return f"clip_{index + 1:06d}.png"


def clip_frame_size(size: int) -> tuple[int, int]:
    """(width, height) of the clip's frames for faces of ``size`` px: 4:3, with room for the
    whole head crop (480x360 for 256 px faces)."""
    return int(round(size * 1.875)), int(round(size * 1.40625))


def _clip_frames(size: int, frames: int, seed: int):
    """Render the demo clip one frame at a time: identity A turning its head from one side to
    the other, moving across the frame and changing expression, in front of a fixed background
    under a fixed light (sensor noise differs per frame). Yields (frame uint8 BGR, landmarks
    (68, 2) as stored, face outline)."""
    ident = IDENTITIES["a"]
    rng = np.random.default_rng([seed, ord("c")])
    width, height = clip_frame_size(size)
    backdrop = _background(max(width, height), rng)[:height, :width]
    start, depth, counts = _face_points(ident, rng)
    end, _, _ = _face_points(ident, rng)
    light = _gain(height, width, rng)[..., None]
    colours = int(rng.integers(2**31))
    unit = 0.375 * size
    for index in range(frames):
        t = index / max(frames - 1, 1)
        ease = 0.5 - 0.5 * np.cos(np.pi * t)
        centre = np.array(
            [width * (0.4 + 0.2 * ease), height * (0.5 + 0.03 * np.sin(2 * np.pi * t))]
        )
        projected = _project(
            start + (end - start) * ease,
            depth,
            -0.4 + 0.8 * ease,
            0.1 * np.sin(2 * np.pi * t),
            0.12 * np.sin(np.pi * t) - 0.06,
            unit,
            centre,
        )
        frame = backdrop.copy()
        # the same colour jitter in every frame: one person under one light
        outline = _draw_face(frame, projected, counts, ident, np.random.default_rng(colours), unit)
        lit = frame * light
        lit += rng.standard_normal(frame.shape, dtype=np.float32) * np.float32(3.0)
        np.clip(lit, 0, 255, out=lit)
        landmarks = np.round(projected[:68], 3).astype(np.float32).astype(np.float64)
        yield lit.astype(np.uint8), landmarks, outline


def clip_face_order(frames: int) -> list[int]:
    """The clip frame each of the first ``frames`` A faces is cut from: a stride of about a
    third of the clip through it, so that a small demo set (or any two neighbouring faces) shows
    the head in different poses rather than neighbouring, nearly equal frames."""
    stride = max(1, frames // 3)
    while math.gcd(stride, frames) != 1:
        stride += 1
    return [(index * stride) % frames for index in range(frames)]


def _write_clip(
    folder: Path, size: int, frames: int, seed: int, count: int
) -> list[tuple[np.ndarray, dict]]:
    """Write the clip's frames and ``alignments.fsa`` to ``folder``; return the first ``count``
    A faces (crop and header) cut from them, in :func:`clip_face_order`."""
    face_of_frame = {frame: face for face, frame in enumerate(clip_face_order(frames))}
    faces: dict[int, tuple[np.ndarray, dict]] = {}
    entries = {}
    for index, (frame, landmarks, outline) in enumerate(_clip_frames(size, frames, seed)):
        name = clip_frame_name(index)
        ok, png = cv2.imencode(".png", frame)
        if not ok:
            raise RuntimeError("OpenCV could not encode a demo frame")
        atomic_write_bytes(folder / name, png.tobytes())
        face_index = face_of_frame[index]
        face, metadata = _extract(frame, landmarks, outline, size, "a", face_index, name)
        entries[name] = {"faces": [fsa_face(metadata, face)], "video_meta": {}}
        if face_index < count:
            faces[face_index] = (face, metadata)
    write_alignments(folder / ALIGNMENTS_NAME, entries)
    return [faces[index] for index in sorted(faces)]


def _check_folder(folder: Path, names: re.Pattern = _NAME_RE) -> None:
    """Refuse an output folder that exists and holds anything but files this module wrote
    (``names``)."""
    if folder.exists() and not folder.is_dir():
        raise FsUserError("exists and is not a folder; choose another output folder", folder)
    if not folder.is_dir():
        return
    entries = list(folder.iterdir())
    others = [p for p in entries if p.name != MARKER and not names.match(p.name)]
    if entries and (others or not (folder / MARKER).is_file()):
        example = (others or entries)[0].name
        raise FsUserError(
            f"the folder holds files 'fs demo-data' did not write (e.g. {example}); "
            "refusing to mix demo faces with them: choose an empty or new output "
            "folder",
            folder,
        )


def _prepare_folder(folder: Path, names: re.Pattern = _NAME_RE) -> None:
    """Create ``folder`` (or clear the files of an earlier run) and mark it as ours."""
    try:
        if folder.is_dir():
            for path in folder.iterdir():
                if names.match(path.name):
                    path.unlink()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MARKER).write_text("Written by 'fs demo-data'; it may overwrite this folder.\n")
    except OSError as err:
        raise FsUserError(f"cannot write the folder: {err.strerror or err}", folder) from err


def write_demo_data(
    out_dir: str | os.PathLike,
    count: int = 200,
    size: int = 256,
    seed: int = 0,
    clip_frames: int = CLIP_FRAMES,
) -> tuple[Path, Path]:
    """Write ``count`` synthetic faces per identity to ``out_dir/A`` and ``out_dir/B``, and the
    ``clip_frames``-frame clip the first A faces are cut from to ``out_dir/clip`` (0: no clip).

    Faces are ``size`` px faceswap-style PNGs (head centering, coverage 1.0) with frame landmarks
    and a stored ``custom_face`` mask. Same ``seed``, same faces (whatever ``count``). Returns the
    two face folders.
    """
    if count < 1:
        raise FsUserError(f"count must be at least 1, got {count}")
    if size < 32:
        raise FsUserError(f"size must be at least 32 px, got {size}")
    if clip_frames < 0:
        raise FsUserError(f"clip_frames must be 0 or more, got {clip_frames}")
    root = Path(out_dir)
    folders = (root / "A", root / "B")
    clip = root / CLIP_FOLDER
    for folder in folders:  # check all before touching any
        _check_folder(folder)
    if clip_frames:
        _check_folder(clip, _CLIP_NAME_RE)
        _prepare_folder(clip, _CLIP_NAME_RE)
        clip_faces = _write_clip(clip, size, clip_frames, seed, count)
    else:
        clip_faces = []
    for folder, side in zip(folders, ("a", "b")):
        _prepare_folder(folder)
        rng = np.random.default_rng([seed, ord(side)])
        for index in range(count):
            if side == "a" and index < len(clip_faces):
                face, metadata = clip_faces[index]
            else:
                face, metadata = make_demo_face(side, index, size, rng)
            data = encode_faceswap_png(face, metadata)
            # atomic and fsync'd: a kill or a full disk leaves no half face (nor a temp file)
            atomic_write_bytes(folder / metadata["source"]["original_filename"], data)
    return folders
