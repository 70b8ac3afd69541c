"""Turn a stored face into the training crop at process size, with its mask channels.

This is the face-loading half of the data pipeline (as faceswap's
``lib/training/data/data_set.py`` with ``lib/align/``): a faceswap-extracted face (a head-centred
crop, or a legacy-centred one from before faceswap 2.0; see
:func:`fs_core.faces.read.extract_centering`) is sub-cropped to the model's centering, coverage and
vertical offset, resized to the process size P, and its landmarks are carried into the crop. The
mask channels the loss asks for are built at the same time, so augmentation can move image, masks
and landmarks together:

* ``"face"``: the ``mask_type`` mask. ``components``/``extended`` are drawn from the landmarks;
  any other name is a mask stored in the face header, decoded, dilated, thresholded and blurred at
  its stored size, then placed into the crop from its own stored centering. ``none`` gives a full
  mask.
* ``"eye"`` / ``"mouth"``: hulls of the eye and lip landmarks, dilated and blurred.

Faces with 68- or 98-point landmarks give every channel (each from its own layout's tables, as
faceswap draws them). A 4-point face (only the corners of a region of interest) crops as faceswap
crops it, and a stored mask works, but nothing is drawn from its landmarks: asking for that is
refused, as faceswap refuses it. Plain crops (no landmarks) are centre-cropped for coverage;
anything that needs landmarks or a stored mask is refused with a message that says which option to
change.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

import attrs
import cv2
import numpy as np

from fs_core.errors import FsUserError
from fs_core.faces import alignment as al
from fs_core.faces.read import FaceRecord, stored_mask_entries

if TYPE_CHECKING:
    from fs_core.config import Config
    from fs_core.faces.faceset import FaceSet

LANDMARK_MASKS = ("components", "extended")
MASK_CHANNELS = ("face", "eye", "mouth")
_log = logging.getLogger("fs.faces")


def _positive(instance, attribute, value) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value!r}")


def _coverage(instance, attribute, value) -> None:
    if not 0.0 < value <= 100.0:
        raise ValueError(f"coverage is a percentage in (0, 100], got {value!r}")


def _as_tuple(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(names)


def _mask_names(instance, attribute, value) -> None:
    unknown = [name for name in value if name not in MASK_CHANNELS]
    if unknown or len(set(value)) != len(value):
        raise ValueError(f"mask_names must be distinct names among {MASK_CHANNELS}, got {value!r}")


@attrs.frozen
class PrepareSpec:
    """How faces are cropped and which mask channels come with them.

    ``coverage`` and ``vertical_offset`` are percentages, as in the ``[global]`` config section;
    ``mask_names`` lists the wanted mask channels in order ("face" = the ``mask_type`` mask).
    """

    size: int = attrs.field(validator=_positive)
    centering: str = attrs.field(default="face", validator=attrs.validators.in_(al.CENTERINGS))
    coverage: float = attrs.field(default=100.0, validator=_coverage)
    vertical_offset: float = 0.0
    mask_type: str = "none"
    mask_dilation: float = 0.0
    mask_blur_kernel: int = 3
    mask_threshold: int = 4
    mask_names: tuple[str, ...] = attrs.field(
        default=(), converter=_as_tuple, validator=_mask_names
    )


def training_spec(config: Config, size: int, mask_names: Iterable[str]) -> PrepareSpec:
    """The crop and masks training uses: ``size`` pixels, the ``[global]`` crop options and the
    ``[mask]`` options of ``config``, with the mask channels the losses need."""
    g, m = config.global_, config.mask
    return PrepareSpec(
        size=size,
        centering=g.centering,
        coverage=g.coverage,
        vertical_offset=g.vertical_offset,
        mask_type=m.mask_type,
        mask_dilation=m.mask_dilation,
        mask_blur_kernel=m.mask_blur_kernel,
        mask_threshold=m.mask_threshold,
        mask_names=tuple(mask_names),
    )


class PreparedFace(NamedTuple):
    """``image`` uint8 (P, P, 3) BGR; ``masks`` uint8 (P, P, K) in ``spec.mask_names`` order or
    None when no mask is asked for; ``landmarks`` float32 (68, 2) in crop pixels (a 98-point face's
    in the 68-point layout, :func:`fs_core.faces.alignment.to_68`), or None (a plain crop, or a
    4-point face, which has no facial landmarks to carry)."""

    image: np.ndarray
    masks: np.ndarray | None
    landmarks: np.ndarray | None


def _odd(kernel: int) -> int:
    kernel = int(kernel)
    return kernel if kernel % 2 else kernel + 1


def _ellipse(kernel: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))


def _dilate(mask: np.ndarray, size: int, percent: float) -> np.ndarray:
    """Grow (positive) or shrink (negative) by round(size * |percent| / 100) px, elliptical."""
    kernel = int(round(size * abs(percent) / 100.0))
    if kernel < 1 or percent == 0:
        return mask
    op = cv2.dilate if percent > 0 else cv2.erode
    return op(mask, _ellipse(kernel), iterations=1)


def _fill_hulls(
    size: int, landmarks: np.ndarray, groups: list[np.ndarray], whole_pixels: bool = False
) -> np.ndarray:
    """uint8 (size, size) mask: the union of the filled convex hulls of ``groups``, anti-aliased
    with their corners at 1/16 px; or, with ``whole_pixels``, as faceswap's maskers drew them:
    corners rounded to whole pixels and hard edges (cv2 does not anti-alias the float32 masks
    faceswap draws into)."""
    mask = np.zeros((size, size), dtype=np.uint8)
    shift = 0 if whole_pixels else 4  # sub-pixel vertices: 1/16 px
    line = cv2.LINE_8 if whole_pixels else cv2.LINE_AA
    for indices in groups:
        points = np.asarray(landmarks[indices], dtype=np.float32)
        if whole_pixels:
            points = np.rint(points)
        hull = cv2.convexHull(points).reshape(-1, 2)
        fixed = np.rint(hull * (1 << shift)).astype(np.int32)
        cv2.fillConvexPoly(mask, fixed, 255, lineType=line, shift=shift)
    return mask


def _zone_indices(zone: tuple[tuple[int, int], ...]) -> np.ndarray:
    return np.concatenate([np.arange(start, stop) for start, stop in zone])


def _feature_count(landmarks: np.ndarray) -> int:
    """68 or 98; ValueError for a 4-point face, whose landmarks locate no features."""
    count = al.landmark_count(landmarks)
    if count not in al.FEATURE_COUNTS:
        raise ValueError(f"{count}-point landmarks locate no facial features to draw a mask from")
    return count


def _raise_brows(landmarks: np.ndarray) -> np.ndarray:
    """The "extended" mask's landmarks: eyebrows pushed up, away from the eyes.

    As faceswap's ``lib/align/aligned_mask.py`` for 68 points (floored halves included), so the
    mask covers the forehead the same way. faceswap stops with an error for 98 points; fs moves the
    98-point brow points that faceswap's 98 -> 68 lookup pairs with the 68 moved ones, from the
    paired eye and jaw points, so an ``extended`` mask exists for both layouts.
    """
    points = np.array(landmarks, dtype=np.float64)
    index = np.arange(68) if _feature_count(points) == 68 else al.MAP_98_TO_68
    pts = points[index]  # the 68-point layout (a copy)
    mid_left = np.floor_divide(pts[36] + pts[0], 2)
    mid_right = np.floor_divide(pts[16] + pts[45], 2)
    quarter_left = np.floor_divide(pts[36] + mid_left, 2)
    quarter_right = np.floor_divide(pts[45] + mid_right, 2)
    lower_right_brow = np.array([quarter_left, pts[36], pts[37], pts[38], pts[39]])
    lower_left_brow = np.array([pts[42], pts[43], pts[44], pts[45], quarter_right])
    points[index[17:22]] += np.floor_divide(pts[17:22] - lower_right_brow, 2)
    points[index[22:27]] += np.floor_divide(pts[22:27] - lower_left_brow, 2)
    return points


def landmark_mask(
    landmarks: np.ndarray,
    size: int,
    kind: str,
    dilation: float = 0.0,
    whole_pixels: bool = False,
) -> np.ndarray:
    """The ``components`` or ``extended`` mask (uint8 size x size) from crop-space landmarks (68
    or 98 points, each with faceswap's hull zones for its layout). ``whole_pixels`` draws the hulls
    as faceswap's maskers did (whole-pixel corners, hard edges); by default they keep 1/16 px
    corners and anti-aliased edges."""
    if kind not in LANDMARK_MASKS:
        raise ValueError(f"kind must be one of {LANDMARK_MASKS}, got {kind!r}")
    zones = al.MASK_ZONES_BY_COUNT[_feature_count(landmarks)]
    points = _raise_brows(landmarks) if kind == "extended" else np.asarray(landmarks)
    groups = [_zone_indices(zone) for zone in zones.values()]
    mask = _fill_hulls(size, points, groups, whole_pixels)
    return _dilate(mask, size, dilation)


def part_mask(landmarks: np.ndarray, size: int, part: str) -> np.ndarray:
    """The ``eye`` or ``mouth`` weighting mask (uint8 size x size): hulls, dilated and blurred
    (68 or 98 landmarks, each with faceswap's eye and outer-lip ranges for its layout)."""
    parts = al.PARTS_BY_COUNT[_feature_count(landmarks)]
    if part == "eye":
        groups = [np.arange(*parts["right_eye"]), np.arange(*parts["left_eye"])]
    elif part == "mouth":
        groups = [np.arange(*parts["mouth_outer"])]
    else:
        raise ValueError(f"part must be 'eye' or 'mouth', got {part!r}")
    mask = _fill_hulls(size, landmarks, groups)
    kernel = int(round(size * 2.5 / 100.0))
    if kernel >= 1:
        mask = cv2.dilate(mask, _ellipse(kernel), iterations=1)
    blur = _odd(size // 16)
    if blur > 1:
        mask = cv2.GaussianBlur(mask, (blur, blur), 0)
    return mask


def process_stored_mask(
    mask: np.ndarray, dilation: float, threshold: int, blur_kernel: int
) -> np.ndarray:
    """Dilate/erode, threshold and blur a stored mask at its stored size, in that order.

    As faceswap's ``lib/align/aligned_mask.py`` does, so a stored mask trains as it would there.
    """
    size = mask.shape[0]
    out = _dilate(mask, size, dilation)
    if threshold > 0:
        level = threshold / 100.0 * 255.0
        out = out.copy()
        out[out < level] = 0
        out[out > 255.0 - level] = 255
    kernel = _odd(blur_kernel) if blur_kernel > 0 else 0
    if kernel > 1:
        out = cv2.GaussianBlur(out, (kernel, kernel), 0)
    return out


def _name(record: FaceRecord, path: str | os.PathLike | None):
    if path is not None:
        return path
    source = record.metadata.get("source") if isinstance(record.metadata, dict) else None
    if isinstance(source, dict) and isinstance(source.get("original_filename"), str):
        return source["original_filename"]
    return None


def _needs_landmarks(what: str, fix: str, where) -> FsUserError:
    return FsUserError(f"{what} needs landmarks; this face has none (a plain crop): {fix}", where)


#: how a 4-point face is described where facial landmarks are missing
ROI_ONLY = "4-point landmarks (only the corners of a region of interest, no eyes, mouth or jaw)"


def _needs_features(what: str, fix: str, where, these: str = "this face has") -> FsUserError:
    return FsUserError(f"{what} needs facial landmarks; {these} {ROI_ONLY}: {fix}", where)


class _Geometry(NamedTuple):
    """Where the training crop lies in the stored face, and what maps into it (``landmarks``: the
    face's own points, 4, 68 or 98, in crop pixels)."""

    left: int
    top: int
    crop: int
    offsets: dict | None
    landmarks: np.ndarray | None


def _geometry(record: FaceRecord, spec: PrepareSpec, where) -> _Geometry:
    size = record.image.shape[0]
    coverage = spec.coverage / 100.0
    y_offset = spec.vertical_offset / 100.0
    if record.landmarks is None:
        crop = max(2, 2 * int(round(size * coverage / 2)))
        left = (size - crop) // 2
        # plain crops are taken as face-centred: the face box is about half the crop
        top = left - int(np.rint(y_offset * size * (1.0 - al.EXTRACT_RATIOS["face"])))
        return _Geometry(left, top, crop, None, None)
    try:
        legacy = al.legacy_matrix(record.landmarks)
        offsets = al.centering_offsets(record.landmarks, legacy)
    except cv2.error as err:
        raise FsUserError(f"the face's landmarks cannot be aligned ({err.err})", where) from err
    if not (np.all(np.isfinite(legacy)) and all(np.all(np.isfinite(v)) for v in offsets.values())):
        raise FsUserError(
            "the face's landmarks are degenerate (they cannot be aligned to a face)", where
        )
    source = record.centering  # how the stored pixels were cropped ("head", or "legacy" if old)
    left, top, crop = al.sub_crop_window(size, source, spec.centering, offsets, coverage, y_offset)
    stored = al.aligned_matrix(record.landmarks, size, source, 1.0, offsets, legacy)
    in_face = al.transform_points(record.landmarks, stored)
    landmarks = al.window_points(in_face, left, top, crop, spec.size).astype(np.float32)
    return _Geometry(left, top, crop, offsets, landmarks)


def _stored_face_mask(record: FaceRecord, spec: PrepareSpec, geo: _Geometry, where) -> np.ndarray:
    name = spec.mask_type
    entries = stored_mask_entries(record.metadata, where)
    if name not in record.masks or name not in entries:
        have = sorted(record.masks)
        listed = f"it has {', '.join(have)}" if have else "it has no stored masks"
        raise FsUserError(
            f"mask_type {name!r} needs that mask stored in the face; {listed}: set "
            "mask_type to a stored mask, or to components, extended or none",
            where,
        )
    if geo.offsets is None:
        raise _needs_landmarks(f"stored mask_type {name!r}", "set mask_type = none", where)
    entry = entries[name]
    centering = entry.get("stored_centering", "face")
    if centering not in al.CENTERINGS:
        raise FsUserError(
            f"stored mask {name!r} has an unknown stored_centering {centering!r}", where
        )
    mask = process_stored_mask(
        record.masks[name], spec.mask_dilation, spec.mask_threshold, spec.mask_blur_kernel
    )
    left, top, crop = al.sub_crop_window(
        mask.shape[0],
        centering,
        spec.centering,
        geo.offsets,
        spec.coverage / 100.0,
        spec.vertical_offset / 100.0,
    )
    return al.resize_square(al.crop_window(mask, left, top, crop), spec.size)


def _mask_channel(
    name: str, record: FaceRecord, spec: PrepareSpec, geo: _Geometry, where
) -> np.ndarray:
    size = spec.size
    if name == "face":
        if spec.mask_type == "none":
            return np.full((size, size), 255, dtype=np.uint8)
        if spec.mask_type in LANDMARK_MASKS:
            if geo.landmarks is None:
                raise _needs_landmarks(
                    f"mask_type {spec.mask_type!r}", "set mask_type = none", where
                )
            if len(geo.landmarks) not in al.FEATURE_COUNTS:
                raise _needs_features(
                    f"mask_type {spec.mask_type!r}",
                    "set mask_type to a stored mask or none",
                    where,
                )
            return landmark_mask(geo.landmarks, size, spec.mask_type, spec.mask_dilation)
        return _stored_face_mask(record, spec, geo, where)
    option = "eye_multiplier" if name == "eye" else "mouth_multiplier"
    if geo.landmarks is None:
        raise _needs_landmarks(f"the {name} weighting ({option} > 1)", f"set {option} = 1", where)
    if len(geo.landmarks) not in al.FEATURE_COUNTS:
        raise _needs_features(f"the {name} weighting ({option} > 1)", f"set {option} = 1", where)
    return part_mask(geo.landmarks, size, name)


def prepare_face(
    record: FaceRecord, spec: PrepareSpec, path: str | os.PathLike | None = None
) -> PreparedFace:
    """The training crop of ``record`` at ``spec.size``, its mask channels and its landmarks.

    ``path`` names the face in error messages (the header's original filename is used without it).
    """
    where = _name(record, path)
    geo = _geometry(record, spec, where)
    image = al.resize_square(al.crop_window(record.image, geo.left, geo.top, geo.crop), spec.size)
    masks = None
    if spec.mask_names:
        channels = [_mask_channel(name, record, spec, geo, where) for name in spec.mask_names]
        masks = np.ascontiguousarray(np.stack(channels, axis=-1))
    landmarks = geo.landmarks
    if landmarks is not None:
        landmarks = al.to_68(landmarks) if len(landmarks) in al.FEATURE_COUNTS else None
    return PreparedFace(np.ascontiguousarray(image), masks, landmarks)


def check_faceset(faceset, spec: PrepareSpec) -> None:
    """Refuse, before training starts, a face set that cannot give what ``spec`` asks for.

    ``faceset`` is a :class:`fs_core.faces.faceset.FaceSet`. The error names the folder and the
    option to change, so a user learns it once instead of at the first batch. Faces extracted
    before faceswap 2.0 (legacy-centred) whose training window is wider than the stored crop are
    trained with a warning: what lies beyond the stored pixels trains as black borders.
    """
    folder = faceset.folder
    if getattr(faceset, "centering", None) == "legacy":
        ratios = al.EXTRACT_RATIOS
        window = (1.0 - ratios["legacy"]) / (1.0 - ratios[spec.centering]) * spec.coverage / 100.0
        if window > 1.0:
            _log.warning(
                "%s: these faces were extracted before faceswap 2.0 (legacy-centred, a "
                "tighter crop); centering %r at coverage %g%% needs %.2fx the stored crop, "
                "and what lies beyond it trains as black borders: set centering = legacy "
                "or a lower coverage, or re-extract the faces",
                folder,
                spec.centering,
                spec.coverage,
                window,
            )
    if not faceset.has_landmarks:
        if spec.mask_type in LANDMARK_MASKS and "face" in spec.mask_names:
            raise FsUserError(
                f"mask_type {spec.mask_type!r} needs landmarks; these faces are plain "
                "crops without them: set mask_type = none",
                folder,
            )
        for name in ("eye", "mouth"):
            if name in spec.mask_names:
                option = f"{name}_multiplier"
                raise FsUserError(
                    f"the {name} weighting ({option} > 1) needs landmarks; these "
                    f"faces are plain crops without them: set {option} = 1",
                    folder,
                )
    if faceset.has_landmarks and not getattr(faceset, "has_features", True):
        if spec.mask_type in LANDMARK_MASKS and "face" in spec.mask_names:
            raise _needs_features(
                f"mask_type {spec.mask_type!r}",
                "set mask_type to a stored mask or none",
                folder,
                "these faces have",
            )
        for name in ("eye", "mouth"):
            if name in spec.mask_names:
                option = f"{name}_multiplier"
                raise _needs_features(
                    f"the {name} weighting ({option} > 1)",
                    f"set {option} = 1",
                    folder,
                    "these faces have",
                )
    stored = spec.mask_type not in LANDMARK_MASKS and spec.mask_type != "none"
    if stored and "face" in spec.mask_names:
        if spec.mask_type not in faceset.stored_mask_names or not faceset.has_landmarks:
            have = sorted(faceset.stored_mask_names)
            listed = f"all of them have {', '.join(have)}" if have else "they have no common one"
            raise FsUserError(
                f"mask_type {spec.mask_type!r} needs that mask stored in every face; "
                f"{listed}: set mask_type to a stored mask, or to components, "
                "extended or none",
                folder,
            )


def check_landmark_augmenters(faceset: FaceSet, names: Iterable[str]) -> None:
    """Refuse landmark-driven augmenters (warp to landmarks; ``names`` are those enabled) on a face
    set whose faces do not all have 68-point landmarks.

    faceswap's warp to landmarks reads every face's landmarks and stops at the first that is not in
    the 68-point layout; fs says so before training starts, naming the folder.
    """
    wanted = list(names)
    other = sorted(set(faceset.landmark_points) - {68})
    if not wanted or not other:
        return
    counts = " and ".join(f"{count}-point" for count in other)
    raise FsUserError(
        f"augmenter '{wanted[0]}' (warp to landmarks, -M) needs 68-point landmarks, as in "
        f"faceswap; these faces have {counts} ones: train without -M (warp_to_landmarks = false)",
        faceset.folder,
    )
