"""Colour transfer: each side-B face's colours moved toward a random side-A face's (DeepFaceLab's
``ct_mode``), so the face put in is trained in the colours of the face it replaces.

Five methods, as DeepFaceLab's ``core/imagelib/color_transfer.py`` defines them, on float32 BGR in
[0, 1]:

* ``rct``, Reinhard: each LAB channel shifted and scaled to the reference's mean and deviation.
* ``lct``, linear: x → Qr·Qx⁻¹·(x − μx) + μr, Q the symmetric square root of each colour covariance
  (+ 1e-5·I), the "pca" basis.
* ``mkl``, Monge-Kantorovich linear: the linear map T that carries covariance Cx onto Cr with the
  least displacement, T = Ux·Dx⁻¹·Uc·Dc·Ucᵀ·Dx⁻¹·Uxᵀ
  (Cx = Ux·Dx²·Uxᵀ, Dx·Uxᵀ·Cr·Ux·Dx = Uc·Dc²·Ucᵀ).
* ``idt``, iterative distribution transfer: 20 times, rotate the colours by a random rotation,
  match each rotated axis' 256-bin histogram to the reference's, rotate back, move 1/20 of the way.
* ``sot``, sliced optimal transport: 10 steps of 5 random directions; along each, each pixel moves
  to the reference value of its quantile; the mean move of a step is applied; then the total change
  is smoothed spatially (σ = size / 8), which keeps neighbouring pixels moving together.

Where fs differs, and why: statistics are taken *inside the face mask* (each pixel weighted by the
"face" mask of its own face), and the result is blended back by the face's mask, so skin is matched
to skin and the background keeps its colour (DeepFaceLab's trainer uses whole images); without
masks the whole image counts, as there. Covariances are weighted population covariances (mkl used
``np.cov``'s n − 1); eigen-decompositions are the symmetric ones (``eigh``); sot's regularising
bilateral filter (σ colour 5 on values in 0-1, so in effect a Gaussian of σ 16 px at 128 px) is a
Gaussian blur of σ size / 8; in idt, values below the first bin's upper edge take the first mapped
value, where DeepFaceLab's ``np.interp(..., left=0)`` sends them to 0 (a slip: rotated colours may
be negative).

Everything is vectorised over the batch: the statistics are single numpy expressions, the
histograms one ``bincount`` per step, the quantile look-ups one ``searchsorted`` per step
(:func:`batched_interp`).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from fs_core.data.batch import AugmentBatch

MODES = ("none", "rct", "lct", "mkl", "idt", "sot")
LCT_EPSILON = 1e-5
MKL_EPSILON = float(np.finfo(np.float64).eps)
IDT_ROTATIONS = 20
IDT_BINS = 256
SOT_STEPS = 10
SOT_DIRECTIONS = 5


# ---------------------------------------------------------------- helpers


def pixel_weights(masks: np.ndarray | None, count: int, pixels: int) -> np.ndarray:
    """Per-pixel weights float32 (N, M) in [0, 1] from uint8 masks (N, P, P) (None: all 1). A
    face whose mask is empty weighs every pixel 1, so its statistics still exist."""
    if masks is None:
        return np.ones((count, pixels), np.float32)
    weights = masks.reshape(count, pixels).astype(np.float32) * np.float32(1.0 / 255.0)
    empty = weights.sum(axis=1) < 1.0
    weights[empty] = 1.0
    return weights


def weighted_mean(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mean of x (N, M, C) weighted by w (N, M): float64 (N, C)."""
    return (
        np.einsum("nm,nmc->nc", w, x, dtype=np.float64) / w.sum(axis=1, dtype=np.float64)[:, None]
    )


def weighted_covariance(x: np.ndarray, w: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Weighted population covariance of x (N, M, C): float64 (N, C, C)."""
    centred = x - mean[:, None, :].astype(np.float32)
    cov = np.einsum("nm,nmi,nmj->nij", w, centred, centred, dtype=np.float64)
    return cov / w.sum(axis=1, dtype=np.float64)[:, None, None]


def _sqrtm(matrices: np.ndarray) -> np.ndarray:
    """Symmetric square roots of symmetric positive (N, C, C) matrices."""
    values, vectors = np.linalg.eigh(matrices)
    roots = np.sqrt(np.clip(values, 0.0, None))
    return np.einsum("nij,nj,nkj->nik", vectors, roots, vectors)


def _apply_linear(
    x: np.ndarray, matrices: np.ndarray, mean_x: np.ndarray, mean_r: np.ndarray
) -> np.ndarray:
    """(x − μx)·Mᵀ + μr for each face, float32, clipped to [0, 1]."""
    centred = x - mean_x[:, None, :].astype(np.float32)
    out = np.einsum("nmj,nij->nmi", centred, matrices.astype(np.float32))
    out += mean_r[:, None, :].astype(np.float32)
    return np.clip(out, 0.0, 1.0)


def batched_interp(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """``np.interp(x[i], xp[i], fp[i])`` for every row i at once (float64 (N, K)).

    ``xp`` (N, L) must be non-decreasing per row (repeated values allowed, as np.interp takes
    them: a value equal to a run of equal xp takes fp at the run's last index). Rows are made
    disjoint by adding a per-row offset, so one ``searchsorted`` finds every interval.
    """
    x = np.asarray(x, np.float64)
    xp = np.asarray(xp, np.float64)
    fp = np.asarray(fp, np.float64)
    rows, length = xp.shape
    low = min(float(x.min()), float(xp.min()))
    span = max(float(x.max()), float(xp.max())) - low + 1.0
    offsets = (np.arange(rows, dtype=np.float64) * span)[:, None]
    found = np.searchsorted((xp - low + offsets).ravel(), (x - low + offsets).ravel(), "right")
    j = found.reshape(x.shape) - 1 - (np.arange(rows) * length)[:, None]
    inner = np.clip(j, 0, length - 2)
    x0 = np.take_along_axis(xp, inner, axis=1)
    x1 = np.take_along_axis(xp, inner + 1, axis=1)
    f0 = np.take_along_axis(fp, inner, axis=1)
    f1 = np.take_along_axis(fp, inner + 1, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (f1 - f0) / (x1 - x0)
        out = slope * (x - x0) + f0
    out = np.where(j < 0, fp[:, :1], out)
    return np.where(j >= length - 1, fp[:, -1:], out)


# ---------------------------------------------------------------- the five methods
# each takes x, ref: float32 (N, M, 3) BGR in [0, 1]; wx, wr: float32 (N, M) weights; and its
# random parameters (drawn by draw_parameters), and returns float32 (N, M, 3) in [0, 1]


def transfer_rct(x: np.ndarray, ref: np.ndarray, wx: np.ndarray, wr: np.ndarray) -> np.ndarray:
    """Reinhard: LAB channels to the reference's weighted mean and standard deviation."""
    count, pixels, _ = x.shape
    size = int(round(np.sqrt(pixels)))
    lab_x = cv2.cvtColor(x.reshape(count * size, size, 3), cv2.COLOR_BGR2LAB)
    lab_r = cv2.cvtColor(ref.reshape(count * size, size, 3), cv2.COLOR_BGR2LAB)
    lab_x, lab_r = lab_x.reshape(x.shape), lab_r.reshape(x.shape)
    mean_x, mean_r = weighted_mean(lab_x, wx), weighted_mean(lab_r, wr)
    std_x = np.sqrt(np.einsum("nii->ni", weighted_covariance(lab_x, wx, mean_x)))
    std_r = np.sqrt(np.einsum("nii->ni", weighted_covariance(lab_r, wr, mean_r)))
    scale = (std_r / np.maximum(std_x, 1e-6)).astype(np.float32)[:, None, :]
    out = (lab_x - mean_x[:, None, :].astype(np.float32)) * scale
    out += mean_r[:, None, :].astype(np.float32)
    np.clip(out[..., 0], 0.0, 100.0, out=out[..., 0])
    np.clip(out[..., 1:], -127.0, 127.0, out=out[..., 1:])
    bgr = cv2.cvtColor(out.reshape(count * size, size, 3), cv2.COLOR_LAB2BGR)
    return np.clip(bgr.reshape(x.shape), 0.0, 1.0)


def transfer_lct(x: np.ndarray, ref: np.ndarray, wx: np.ndarray, wr: np.ndarray) -> np.ndarray:
    """Linear: Qr·Qx⁻¹ with Q the symmetric square root of each covariance."""
    mean_x, mean_r = weighted_mean(x, wx), weighted_mean(ref, wr)
    eye = LCT_EPSILON * np.eye(3)
    root_x = _sqrtm(weighted_covariance(x, wx, mean_x) + eye)
    root_r = _sqrtm(weighted_covariance(ref, wr, mean_r) + eye)
    return _apply_linear(x, root_r @ np.linalg.inv(root_x), mean_x, mean_r)


def transfer_mkl(x: np.ndarray, ref: np.ndarray, wx: np.ndarray, wr: np.ndarray) -> np.ndarray:
    """Monge-Kantorovich linear: the least-displacement linear map between the covariances."""
    mean_x, mean_r = weighted_mean(x, wx), weighted_mean(ref, wr)
    cov_x, cov_r = weighted_covariance(x, wx, mean_x), weighted_covariance(ref, wr, mean_r)
    values_x, vectors_x = np.linalg.eigh(cov_x)
    d_x = np.sqrt(np.clip(values_x, MKL_EPSILON, None))
    middle = np.einsum("ni,nji,njk,nkl,nl->nil", d_x, vectors_x, cov_r, vectors_x, d_x)
    values_c, vectors_c = np.linalg.eigh(middle)
    d_c = np.sqrt(np.clip(values_c, MKL_EPSILON, None))
    # T = Ux·Dx⁻¹·Uc·Dc·Ucᵀ·Dx⁻¹·Uxᵀ (symmetric); the pixels are rows: (x − μx)·T
    inner = np.einsum("nij,nj,nkj->nik", vectors_c, d_c, vectors_c)
    scaled = vectors_x / d_x[:, None, :]
    transform = scaled @ inner @ np.swapaxes(scaled, 1, 2)
    return _apply_linear(x, np.swapaxes(transform, 1, 2), mean_x, mean_r)


def grid_interp(
    x: np.ndarray, low: np.ndarray, width: np.ndarray, edges: np.ndarray, fp: np.ndarray
) -> np.ndarray:
    """:func:`batched_interp` for the evenly spaced ``edges`` = low + width·k/B, k = 1..B, of each
    row: the interval is computed, then corrected by one either way against the edges themselves,
    so it is the one a search would find (no search over unsorted values, which is slow)."""
    x = np.asarray(x, np.float64)
    length = edges.shape[1]
    guess = np.floor((x - low[:, None]) / width[:, None] * length).astype(np.int64) - 1
    j = np.clip(guess, -1, length - 1)
    above = np.take_along_axis(edges, np.clip(j + 1, 0, length - 1), axis=1)
    j = np.where((j + 1 <= length - 1) & (above <= x), j + 1, j)
    at = np.take_along_axis(edges, np.clip(j, 0, length - 1), axis=1)
    j = np.where((j >= 0) & (at > x), j - 1, j)
    inner = np.clip(j, 0, length - 2)
    x0 = np.take_along_axis(edges, inner, axis=1)
    x1 = np.take_along_axis(edges, inner + 1, axis=1)
    f0 = np.take_along_axis(fp, inner, axis=1)
    f1 = np.take_along_axis(fp, inner + 1, axis=1)
    out = (f1 - f0) / (x1 - x0) * (x - x0) + f0
    out = np.where(j < 0, fp[:, :1], out)
    return np.where(j >= length - 1, fp[:, -1:], out)


def _histograms(values: np.ndarray, weights: np.ndarray, low: np.ndarray, width: np.ndarray):
    """Weighted histograms of each row of values (R, M) over [low, low + width] in IDT_BINS
    bins: float64 (R, IDT_BINS). The top edge belongs to the last bin, as in np.histogram."""
    rows = values.shape[0]
    index = np.floor((values - low[:, None]) / width[:, None] * IDT_BINS).astype(np.int64)
    np.clip(index, 0, IDT_BINS - 1, out=index)
    index += (np.arange(rows) * IDT_BINS)[:, None]
    counts = np.bincount(index.ravel(), weights.ravel(), minlength=rows * IDT_BINS)
    return counts.reshape(rows, IDT_BINS)


def transfer_idt(
    x: np.ndarray, ref: np.ndarray, wx: np.ndarray, wr: np.ndarray, rotations: np.ndarray
) -> np.ndarray:
    """Iterative distribution transfer; ``rotations`` float64 (N, IDT_ROTATIONS, 3, 3)."""
    count, pixels, channels = x.shape
    current = x.astype(np.float64)
    target = ref.astype(np.float64)
    relaxation = 1.0 / rotations.shape[1]
    # every row of the (N·3, M) arrays below is one face's pixels along one rotated axis
    weights_x = np.repeat(wx.astype(np.float64), channels, axis=0)
    weights_r = np.repeat(wr.astype(np.float64), channels, axis=0)
    for step in range(rotations.shape[1]):
        rotation = rotations[:, step]
        rot_x = np.einsum("nij,nmj->nim", rotation, current).reshape(count * channels, pixels)
        rot_r = np.einsum("nij,nmj->nim", rotation, target).reshape(count * channels, pixels)
        low = np.minimum(rot_x.min(axis=1), rot_r.min(axis=1))
        width = np.maximum(rot_x.max(axis=1), rot_r.max(axis=1)) - low
        width = np.where(width > 0, width, 1e-6)
        edges = low[:, None] + width[:, None] * (np.arange(1, IDT_BINS + 1) / IDT_BINS)
        cdf_x = np.cumsum(_histograms(rot_x, weights_x, low, width), axis=1)
        cdf_r = np.cumsum(_histograms(rot_r, weights_r, low, width), axis=1)
        cdf_x /= cdf_x[:, -1:]
        cdf_r /= cdf_r[:, -1:]
        mapping = batched_interp(cdf_x, cdf_r, edges)
        moved = grid_interp(rot_x, low, width, edges, mapping)
        delta = (moved - rot_x).reshape(count, channels, pixels)
        current += relaxation * np.einsum("nji,njm->nmi", rotation, delta)
    return np.clip(current, 0.0, 1.0).astype(np.float32)


def _quantile_positions(weights: np.ndarray) -> np.ndarray:
    """Each sorted pixel's place in its weighted distribution: (cumsum − w/2) / total."""
    cumulative = np.cumsum(weights, axis=1)
    return (cumulative - 0.5 * weights) / cumulative[:, -1:]


def transfer_sot(
    x: np.ndarray, ref: np.ndarray, wx: np.ndarray, wr: np.ndarray, directions: np.ndarray
) -> np.ndarray:
    """Sliced optimal transport; ``directions`` float64 (N, SOT_STEPS, SOT_DIRECTIONS, 3), unit
    vectors. Along each direction a pixel moves to the reference's value at its own (weighted)
    quantile; with equal weights that is DeepFaceLab's sort-and-match exactly."""
    count, pixels, _ = x.shape
    size = int(round(np.sqrt(pixels)))
    current = x.astype(np.float64)
    target = ref.astype(np.float64)
    slices = directions.shape[2]
    weights_x = np.repeat(wx.astype(np.float64), slices, axis=0)
    weights_r = np.repeat(wr.astype(np.float64), slices, axis=0)
    for step in range(directions.shape[1]):
        axes = directions[:, step]  # (N, K, 3)
        proj_x = np.einsum("nkc,nmc->nkm", axes, current).reshape(count * slices, pixels)
        proj_r = np.einsum("nkc,nmc->nkm", axes, target).reshape(count * slices, pixels)
        order_x = np.argsort(proj_x, axis=1)
        order_r = np.argsort(proj_r, axis=1)
        sorted_x = np.take_along_axis(proj_x, order_x, axis=1)
        sorted_r = np.take_along_axis(proj_r, order_r, axis=1)
        places_x = _quantile_positions(np.take_along_axis(weights_x, order_x, axis=1))
        places_r = _quantile_positions(np.take_along_axis(weights_r, order_r, axis=1))
        shift = batched_interp(places_x, places_r, sorted_r) - sorted_x
        moves = np.empty_like(shift)
        np.put_along_axis(moves, order_x, shift, axis=1)
        moves = moves.reshape(count, slices, pixels)
        current += np.einsum("nkm,nkc->nmc", moves, axes) / slices
    sigma = size / 8.0
    kernel = 2 * int(round(1.5 * sigma)) + 1
    change = (current - x).astype(np.float32)
    smooth = np.empty_like(change)
    for index in range(count):
        smooth[index] = cv2.GaussianBlur(
            change[index].reshape(size, size, 3), (kernel, kernel), sigma
        ).reshape(pixels, 3)
    return np.clip(x + smooth, 0.0, 1.0)


def random_rotations(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Uniformly random 3-D rotations (det +1), float64 shape + (3, 3): QR of Gaussian matrices
    with the signs fixed (what ``scipy.stats.special_ortho_group`` draws)."""
    gauss = rng.standard_normal(shape + (3, 3))
    q, r = np.linalg.qr(gauss)
    q = q * np.sign(np.einsum("...ii->...i", r))[..., None, :]
    flip = np.linalg.det(q) < 0
    q[flip, :, 0] *= -1.0
    return q


def random_directions(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Uniformly random unit vectors, float64 shape + (3,)."""
    gauss = rng.standard_normal(shape + (3,))
    return gauss / np.linalg.norm(gauss, axis=-1, keepdims=True)


Transfer = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def method(mode: str, count: int, rng: np.random.Generator) -> Transfer:
    """The transfer for ``mode`` with its random parameters for ``count`` faces drawn now."""
    if mode == "rct":
        return transfer_rct
    if mode == "lct":
        return transfer_lct
    if mode == "mkl":
        return transfer_mkl
    if mode == "idt":
        rotations = random_rotations(rng, (count, IDT_ROTATIONS))
        return lambda x, ref, wx, wr: transfer_idt(x, ref, wx, wr, rotations)
    if mode == "sot":
        directions = random_directions(rng, (count, SOT_STEPS, SOT_DIRECTIONS))
        return lambda x, ref, wx, wr: transfer_sot(x, ref, wx, wr, directions)
    raise ValueError(f"unknown colour transfer {mode!r}; one of {', '.join(MODES)}")


def color_transfer_faces(
    images: np.ndarray,
    references: np.ndarray,
    masks: np.ndarray | None,
    reference_masks: np.ndarray | None,
    mode: str,
    rng: np.random.Generator,
) -> np.ndarray:
    """Move each face's colours toward its reference's, inside the face masks; uint8 in and out.

    ``images``, ``references``: uint8 (N, P, P, 3) BGR; ``masks``, ``reference_masks``: uint8
    (N, P, P) face masks or None (whole image). The result is blended back by the face's mask.
    """
    count, size = images.shape[0], images.shape[1]
    pixels = size * size
    scale = np.float32(1.0 / 255.0)
    x = images.reshape(count, pixels, 3).astype(np.float32) * scale
    ref = references.reshape(count, pixels, 3).astype(np.float32) * scale
    wx = pixel_weights(masks, count, pixels)
    wr = pixel_weights(reference_masks, count, pixels)
    out = method(mode, count, rng)(x, ref, wx, wr)
    if masks is not None:
        out = x + wx[..., None] * (out - x)
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8).reshape(images.shape)


def augment_color_transfer(batch: AugmentBatch, rng: np.random.Generator, options) -> None:
    """Colour transfer of the batch's faces toward the other side's faces it was handed
    (``[augmentation] color_transfer``); the loader hands side B one side-A face per face."""
    if len(batch) == 0:
        return
    if batch.others is None:
        raise ValueError(
            "color_transfer needs batch.others (faces of the other side); the loader fills it "
            "for augmenters that declare needs_other_side"
        )
    batch.images[...] = color_transfer_faces(
        batch.images,
        batch.others.images,
        batch.mask("face"),
        batch.others.mask("face"),
        options.color_transfer,
        rng,
    )
