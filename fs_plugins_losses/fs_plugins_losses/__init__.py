"""fs-plugins-losses: the loss functions of fs, registered through the ``fs_losses`` hook.

Every loss takes ``(y_true, y_pred)`` as NHWC float32 tensors in [0, 1] and returns either a
per-pixel map ``(N, H, W, C or 1)`` or a per-item value ``(N,)`` (see
:class:`fs_core.descriptors.LossDescriptor`). They follow the maths of faceswap's losses
(``lib/model/losses/``), written for NHWC tensors: where faceswap's PyTorch code applies NHWC-era
axis indices to NCHW tensors, these modules apply the *intended* axes and say so in their
docstrings.

Provided: mae, mse, logcosh, smooth_loss, l_inf_norm, pixel_gradient_diff, ssim, ms_ssim, gmsd,
laploss, ffl, flip.

Not provided: the LPIPS losses (lpips_alex, lpips_squeeze, lpips_vgg16). They need ImageNet-trained
AlexNet/SqueezeNet/VGG16 trunks and the learned LPIPS linear layers; fs never downloads weights at
run time and ships none, so they cannot be offered.
The ``fs_losses_not_provided`` hook (:data:`fs_plugins_losses.plugin.LOSSES_NOT_PROVIDED`) gives
the reason for each, for the core to show.
"""
