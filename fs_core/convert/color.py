"""Colour adjustments of ``fs convert`` (``-c``): make the swapped face match the frame's light.

Each function has the signature of :class:`fs_core.descriptors.ColorAdjustmentDescriptor`:
``(new_face, old_face, mask, options) -> face``, all float32 in 0-1 with BGR channels; ``new_face``
is the model's output n, ``old_face`` the face cut from the frame o at the model's output size,
``mask`` the raw mask r (S, S, 1) (blended, before erosion and the edge box). The caller clips the
result to 0-1. The algorithms, and where they round or truncate to 8 bits, are faceswap's, so a
faceswap user gets the colours they know; where faceswap would divide by zero (a flat face, an
empty mask) these return the face unchanged instead.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

#: manual-balance colour spaces -> (forward, back) cv2 conversion codes
_SPACES: dict[str, tuple[int, int]] = {
    "RGB": (cv2.COLOR_BGR2RGB, cv2.COLOR_RGB2BGR),
    "HSV": (cv2.COLOR_BGR2HSV, cv2.COLOR_HSV2BGR),
    "LAB": (cv2.COLOR_BGR2LAB, cv2.COLOR_LAB2BGR),
    "YCrCb": (cv2.COLOR_BGR2YCrCb, cv2.COLOR_YCrCb2BGR),
}


def _f32(image: np.ndarray) -> np.ndarray:
    return np.array(image, dtype=np.float32, copy=True)


def avg_color(
    new_face: np.ndarray, old_face: np.ndarray, mask: np.ndarray, options: Any
) -> np.ndarray:
    """Shift each channel so its masked mean equals the frame face's.

    Twice: Δ_c = Σ r·(o_c − n_c) / Σ r, n_c ← n_c + Δ_c (the second pass corrects what the first
    left after float rounding; it is near 0). With an all-zero mask n ← o pixel by pixel, as
    faceswap does.
    """
    new = _f32(new_face)
    old = np.asarray(old_face, np.float32)
    weight = np.asarray(mask, np.float32)
    for _ in range(2):
        diff = old - new
        if np.any(weight):
            new += np.sum(diff * weight, axis=(0, 1)) / np.sum(weight, axis=(0, 1))
        else:
            new += diff
    return new


def _lab_stats(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation over all pixels."""
    flat = image.reshape(-1, 3)
    return flat.mean(axis=0), flat.std(axis=0)


def _into_byte_range(channel: np.ndarray, clip: bool) -> np.ndarray:
    """Clip to 0-255, or (without ``clip``) min-max rescale a channel that leaves 0-255 from
    [min, max] onto [max(min, 0), min(max, 255)], as faceswap's colour transfer does."""
    if clip:
        return np.clip(channel, 0, 255)
    low, high = float(channel.min()), float(channel.max())
    if low >= 0 and high <= 255:
        return channel
    new_low, new_high = max(low, 0.0), min(high, 255.0)
    if high == low:
        return np.full_like(channel, new_low)
    return (new_high - new_low) * (channel - low) / (high - low) + new_low


def color_transfer(
    new_face: np.ndarray, old_face: np.ndarray, mask: np.ndarray, options: Any
) -> np.ndarray:
    """Reinhard et al. (2001) colour transfer in OpenCV's 8-bit L*a*b*.

    S = LAB(rint(255·o·r)), T = LAB(rint(255·n·r)); μ, σ per channel over *all* pixels (the
    masked-out zeros count). Each T channel ← (T − μ_T)·g + μ_S with g = σ_T/σ_S when
    ``color_transfer_preserve_paper`` (faceswap's default), else σ_S/σ_T (g = 1 where a σ is 0);
    then clipped to 0-255 (``color_transfer_clip``) or min-max rescaled into it, truncated to
    uint8, converted back to BGR and /255. Result = that + n·(1 − r): the transferred image is not
    multiplied by r (faceswap's behaviour).
    """
    new = np.asarray(new_face, np.float32)
    weight = np.asarray(mask, np.float32)
    source = _to_lab(np.asarray(old_face, np.float32) * weight)
    target = _to_lab(new * weight)
    mean_s, std_s = _lab_stats(source)
    mean_t, std_t = _lab_stats(target)
    paper = bool(options.color_transfer_preserve_paper)
    ratio = np.ones(3, np.float32)
    usable = (std_s > 0) & (std_t > 0)
    ratio[usable] = (std_t / std_s if paper else std_s / std_t)[usable]
    channels = [
        _into_byte_range(
            (target[..., c] - mean_t[c]) * ratio[c] + mean_s[c], options.color_transfer_clip
        )
        for c in range(3)
    ]
    lab = np.stack(channels, axis=-1).astype(np.uint8)
    transfer = cv2.cvtColor(lab, cv2.COLOR_LAB2BGR).astype(np.float32) / 255.0
    return transfer + new * (1.0 - weight)


def _to_lab(image: np.ndarray) -> np.ndarray:
    byte = np.rint(image * 255.0).astype(np.uint8)
    return cv2.cvtColor(byte, cv2.COLOR_BGR2LAB).astype(np.float32)


def _match_channel(
    old: np.ndarray, new: np.ndarray, where: tuple[np.ndarray, ...], fraction: float
) -> np.ndarray:
    """Histogram matching of one channel inside the mask."""
    _values, index, counts = np.unique(new[where], return_inverse=True, return_counts=True)
    old_values, old_counts = np.unique(old[where], return_counts=True)
    new_cdf = np.cumsum(counts, dtype=np.float32)
    old_cdf = np.cumsum(old_counts, dtype=np.float32)
    new_cdf = fraction * new_cdf / new_cdf[-1]
    old_cdf /= old_cdf[-1]
    out = new.copy()
    out[where] = np.interp(new_cdf, old_cdf, old_values)[index.reshape(-1)]
    return out


def match_hist(
    new_face: np.ndarray, old_face: np.ndarray, mask: np.ndarray, options: Any
) -> np.ndarray:
    """Histogram matching per channel over the pixels where r ≠ 0.

    With t = ``match_hist_threshold``/100: CDF_n is the cumulative count of n's sorted unique
    values scaled to t, CDF_o that of o's scaled to 1; a masked pixel of value v becomes
    interp(CDF_n(v), CDF_o, values_o). Pixels outside the mask keep n.
    """
    new = np.asarray(new_face, np.float32)
    old = np.asarray(old_face, np.float32)
    where = np.nonzero(np.asarray(mask)[..., 0])
    if where[0].size == 0:
        return _f32(new)
    fraction = float(options.match_hist_threshold) / 100.0
    channels = [_match_channel(old[..., c], new[..., c], where, fraction) for c in range(3)]
    return np.stack(channels, axis=-1).astype(np.float32)


def _balance(channel: np.ndarray, amount: float) -> np.ndarray:
    """Push a 0-1 channel toward 1 by ``amount`` (> 0) or toward 0 (< 0)."""
    if amount >= 0:
        return channel + (1.0 - channel) * amount
    return channel * (1.0 + amount)


def _contrast_brightness(image: np.ndarray, contrast: float, brightness: float) -> np.ndarray:
    """faceswap's 8-bit contrast/brightness: c, β = max(−126, round(1.27·percent)); if either is
    non-zero, v = rint(255·x) as uint8 and x ← clip(v·(1 + c/127) − c + β, 0, 255)/255."""
    c = max(-126, int(round(contrast * 1.27)))
    beta = max(-126, int(round(brightness * 1.27)))
    if not c and not beta:
        return image
    byte = np.rint(image * 255.0).astype(np.uint8)
    out = np.clip(byte * (c / 127 + 1) - c + beta, 0, 255)
    return np.clip(np.divide(out, 255, dtype=np.float32), 0.0, 1.0)


def manual_balance(
    new_face: np.ndarray, old_face: np.ndarray, mask: np.ndarray, options: Any
) -> np.ndarray:
    """Fixed shifts in a chosen colour space, then contrast and brightness (mask unused).

    X = cvt(trunc(255·n), BGR→space)/255 (OpenCV 8-bit ranges: HSV hue 0-179); channel i with
    a = ``manual_balance_balance_i``/100 becomes x + (1 − x)·a for a ≥ 0, x·(1 + a) otherwise;
    back with cvt(trunc(255·X), space→BGR)/255; then :func:`_contrast_brightness`.
    """
    forward, back = _SPACES[options.manual_balance_colorspace]
    byte = (np.asarray(new_face, np.float32) * 255.0).astype(np.uint8)
    image = cv2.cvtColor(byte, forward).astype(np.float32) / 255.0
    amounts = (
        options.manual_balance_balance_1,
        options.manual_balance_balance_2,
        options.manual_balance_balance_3,
    )
    for index, amount in enumerate(amounts):
        image[..., index] = _balance(image[..., index], float(amount) / 100.0)
    byte = (image * 255.0).astype(np.uint8)
    image = cv2.cvtColor(byte, back).astype(np.float32) / 255.0
    return _contrast_brightness(
        image, options.manual_balance_contrast, options.manual_balance_brightness
    )


def seamless_clone(
    new_face: np.ndarray, old_face: np.ndarray, mask: np.ndarray, options: Any
) -> np.ndarray:
    """Poisson blending (OpenCV ``seamlessClone``, ``NORMAL_CLONE``) of n into o.

    The box is rows/columns min:max of r ≠ 0 (max excluded, as faceswap); the source is
    rint(255·n) in the box, the clone mask 255 where rint(255·r) ≠ 0; the destination is
    rint(255·o) zero-padded by S//2 on every side, the centre the rounded box middle plus that
    padding; the result, unpadded, /255. An empty box returns n.
    """
    new = np.asarray(new_face, np.float32)
    weight = np.asarray(mask, np.float32)[..., 0]
    rows, cols = np.nonzero(weight)
    if rows.size == 0 or rows.max() == rows.min() or cols.max() == cols.min():
        return _f32(new)
    height, width = weight.shape[0] // 2, weight.shape[1] // 2
    box = (slice(rows.min(), rows.max()), slice(cols.min(), cols.max()))
    centre = (
        int(np.rint((cols.max() + cols.min()) / 2 + width)),
        int(np.rint((rows.max() + rows.min()) / 2 + height)),
    )
    insertion = np.rint(new[box] * 255.0).astype(np.uint8)
    clone_mask = np.rint(weight[box] * 255.0).astype(np.uint8)
    clone_mask[clone_mask != 0] = 255
    padded = np.pad(np.asarray(old_face, np.float32) * 255.0, ((height,), (width,), (0,)))
    prior = np.rint(padded).astype(np.uint8)
    blended = cv2.seamlessClone(insertion, prior, clone_mask, centre, cv2.NORMAL_CLONE)
    return blended[height:-height, width:-width].astype(np.float32) / 255.0


def no_color(
    new_face: np.ndarray, old_face: np.ndarray, mask: np.ndarray, options: Any
) -> np.ndarray:
    """No adjustment: the model's face as it is."""
    return np.asarray(new_face, np.float32)
