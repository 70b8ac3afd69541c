"""Swapping the faces of whole frames: crop, predict, mask, colour, warp back, composite.

:class:`FaceSwapper` is the per-frame work of ``fs convert``; the driver
(:mod:`fs_core.convert.run`) feeds it frames and their faces from the alignments file and writes
what comes back. The steps, for each face, are faceswap's convert (so a faceswap user's footage
comes out as they expect), each a small function below:

1. :func:`cut_face`: the face is cut from the frame with the model's own crop (centering, coverage,
   vertical offset stored in the model): at the model's input size to feed it, and at its output
   size as the reference the result is compared with and warped back from;
2. :meth:`FaceSwapper.predict`: every face of every frame given goes through one side of the model
   in batches of ``convert_batchsize``;
3. :func:`make_mask`: the learned mask, a mask stored in the alignments, one drawn from the
   landmarks (``extended``/``components``) or none; blended (a plugin), then eroded and limited to
   the edge box (:mod:`fs_core.convert.mask`);
4. the colour adjustment plugin, on the raw (blended, not eroded) mask;
5. :func:`warp_faces`: each face and its mask warped back into the frame region it came from and
   laid over the previous ones; the sharpening scaler on the result; :func:`composite` with the
   frame (the mask weighs twice there, alpha², as in faceswap, which is what its users' masks are
   tuned for); then the output scale.

Only the region around the faces is processed (a 1080p frame with one face costs a few hundred
pixels squared), except when a sharpening scaler is on: it takes the frame's width for its radius,
so then the whole frame is the region. Everything outside the faces' masks is bit-for-bit the input
frame.

One deliberate difference from faceswap: with a non-zero vertical offset faceswap crops the face
moved by the offset but warps it back without the padding term, landing it off by 2·pad·offset px;
fs warps back with the matrix it cropped with, so the face lands where it was taken.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import cv2
import numpy as np

from fs_core import backend
from fs_core.convert import mask as masks
from fs_core.convert.options import LANDMARK_MASKS, ConvertOptions
from fs_core.errors import FsUserError
from fs_core.faces import alignment as al
from fs_core.faces.alignments_file import FrameFace
from fs_core.faces.prepare import landmark_mask
from fs_core.inference.trained import load_trained

#: masks faceswap can stand in for with nothing stored
_NO_STORE_MASKS = ("extended", "components", "none")
#: pixels added around a face's warped square, for the interpolation's reach
_MARGIN = 3


@attrs.frozen
class CropSpec:
    """The model's crop: centering, coverage and vertical offset as fractions, and its sizes."""

    centering: str
    coverage: float
    y_offset: float
    input_size: int
    output_size: int


@attrs.frozen
class FaceCut:
    """One face cut from its frame.

    ``feed`` uint8 BGR (S_in, S_in, 3) for the model; ``reference`` float32 BGR 0-1 (S_out, S_out,
    3), the frame's own face for colour matching; ``matrix`` the 2x3 map from frame pixels into the
    S_out crop; ``landmarks`` the face's landmarks in that crop; ``offsets`` the centering offsets
    of the face's pose (for stored masks).
    """

    face: FrameFace
    feed: np.ndarray
    reference: np.ndarray
    matrix: np.ndarray
    landmarks: np.ndarray
    offsets: Mapping[str, np.ndarray]


@attrs.define
class FrameJob:
    """A frame on its way through: the frame, its face cuts, and (after prediction) the model's
    faces float32 BGR (S_out, S_out, 3) and learned masks (S_out, S_out) or None."""

    frame: np.ndarray
    cuts: list[FaceCut]
    faces: list[np.ndarray] = attrs.field(factory=list)
    learned: list[np.ndarray | None] = attrs.field(factory=list)


# --------------------------------------------------------------------------------------------
# cropping


def crop_matrix(
    legacy: np.ndarray, offsets: Mapping[str, np.ndarray], spec: CropSpec, size: int
) -> np.ndarray:
    """Frame pixels -> the model's ``size`` px crop: the legacy (mean-face) matrix moved by the
    centering's pose offset and the vertical offset, then scaled inside the coverage padding."""
    matrix = np.array(legacy, np.float64)[:2].copy()
    if spec.centering != "legacy":
        matrix[:, 2] -= offsets[spec.centering]
    matrix[1, 2] += spec.y_offset
    pad = al.padding(size, spec.centering, spec.coverage)
    matrix *= size - 2 * pad
    matrix[:, 2] += pad
    return matrix


def _warp_crop(frame: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    return cv2.warpAffine(
        frame,
        matrix,
        (size, size),
        flags=al.warp_interpolation(matrix),
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def cut_face(frame: np.ndarray, face: FrameFace, spec: CropSpec) -> FaceCut:
    """Cut ``face`` from ``frame`` at the model's input size (to feed it) and output size (the
    reference), the way the model's training faces were cut."""
    landmarks = np.asarray(face.landmarks, np.float64)
    legacy = al.legacy_matrix(landmarks)
    offsets = al.centering_offsets(landmarks, legacy)
    out_matrix = crop_matrix(legacy, offsets, spec, spec.output_size)
    reference = _warp_crop(frame, out_matrix, spec.output_size)
    if spec.input_size == spec.output_size:
        feed = reference
    else:
        feed = _warp_crop(
            frame, crop_matrix(legacy, offsets, spec, spec.input_size), spec.input_size
        )
    return FaceCut(
        face=face,
        feed=feed,
        reference=reference.astype(np.float32) / 255.0,
        matrix=out_matrix,
        landmarks=al.transform_points(landmarks, out_matrix).astype(np.float32),
        offsets=offsets,
    )


# --------------------------------------------------------------------------------------------
# masks


def _stored_mask(
    cut: FaceCut, name: str, spec: CropSpec, options: ConvertOptions, blend
) -> np.ndarray:
    """A stored mask at S_out: thresholded and blended at its stored size, cut to the model's
    centering and coverage (faceswap ignores the vertical offset here, and so does fs), resized."""
    stored = cut.face.masks[name]
    raw = masks.threshold_mask(stored.decode(), options.mask_threshold)
    blurred = np.clip(blend(raw[..., None].astype(np.float32) / 255.0, options), 0.0, 1.0)
    size = blurred.shape[0]
    left, top, crop = al.sub_crop_window(
        size, stored.stored_centering, spec.centering, cut.offsets, spec.coverage, 0.0
    )
    window = al.crop_window(blurred, left, top, crop)
    return np.clip(al.resize_square(window, spec.output_size), 0.0, 1.0).reshape(
        spec.output_size, spec.output_size, 1
    )


def raw_mask(
    cut: FaceCut,
    learned: np.ndarray | None,
    spec: CropSpec,
    options: ConvertOptions,
    blend: Callable[[np.ndarray, Any], np.ndarray],
) -> np.ndarray:
    """The blended mask (S_out, S_out, 1) float32 before erosion and the box: what colour matching
    uses. ``none`` is all ones."""
    size, kind = spec.output_size, options.mask_type
    if kind == "none":
        return np.ones((size, size, 1), np.float32)
    if kind == "predicted":
        assert learned is not None
        mask = al.resize_square(np.asarray(learned, np.float32)[..., None], size).reshape(
            size, size, 1
        )
        return blend(mask, options).astype(np.float32)
    if kind in LANDMARK_MASKS:
        drawn = landmark_mask(cut.landmarks, size, kind).astype(np.float32) / 255.0
        return blend(drawn[..., None], options).astype(np.float32)
    return _stored_mask(cut, kind, spec, options, blend)


def make_mask(
    cut: FaceCut,
    learned: np.ndarray | None,
    spec: CropSpec,
    options: ConvertOptions,
    blend: Callable[[np.ndarray, Any], np.ndarray],
    box: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(mask, raw mask): the raw mask eroded as the options say and limited to ``box``
    (:func:`fs_core.convert.mask.edge_box`); for ``none`` both are all ones (the whole square)."""
    raw = raw_mask(cut, learned, spec, options, blend)
    if options.mask_type == "none":
        return raw, raw
    eroded = masks.erode(raw, masks.erosion_amounts(options))
    return np.minimum(eroded, box), raw


# --------------------------------------------------------------------------------------------
# back into the frame


def face_scale_matrix(matrix: np.ndarray, size: int, percent: float) -> np.ndarray:
    """The warp-back matrix with the face enlarged (positive ``percent``) or shrunk about the
    crop's centre: M·s + (1 − s)·size/2, s = 1 − percent/100."""
    if not percent:
        return matrix
    scale = 1.0 - percent / 100.0
    out = np.asarray(matrix, np.float64) * scale
    out[:, 2] += (1.0 - scale) * size / 2.0
    return out


def back_interpolation(matrix: np.ndarray) -> int:
    """Warping back shrinks when the crop enlarged the face (linear), else enlarges (cubic)."""
    scale = float(np.sqrt(abs(np.linalg.det(np.asarray(matrix, np.float64)[:2, :2]))))
    return cv2.INTER_LINEAR if scale >= 1.0 else cv2.INTER_CUBIC


def patch_bounds(
    matrix: np.ndarray, size: int, frame_shape: Sequence[int]
) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): the frame rectangle a ``size`` px patch lands on, clipped to the frame."""
    full = np.vstack([np.asarray(matrix, np.float64)[:2], [0.0, 0.0, 1.0]])
    inverse = np.linalg.inv(full)[:2]
    corners = al.transform_points(np.array([[0, 0], [size, 0], [0, size], [size, size]]), inverse)
    height, width = int(frame_shape[0]), int(frame_shape[1])
    x0 = max(0, int(np.floor(corners[:, 0].min())) - _MARGIN)
    y0 = max(0, int(np.floor(corners[:, 1].min())) - _MARGIN)
    x1 = min(width, int(np.ceil(corners[:, 0].max())) + _MARGIN + 1)
    y1 = min(height, int(np.ceil(corners[:, 1].max())) + _MARGIN + 1)
    return x0, y0, max(x0, x1), max(y0, y1)


def union_bounds(bounds: Sequence[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    x0s, y0s, x1s, y1s = zip(*bounds)
    return min(x0s), min(y0s), max(x1s), max(y1s)


def _nonzero_box(weight: np.ndarray) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1): the rows and columns where ``weight`` (h, w, 1) is not 0; None when it
    is 0 everywhere. A face's warped mask covers well under its square's bounding box, and where
    the mask is 0 the blends below leave the frame as it is, so only this box is computed."""
    nonzero = weight[..., 0] != 0
    rows = np.flatnonzero(nonzero.any(axis=1))
    if not rows.size:
        return None
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    cols = np.flatnonzero(nonzero[y0:y1].any(axis=0))
    return y0, y1, int(cols[0]), int(cols[-1]) + 1


def warp_faces(
    region: np.ndarray,
    origin: tuple[int, int],
    patches: Sequence[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int] | None]:
    """Lay the faces over ``region`` (float32 BGR 0-1, the frame's pixels at ``origin`` (x, y)).

    ``patches`` holds (4-channel face+mask patch, frame->patch matrix). Each is warped back
    (inverse map, black border) and laid over the previous ones: RGB ← RGB·(1 − w) + f·w,
    alpha ← alpha + w·(1 − alpha). Returns (RGB, alpha (h, w, 1), box): box (y0, y1, x0, x1) of
    the region holds every pixel any w touched (None: none); outside it RGB is the region and
    alpha 0, exactly as the formulas give for w = 0, so they are computed inside it only, in
    place (the same float32 operations in the same order: the same bits, a fraction of the time).
    """
    height, width = region.shape[:2]
    rgb = region.copy()
    alpha = np.zeros((height, width), np.float32)
    shift = np.array(origin, np.float64)
    box: tuple[int, int, int, int] | None = None
    for patch, matrix in patches:
        local = np.asarray(matrix, np.float64)[:2].copy()
        local[:, 2] += local[:, :2] @ shift
        warped = cv2.warpAffine(
            patch,
            local,
            (width, height),
            flags=cv2.WARP_INVERSE_MAP | back_interpolation(matrix),
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        found = _nonzero_box(warped[..., 3:4])
        if found is None:
            continue
        y0, y1, x0, x1 = found
        inside = warped[y0:y1, x0:x1]
        weight = np.ascontiguousarray(inside[..., 3])
        # contiguous 3-channel copies: NumPy broadcasting an (h, w, 1) weight over 3 channels
        # runs an inner loop of 3 elements, several times slower than these copies
        face = cv2.cvtColor(inside, cv2.COLOR_BGRA2BGR)
        spread = _three(weight)
        part = rgb[y0:y1, x0:x1]
        part *= np.subtract(1.0, spread, dtype=np.float32)
        part += np.multiply(face, spread, out=face)
        cover = alpha[y0:y1, x0:x1]
        cover += np.multiply(weight, np.subtract(1.0, cover, dtype=np.float32))
        box = (
            found
            if box is None
            else (min(box[0], y0), max(box[1], y1), min(box[2], x0), max(box[3], x1))
        )
    return rgb, alpha[..., None], box


def _three(plane: np.ndarray) -> np.ndarray:
    """A (h, w) or (h, w, 1) float32 plane as a contiguous (h, w, 3) copy (exact)."""
    return cv2.cvtColor(np.ascontiguousarray(plane.reshape(plane.shape[:2])), cv2.COLOR_GRAY2BGR)


def composite(region: np.ndarray, rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """frame·(1 − alpha) + RGB·alpha, clipped, as uint8 (rint): faceswap's final blend. The same
    float32 operations as the formula, in place on contiguous arrays (alpha spread to 3
    channels once), without its temporaries."""
    spread = _three(alpha)
    out = np.multiply(region, np.subtract(1.0, spread, dtype=np.float32))
    out += np.multiply(rgb, spread, out=spread)
    np.clip(out, 0.0, 1.0, out=out)
    out *= 255.0
    return np.rint(out, out=out).astype(np.uint8)


def scale_output(frame: np.ndarray, percent: int) -> np.ndarray:
    """Resize by ``percent`` to an even size (round(W·s/2)·2): cubic to enlarge, area to shrink."""
    if percent == 100:
        return frame
    scale = percent / 100.0
    height, width = frame.shape[:2]
    size = (max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2))
    interpolation = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    resized = cv2.resize(frame.astype(np.float32) / 255.0, size, interpolation=interpolation)
    return np.rint(np.clip(resized, 0.0, 1.0) * 255.0).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# checks


def _mask_choices(face: FrameFace) -> str:
    stored = sorted(face.masks)
    return ", ".join([*stored, *_NO_STORE_MASKS])


def check_face(
    key: str, index: int, frame_shape: Sequence[int], face: FrameFace, mask_type: str
) -> None:
    """Refuse a face the frame cannot hold: landmarks that are not finite, or that lie outside
    the frame (a partly cut-off face at the edge is fine; the landmarks' centre must be inside and
    none may be further out than the face is large), and a missing stored mask."""
    height, width = int(frame_shape[0]), int(frame_shape[1])
    points = np.asarray(face.landmarks, np.float64)
    where = f"frame {key}, face {index}"
    if not np.all(np.isfinite(points)):
        raise FsUserError(
            f"{where}: its landmarks are not finite numbers; the alignments file is damaged"
        )
    low, high = points.min(axis=0), points.max(axis=0)
    reach = float(max(high - low))
    centre = points.mean(axis=0)
    inside = 0 <= centre[0] < width and 0 <= centre[1] < height
    near = (
        low[0] >= -reach
        and low[1] >= -reach
        and high[0] < width + reach
        and high[1] < height + reach
    )
    if not (inside and near):
        raise FsUserError(
            f"{where}: its landmarks (x {low[0]:.0f}..{high[0]:.0f}, y {low[1]:.0f}..{high[1]:.0f})"
            f" fall outside the {width}x{height} frame; the alignments file does not match these"
            " frames"
        )
    if mask_type not in ("none", "predicted", *LANDMARK_MASKS) and mask_type not in face.masks:
        raise FsUserError(
            f"{where} has no stored mask '{mask_type}'; choose -M from: {_mask_choices(face)}"
        )
    if mask_type in LANDMARK_MASKS and len(points) not in al.FEATURE_COUNTS:
        raise FsUserError(f"{where}: {_roi_only_message(mask_type, face)}")


def _roi_only_message(mask_type: str, face: FrameFace) -> str:
    stored = ", ".join([*sorted(face.masks), "predicted", "none"])
    return (
        f"it has 4-point landmarks (only a region of interest), from which no '{mask_type}' mask "
        f"can be drawn (faceswap cannot either); choose -M from: {stored}"
    )


def check_landmark_masks(
    faces: Mapping[str, Sequence[FrameFace]], mask_type: str, path: Path
) -> None:
    """Refuse, before anything is written, a landmark-drawn ``mask_type`` (``components``,
    ``extended``) when a face of the alignments file at ``path`` has only 4-point landmarks."""
    if mask_type not in LANDMARK_MASKS:
        return
    for key, frame_faces in faces.items():
        for index, face in enumerate(frame_faces):
            if len(face.landmarks) not in al.FEATURE_COUNTS:
                message = _roi_only_message(mask_type, face)
                raise FsUserError(f"frame {key}, face {index}: {message}", path)


# --------------------------------------------------------------------------------------------
# the swapper


def _registered(table: Mapping[str, Any], name: str, what: str, option: str) -> Any:
    if name not in table:
        names = ", ".join(sorted(table)) or "none installed"
        raise FsUserError(f"unknown {what} '{name}' ({option}; installed: {names})")
    return table[name]


def _bucket(count: int, batch: int) -> int:
    """The batch to run ``count`` faces in: the next power of two, at most ``batch``, so the model
    is traced for a handful of shapes, not one per remainder."""
    size = 1
    while size < count:
        size *= 2
    return min(size, batch)


class FaceSwapper:
    """Swaps every face of the frames it is given, with one trained model and one set of options.

    Build it with :meth:`from_model_dir`. :meth:`swap_frames` does all the work for a group of
    frames (batching the model across them); a driver that overlaps the model with CPU work can
    call its parts itself: :meth:`prepare` (cut faces, CPU), :meth:`predict` (the model, in
    batches), :meth:`patch` (mask, colour, warp, composite: CPU, per frame, thread-safe).
    """

    def __init__(
        self,
        predict_fn: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]],
        spec: CropSpec,
        options: ConvertOptions,
        registry: Any,
        batch_size: int,
        learn_mask: bool,
        color_order: str = "bgr",
        where: str | Path | None = None,
    ) -> None:
        self.spec = spec
        self.options = options
        self.batch_size = max(1, int(batch_size))
        self.learn_mask = learn_mask
        self.color_order = color_order
        self._predict_fn = predict_fn
        self.color = _registered(
            registry.convert_colors, options.color_adjustment, "colour adjustment", "-c"
        )
        self.blend = _registered(
            registry.convert_mask_blends, options.mask_blend_type, "mask blend", "mask_blend_type"
        )
        self.scaler = None
        if options.sharpen != "none":
            self.scaler = _registered(
                registry.convert_scalers, options.sharpen, "sharpening scaler", "sharpen"
            )
        if options.mask_type == "predicted" and not learn_mask:
            raise FsUserError(
                "-M predicted needs a model trained with learn_mask; this one was not: choose "
                "extended, components, none or a mask stored in the alignments file",
                where,
            )
        self.box = masks.edge_box(spec.output_size, options.mask_blend_type != "none")

    # ---- building

    @classmethod
    def from_model_dir(
        cls,
        model_dir: str | Path,
        options: ConvertOptions,
        registry: Any,
        *,
        config_path: str | None = None,
        batch_size: int | None = None,
        notify: Callable[[str], None] = print,
    ) -> FaceSwapper:
        """Load the model as ``fs swap`` does and take its crop from its stored options.

        The direction is A to B (decoder B) unless ``options.swap_model``. ``batch_size``
        (``-b``) overrides ``convert_batchsize`` (from ``config_path``, else the model's last
        session).
        """
        trained = load_trained(model_dir, registry, config_path, notify)
        built, config = trained.built, trained.config
        spec = CropSpec(
            centering=config.global_.centering,
            coverage=config.global_.coverage / 100.0,
            y_offset=config.global_.vertical_offset / 100.0,
            input_size=int(built.input_size),
            output_size=int(max(built.output_sizes)),
        )
        side = "a" if options.swap_model else "b"
        return cls(
            predict_fn=side_predictor(built, side),
            spec=spec,
            options=options,
            registry=registry,
            batch_size=batch_size or trained.batch_size,
            learn_mask=bool(built.learn_mask),
            color_order=built.descriptor.color_order,
            where=Path(model_dir),
        )

    # ---- the steps

    def check_faces(self, key: str, frame_shape: Sequence[int], faces: Sequence[FrameFace]) -> None:
        """FsUserError naming frame ``key`` for a face outside the frame or without the stored mask
        ``mask_type`` asks for."""
        for index, face in enumerate(faces):
            check_face(key, index, frame_shape, face, self.options.mask_type)

    def prepare(self, frame: np.ndarray, faces: Sequence[FrameFace]) -> FrameJob:
        """Cut every face of ``frame`` (uint8 BGR)."""
        return FrameJob(frame=frame, cuts=[cut_face(frame, face, self.spec) for face in faces])

    def predict(self, jobs: Sequence[FrameJob]) -> None:
        """Run every face of ``jobs`` through the model, ``batch_size`` at a time across frames,
        filling each job's ``faces`` and ``learned``."""
        feeds = [cut.feed for job in jobs for cut in job.cuts]
        outputs: list[np.ndarray] = []
        learned: list[np.ndarray | None] = []
        for start in range(0, len(feeds), self.batch_size):
            chunk = np.stack(feeds[start : start + self.batch_size])
            faces, mask = self._run(chunk)
            outputs.extend(faces)
            learned.extend(mask if mask is not None else [None] * len(faces))
        position = 0
        for job in jobs:
            count = len(job.cuts)
            job.faces = outputs[position : position + count]
            job.learned = learned[position : position + count]
            position += count

    def _run(self, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """One batch: uint8 BGR faces -> float32 BGR faces at S_out and masks (or None)."""
        count = len(chunk)
        size = _bucket(count, self.batch_size)
        data = chunk[..., ::-1] if self.color_order == "rgb" else chunk
        data = np.multiply(data, np.float32(1.0 / 255.0), dtype=np.float32)
        if size > count:
            data = np.concatenate([data, np.zeros((size - count,) + data.shape[1:], np.float32)])
        faces, mask = self._predict_fn(data)
        faces = np.asarray(faces, np.float32)[:count]
        if self.color_order == "rgb":
            faces = faces[..., ::-1]
        faces = np.stack([_to_size(face, self.spec.output_size) for face in faces])
        return faces, (np.asarray(mask, np.float32)[:count] if mask is not None else None)

    def patch(self, job: FrameJob) -> np.ndarray:
        """The frame with its predicted faces put in: uint8 BGR, output-scaled."""
        frame = job.frame
        if not job.cuts:
            return scale_output(frame, self.options.output_scale)
        size = self.spec.output_size
        patches, bounds = [], []
        for cut, new_face, learned in zip(job.cuts, job.faces, job.learned):
            patch = self.adjusted_face(cut, new_face, learned)
            matrix = face_scale_matrix(cut.matrix, size, self.options.face_scale)
            patches.append((patch, matrix))
            bounds.append(patch_bounds(matrix, size, frame.shape))
        if self.scaler is not None:
            x0, y0, x1, y1 = 0, 0, frame.shape[1], frame.shape[0]
        else:
            x0, y0, x1, y1 = union_bounds(bounds)
        out = frame.copy()
        if x1 > x0 and y1 > y0:
            region = np.divide(frame[y0:y1, x0:x1], 255.0, dtype=np.float32)
            rgb, alpha, box = warp_faces(region, (x0, y0), patches)
            if self.scaler is not None:
                rgb = np.clip(self.scaler.apply(rgb, self.options), 0.0, 1.0)
                out[y0:y1, x0:x1] = composite(region, rgb, alpha)
            elif box is not None:
                # outside the box alpha is 0: the composite gives the frame's own pixels there
                top, bottom, left, right = box
                inner = (slice(top, bottom), slice(left, right))
                out[y0 + top : y0 + bottom, x0 + left : x0 + right] = composite(
                    region[inner], rgb[inner], alpha[inner]
                )
        return scale_output(out, self.options.output_scale)

    def adjusted_face(
        self, cut: FaceCut, new_face: np.ndarray, learned: np.ndarray | None
    ) -> np.ndarray:
        """The 4-channel patch (face, mask) of one face: masked, colour-adjusted, clipped."""
        mask, raw = make_mask(cut, learned, self.spec, self.options, self.blend.apply, self.box)
        face = self.color.apply(np.asarray(new_face, np.float32), cut.reference, raw, self.options)
        face = np.clip(np.asarray(face, np.float32), 0.0, 1.0)
        return np.concatenate([face, mask.astype(np.float32)], axis=-1)

    def swap_frames(
        self,
        items: Sequence[tuple[np.ndarray, Sequence[FrameFace]]],
        keys: Sequence[str] | None = None,
    ) -> list[np.ndarray]:
        """Each (uint8 BGR frame, its faces) -> the swapped frame, uint8 BGR (output-scaled).

        The faces are checked first (:meth:`check_faces`, naming ``keys[i]`` or the frame's place
        in ``items``); the model runs in batches across all the frames given.
        """
        for number, (frame, faces) in enumerate(items):
            key = keys[number] if keys is not None else f"#{number + 1} of this batch"
            self.check_faces(key, frame.shape, faces)
        jobs = [self.prepare(frame, faces) for frame, faces in items]
        self.predict(jobs)
        return [self.patch(job) for job in jobs]


def _to_size(face: np.ndarray, size: int) -> np.ndarray:
    if face.shape[0] == size:
        return face
    return al.resize_square(face, size)


def side_predictor(
    built: Any, side: str
) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]:
    """A function running one side of ``built`` (a :class:`fs_core.model.build.BuiltModel`):
    float32 faces in the model's colour order -> (largest face output, learned mask (N, S, S) or
    None). Only that side's layers run: a sub-model of the training model keeps the shared
    weights and drops the other decoder."""
    import keras  # noqa: PLC0415 (TensorFlow: convert.swap loads without it)

    model = built.model
    per_side = built.outputs_per_side
    start = 0 if side == "a" else per_side
    wanted = [model.outputs[start + len(built.output_sizes) - 1]]
    if built.learn_mask:
        wanted.append(model.outputs[start + per_side - 1])
    side_model = keras.Model(model.inputs, wanted, name=f"{built.name}_to_{side}")
    # many batches of one size: TensorFlow compiles it (predict_on_batch), JAX jits it
    infer = backend.get().inference_function(side_model, bulk=True)

    def predict(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        outputs = infer([faces, faces])
        face = outputs[0]
        mask = outputs[1][..., 0] if len(outputs) > 1 else None
        return face, mask

    return predict
