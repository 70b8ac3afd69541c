"""The ``fs_losses`` hook of fs-plugins-losses: every loss as a :class:`LossDescriptor`.

LPIPS (lpips_alex, lpips_squeeze, lpips_vgg16) is not provided: it needs ImageNet-trained trunks
and the learned LPIPS layers, which fs cannot download at run time and does not ship.
The ``fs_losses_not_provided`` hook gives the reason (:data:`LOSSES_NOT_PROVIDED`) so the core
can explain a config that asks for one.
"""

from __future__ import annotations

import fs_core
from fs_core.descriptors import LossDescriptor
from fs_plugins_losses import ffl, flip, gmsd, gradient, laploss, pixel, ssim

_LPIPS_REASON = (
    "LPIPS needs pretrained ImageNet networks ({trunk}) and the learned LPIPS layers; "
    "fs ships no pretrained weights and never downloads them, so it is not available"
)
LOSSES_NOT_PROVIDED = {
    "lpips_alex": _LPIPS_REASON.format(trunk="AlexNet"),
    "lpips_squeeze": _LPIPS_REASON.format(trunk="SqueezeNet 1.1"),
    "lpips_vgg16": _LPIPS_REASON.format(trunk="VGG16"),
}


def descriptors() -> list[LossDescriptor]:
    """All losses of the pack (a new list each call: the flip constants are built here)."""
    return [
        LossDescriptor("mae", pixel.mae, per_pixel=True, help="Mean absolute error (L1)."),
        LossDescriptor("mse", pixel.mse, per_pixel=True, help="Mean squared error (L2)."),
        LossDescriptor(
            "logcosh",
            pixel.logcosh,
            per_pixel=True,
            help="Log-cosh: L2 near zero, L1 for large errors.",
        ),
        LossDescriptor(
            "smooth_loss",
            pixel.smooth_loss,
            per_pixel=True,
            help="Barron's generalized loss, alpha 1 (Charbonnier), beta 1/255.",
        ),
        LossDescriptor(
            "l_inf_norm",
            pixel.l_inf_norm,
            per_pixel=False,
            help="Largest absolute error per channel, averaged over channels.",
        ),
        LossDescriptor(
            "pixel_gradient_diff",
            gradient.pixel_gradient_diff,
            per_pixel=True,
            help="Difference of first and second image derivatives.",
        ),
        LossDescriptor(
            "ssim",
            ssim.ssim,
            per_pixel=True,
            help="Structural dissimilarity, 1 - SSIM (11 px Gaussian window).",
        ),
        LossDescriptor(
            "ms_ssim",
            ssim.ms_ssim,
            per_pixel=True,
            help="Multi-scale SSIM over 5 scales (outputs of 48 px or more).",
        ),
        LossDescriptor(
            "gmsd",
            gmsd.gmsd,
            per_pixel=True,
            help="Gradient magnitude similarity deviation (5x5 Scharr-like edges, both "
            "kernels on every channel as published; faceswap's kernel reshape "
            "gives B only vertical and R only horizontal edges).",
        ),
        LossDescriptor(
            "laploss",
            laploss.laploss,
            per_pixel=True,
            help="L1 between Laplacian pyramids (5 levels).",
        ),
        LossDescriptor(
            "ffl",
            ffl.ffl,
            per_pixel=True,
            help="Focal frequency loss: weighted squared FFT distance.",
        ),
        LossDescriptor(
            "flip",
            flip.make_flip("bgr"),
            per_pixel=True,
            primary_allowed=False,
            help="NVIDIA LDR-FLIP perceptual difference (BGR faces); not as primary.",
        ),
    ]


@fs_core.hookimpl
def fs_losses() -> list[LossDescriptor]:
    return descriptors()


@fs_core.hookimpl
def fs_losses_not_provided() -> dict[str, str]:
    return dict(LOSSES_NOT_PROVIDED)
