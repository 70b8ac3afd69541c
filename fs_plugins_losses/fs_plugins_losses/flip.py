"""flip: LDR-FLIP (Andersson et al., NVIDIA 2020), a perceptual difference map for LDR images.

FLIP models what a viewer notices when flipping between two images at a given viewing distance:

1. colour: both images go sRGB -> linear RGB -> XYZ -> YCxCz (an opponent space), each opponent
   channel is low-pass filtered by its contrast sensitivity function (sums of Gaussians, at
   ``PIXELS_PER_DEGREE`` = 3840·π/180 ≈ 67, a 4K monitor seen from its own width), then converted
   to linear RGB, clamped to the RGB cube, to L*a*b* and Hunt-adjusted (a, b scaled by L/100).
   The HyAB distance ``|ΔL| + ‖(Δa, Δb)‖`` raised to 0.7 is remapped so that errors below
   ``0.4·c_max`` cover [0, 0.95] and the rest (0.95, 1], c_max being the green-blue distance;
2. features: edge and point detectors (first and second Gaussian derivatives, sigma
   ``0.5·0.082·ppd``, positive and negative taps normalized to ±1) on the achromatic channel; the
   feature difference is ``(max(Δ‖edges‖, Δ‖points‖) / √2) ^ 0.5``;
3. the map is ``colour_error ^ (1 - feature_error)``, one channel (N, H, W, 1).

Images are BGR (fs's default order) and are turned to RGB and clamped to [0, 1] first;
:func:`make_flip` builds the function for RGB models. Square roots and powers are floored by a tiny
epsilon so gradients stay finite where the two images agree. FLIP is a metric to add to a primary
loss, never the primary itself (faceswap's ``plugins/train/train_config.py`` refuses it there).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from keras import ops

from fs_plugins_losses._common import Tensor, constant, depthwise, pad_replicate, positive_pow

PIXELS_PER_DEGREE = 3840.0 * math.pi / 180.0
QC = 0.7  # exponent of the colour (HyAB) error
QF = 0.5  # exponent of the feature error
PC = 0.4  # share of c_max mapped to [0, PT]
PT = 0.95
EPS = 1e-8

_WHITE = np.array([0.950428545, 1.0, 1.088900371])  # D65, XYZ
_RGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],  # linear sRGB -> XYZ (D65)
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
# Contrast sensitivity per opponent channel: (a1, b1, a2, b2) of
# g(r) = a1·sqrt(π/b1)·exp(-π²r²/b1) + a2·sqrt(π/b2)·exp(-π²r²/b2), r in degrees
_CSF = {
    "A": (1.0, 0.0047, 0.0, 1e-5),
    "RG": (1.0, 0.0053, 0.0, 1e-5),
    "BY": (34.1, 0.04, 13.5, 0.025),
}
_FEATURE_WIDTH = 0.082


# ---------------------------------------------------------------- kernels (NumPy, built once)


def csf_kernels(ppd: float = PIXELS_PER_DEGREE) -> np.ndarray:
    """(k, k, 3): the normalized CSF filter of the A, RG and BY channels."""
    widest = max(max(b1, b2) for _, b1, _, b2 in _CSF.values())
    radius = int(math.ceil(3.0 * math.sqrt(widest / (2.0 * math.pi**2)) * ppd))
    coords = np.arange(-radius, radius + 1)
    xx, yy = np.meshgrid(coords, coords)
    squared = (xx**2 + yy**2) / ppd**2
    kernels = []
    for a1, b1, a2, b2 in _CSF.values():
        g = a1 * math.sqrt(math.pi / b1) * np.exp(-(math.pi**2) * squared / b1) + a2 * math.sqrt(
            math.pi / b2
        ) * np.exp(-(math.pi**2) * squared / b2)
        kernels.append(g / g.sum())
    return np.stack(kernels, axis=-1).astype(np.float32)


def feature_kernel(kind: str, ppd: float = PIXELS_PER_DEGREE) -> np.ndarray:
    """The x-direction edge (first derivative) or point (second derivative) detector."""
    sigma = 0.5 * _FEATURE_WIDTH * ppd
    radius = int(math.ceil(3.0 * sigma))
    coords = np.arange(-radius, radius + 1)
    xx, yy = np.meshgrid(coords, coords)
    gauss = np.exp(-(xx**2 + yy**2) / (2.0 * sigma**2))
    kernel = -xx * gauss if kind == "edge" else (xx**2 / sigma**2 - 1.0) * gauss
    positive, negative = kernel[kernel > 0].sum(), -kernel[kernel < 0].sum()
    return np.where(kernel > 0, kernel / positive, kernel / negative).astype(np.float32)


def csf_separable(ppd: float = PIXELS_PER_DEGREE) -> tuple[np.ndarray, tuple[int, ...]]:
    """The CSF filters as 1-D factors: (k, T) kernels and the opponent channel of each.

    Every Gaussian is separable, so each channel's normalized sum of Gaussians is a sum of outer
    products ``outer(v, v)`` with ``v = sqrt(weight) · exp(-π² x² / (b·ppd²))``; A and RG have one
    term, BY two. Filtering with two 1-D passes costs 2k instead of k² multiplies per pixel.
    """
    widest = max(max(b1, b2) for _, b1, _, b2 in _CSF.values())
    radius = int(math.ceil(3.0 * math.sqrt(widest / (2.0 * math.pi**2)) * ppd))
    coords = np.arange(-radius, radius + 1) / ppd
    factors, channels = [], []
    for channel, (a1, b1, a2, b2) in enumerate(_CSF.values()):
        terms = [
            (a * math.sqrt(math.pi / b), np.exp(-(math.pi**2) * coords**2 / b))
            for a, b in ((a1, b1), (a2, b2))
            if a
        ]
        total = sum(weight * line.sum() ** 2 for weight, line in terms)
        for weight, line in terms:
            factors.append(math.sqrt(weight / total) * line)
            channels.append(channel)
    return np.stack(factors, axis=-1).astype(np.float32), tuple(channels)


def feature_separable(ppd: float = PIXELS_PER_DEGREE) -> tuple[np.ndarray, np.ndarray]:
    """Width and height factors of the four detectors (edge x, edge y, point x, point y).

    A detector is (derivative of a Gaussian in x)·(Gaussian in y); the sign of each tap depends on
    x only, so scaling positive and negative taps separately keeps it an outer product.
    """
    edge, point = feature_kernel("edge", ppd), feature_kernel("point", ppd)
    radius = edge.shape[0] // 2
    sigma = 0.5 * _FEATURE_WIDTH * ppd
    gauss = np.exp(-(np.arange(-radius, radius + 1) ** 2) / (2.0 * sigma**2))
    edge_x, point_x = edge[radius] / gauss[radius], point[radius] / gauss[radius]
    along_w = np.stack([edge_x, gauss, point_x, gauss], axis=-1)
    along_h = np.stack([gauss, edge_x, gauss, point_x], axis=-1)
    return along_w.astype(np.float32), along_h.astype(np.float32)


# ---------------------------------------------------------------- colour transforms (last axis)


def _matmul(image: Tensor, matrix: np.ndarray) -> Tensor:
    return ops.einsum("...c,dc->...d", image, matrix.astype(np.float32))


def srgb_to_linear(image: Tensor) -> Tensor:
    curved = positive_pow((ops.maximum(image, 0.04045) + 0.055) / 1.055, 2.4)
    return ops.where(image > 0.04045, curved, image / 12.92)


def linear_to_ycxcz(image: Tensor) -> Tensor:
    xyz = _matmul(image, _RGB_TO_XYZ) / constant(_WHITE)
    x, y, z = ops.unstack(xyz, axis=-1)
    return ops.stack([116.0 * y - 16.0, 500.0 * (x - y), 200.0 * (y - z)], axis=-1)


def ycxcz_to_linear(image: Tensor) -> Tensor:
    lum, cx, cz = ops.unstack(image, axis=-1)
    y = (lum + 16.0) / 116.0
    xyz = ops.stack([y + cx / 500.0, y, y - cz / 200.0], axis=-1) * constant(_WHITE)
    return _matmul(xyz, _XYZ_TO_RGB)


def linear_to_hunt_lab(image: Tensor) -> Tensor:
    """Linear RGB -> CIE L*a*b* (D65) with the Hunt adjustment (a, b scaled by L/100)."""
    xyz = _matmul(image, _RGB_TO_XYZ) / constant(_WHITE)
    delta = 6.0 / 29.0
    cube = positive_pow(ops.maximum(xyz, delta**3), 1.0 / 3.0)
    f = ops.where(xyz > delta**3, cube, xyz / (3.0 * delta**2) + 4.0 / 29.0)
    fx, fy, fz = ops.unstack(f, axis=-1)
    lum = 116.0 * fy - 16.0
    return ops.stack([lum, 0.01 * lum * 500.0 * (fx - fy), 0.01 * lum * 200.0 * (fy - fz)], axis=-1)


def hyab(first: Tensor, second: Tensor) -> Tensor:
    """|ΔL| + ‖(Δa, Δb)‖, floored by EPS inside the roots (finite gradients at 0)."""
    delta = first - second
    lightness = ops.sqrt(ops.maximum(ops.square(delta[..., :1]), EPS))
    chroma = ops.sqrt(ops.sum(ops.square(delta[..., 1:]), axis=-1, keepdims=True) + EPS)
    return lightness + chroma


def _c_max() -> float:
    """HyAB^QC between Hunt-adjusted pure green and pure blue, in NumPy (no tensors at import)."""

    def lab(rgb: np.ndarray) -> np.ndarray:
        xyz = _RGB_TO_XYZ @ rgb / _WHITE
        delta = 6.0 / 29.0
        f = np.where(xyz > delta**3, np.cbrt(xyz), xyz / (3.0 * delta**2) + 4.0 / 29.0)
        lum = 116.0 * f[1] - 16.0
        return np.array(
            [lum, 0.01 * lum * 500.0 * (f[0] - f[1]), 0.01 * lum * 200.0 * (f[1] - f[2])]
        )

    delta = lab(np.array([0.0, 1.0, 0.0])) - lab(np.array([0.0, 0.0, 1.0]))
    distance = math.sqrt(max(delta[0] ** 2, EPS)) + math.sqrt(delta[1] ** 2 + delta[2] ** 2 + EPS)
    return float(distance**QC)


# ---------------------------------------------------------------- the metric


def _separable(image: Tensor, along_w: np.ndarray, along_h: np.ndarray) -> Tensor:
    """Replicate-pad, then filter channel c along the width with along_w[:, c] and along the
    height with along_h[:, c] (VALID: the output has the input's size)."""
    radius = along_w.shape[0] // 2
    rows = depthwise(pad_replicate(image, radius), along_w[None, :, :, None])
    return depthwise(rows, along_h[:, None, :, None])


class _Flip:
    """The FLIP map with its constants computed once (filter factors, c_max)."""

    def __init__(self, color_order: str, ppd: float) -> None:
        self.bgr = color_order.lower() == "bgr"
        self.csf, self.csf_channels = csf_separable(ppd)
        self.features = feature_separable(ppd)
        self.c_max = _c_max()

    def _filter_opponent(self, opponent: Tensor) -> Tensor:
        stacked = ops.concatenate([opponent[..., c : c + 1] for c in self.csf_channels], axis=-1)
        terms = _separable(stacked, self.csf, self.csf)
        merged = [None, None, None]
        for index, channel in enumerate(self.csf_channels):
            term = terms[..., index : index + 1]
            merged[channel] = term if merged[channel] is None else merged[channel] + term
        return ops.concatenate(merged, axis=-1)

    def _prepare(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        image = ops.clip(ops.cast(image, "float32"), 0.0, 1.0)
        if self.bgr:
            image = ops.flip(image, axis=-1)
        opponent = linear_to_ycxcz(srgb_to_linear(image))
        filtered = ops.clip(ycxcz_to_linear(self._filter_opponent(opponent)), 0.0, 1.0)
        lab = linear_to_hunt_lab(filtered)
        achromatic = (opponent[..., :1] + 16.0) / 116.0
        responses = _separable(ops.tile(achromatic, [1, 1, 1, 4]), *self.features)
        edges = ops.sqrt(ops.sum(ops.square(responses[..., :2]), -1, keepdims=True) + EPS)
        points = ops.sqrt(ops.sum(ops.square(responses[..., 2:]), -1, keepdims=True) + EPS)
        return lab, edges, points

    def __call__(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        lab_t, edges_t, points_t = self._prepare(y_true)
        lab_p, edges_p, points_p = self._prepare(y_pred)
        power = positive_pow(hyab(lab_t, lab_p), QC)
        knee = PC * self.c_max
        color = ops.where(
            power < knee,
            (PT / knee) * power,
            PT + (power - knee) / (self.c_max - knee) * (1.0 - PT),
        )
        feature = ops.maximum(ops.abs(edges_t - edges_p), ops.abs(points_t - points_p))
        feature = positive_pow(ops.maximum(feature / math.sqrt(2.0), EPS), QF)
        return positive_pow(color, 1.0 - feature)  # color > 0: hyab >= 2·sqrt(EPS)


def make_flip(
    color_order: str = "bgr", ppd: float = PIXELS_PER_DEGREE
) -> Callable[[Tensor, Tensor], Tensor]:
    """The FLIP loss for images in ``color_order`` ("bgr" or "rgb"), map shape (N, H, W, 1)."""
    return _Flip(color_order, ppd)
