"""The core's configuration sections, grouped as faceswap's training settings are.

``[global]`` (face crop, initialization, optimizer, LR finder, network, convert), ``[global.loss]``,
``[global.mask]``, ``[augmentation]`` and ``[convert]`` (``fs convert``'s options, defined with
convert in :mod:`fs_core.config.convert`). Each model plugin adds ``[model.<name>]``.
Defaults and ranges follow faceswap's training configuration (``plugins/train/train_config.py``).
"""

from __future__ import annotations

import attrs

from fs_core.backend.choose import OPTION_VALUES as BACKEND_VALUES
from fs_core.config.convert import ConvertOptions
from fs_core.config.options import option

__all__ = [
    "AugmentationOptions",
    "ConvertOptions",
    "GlobalOptions",
    "LossOptions",
    "MaskOptions",
]

LOSS_NAMES_HELP = "a loss from 'fs plugins' (kind loss)"


@attrs.define
class GlobalOptions:
    # face
    centering: str = option(
        "face",
        "Where the crop is centred: face, head or legacy (older, tighter).",
        choices=("face", "head", "legacy"),
        locked=True,
    )
    coverage: float = option(
        100.0,
        "How much of the extracted face is fed to the model, in percent.",
        min=62.5,
        max=100.0,
        locked=True,
    )
    vertical_offset: float = option(
        0.0,
        "Move the crop up (negative) or down, in percent of the face.",
        min=-25.0,
        max=25.0,
        locked=True,
    )
    # initialization
    icnr_init: bool = option(
        False, "ICNR initialization of upscale convolutions (no checkerboard).", locked=True
    )
    conv_aware_init: bool = option(
        False, "Convolution-aware initialization of every convolution.", locked=True
    )
    # optimizer
    optimizer: str = option("adam", "Optimizer (see 'fs plugins', kind optimizer).", locked=True)
    learning_rate: float = option(5e-5, "Learning rate.", min=1e-6, max=1e-4)
    epsilon_exponent: int = option(-7, "Optimizer epsilon is 10 to this power.", min=-20, max=0)
    ada_beta_1: float = option(
        0.9, "First moment decay of Adam-style optimizers.", min=0.0, max=1.0, locked=True
    )
    ada_beta_2: float = option(
        0.999, "Second moment decay of Adam-style optimizers.", min=0.0, max=1.0, locked=True
    )
    ada_amsgrad: bool = option(False, "AMSGrad variant of Adam/AdamW.", locked=True)
    weight_decay: float = option(
        0.0,
        "Weight decay, never on biases or 1-D weights. As torch's "
        "optimizers: coupled L2 (wd * weight added to the gradient) for "
        "adam, nadam, adamax and rms-prop; decoupled (weights shrunk by "
        "lr * wd each step) for adamw, adabelief and lion.",
        min=0.0,
        max=1.0,
    )
    gradient_accumulation: int = option(1, "Step the optimizer every N iterations.", min=1, max=100)
    gradient_clipping: str = option(
        "none",
        "Gradient clipping method.",
        choices=("none", "autoclip", "global_norm", "norm", "value"),
    )
    clipping_value: float = option(
        1.0, "Clipping threshold (autoclip: percentile / 10).", min=0.0, max=10.0
    )
    autoclip_history: int = option(
        10000, "Gradient norms autoclip remembers (0: all).", min=0, max=100000
    )
    save_optimizer: str = option(
        "exit",
        "When the optimizer state is saved with the weights.",
        choices=("never", "always", "exit"),
    )
    # LR finder
    lr_finder_iterations: int = option(
        1000,
        "Iterations of the learning rate finder sweep (its "
        "first 10 points are not candidates, unlike faceswap, which "
        "can pick a noisy early minimum).",
        min=100,
        max=10000,
        locked=True,
    )
    lr_finder_mode: str = option(
        "set",
        "What the learning rate finder does with its result.",
        choices=("set", "graph_and_set", "graph_and_exit"),
        locked=True,
    )
    lr_finder_strength: str = option(
        "default",
        "How bold the found learning rate is.",
        choices=("default", "aggressive", "extreme"),
        locked=True,
    )
    # network
    reflect_padding: bool = option(
        False, "Reflect padding instead of zeros before convolutions.", locked=True
    )
    mixed_precision: str = option(
        "auto",
        "Compute precision: auto (the fastest for this machine: mixed_float16 on GPUs with "
        "tensor cores, mixed_bfloat16 on CPUs with AMX, else float32), none (float32), "
        "mixed_float16 (GPU, with loss scaling) or mixed_bfloat16.",
        choices=("auto", "none", "mixed_float16", "mixed_bfloat16"),
    )
    backend: str = option(
        "auto",
        "Keras backend to train on: auto (TensorFlow if it sees a GPU, else PyTorch if it sees "
        "a CUDA, ROCm or Apple GPU, else TensorFlow, the fastest on CPUs), tensorflow, torch or "
        "jax; fs train --backend overrides it. Read before Keras starts, so it applies to the "
        "whole run (see docs/backends.md).",
        choices=BACKEND_VALUES,
    )
    allow_growth: bool = option(
        False, "Let TensorFlow take GPU memory as it needs it instead of all at start (NVIDIA)."
    )
    nan_protection: bool = option(True, "Stop without saving when a loss goes NaN or infinite.")
    nan_recovery: str = option(
        "stop",
        "What NaN protection does: stop, or rollback (load the last "
        "backup, lower the learning rate, go on).",
        choices=("stop", "rollback"),
    )
    nan_lr_factor: float = option(
        0.5, "On each rollback the learning rate is multiplied by this.", min=0.01, max=0.99
    )
    nan_max_rollbacks: int = option(
        3, "Rollbacks in one session before NaN protection stops.", min=1, max=100
    )
    # collapse guard and plateau stop (docs/recipes.md)
    collapse_protection: bool = option(
        True,
        "Collapse guard: when the loss jumps and stays up (collapse_factor times its recent "
        "level for collapse_window iterations) or the reconstructions lose their variance "
        "(checked at each save), restore the last backup, multiply the learning rate by "
        "nan_lr_factor and go on.",
    )
    collapse_factor: float = option(
        3.0,
        "Collapse guard: how many times its recent level the loss must jump.",
        min=1.5,
        max=100.0,
    )
    collapse_window: int = option(
        50, "Collapse guard: iterations the jump must last.", min=5, max=10000
    )
    collapse_max_rollbacks: int = option(
        3, "Collapse guard: rollbacks in one session before it only warns.", min=1, max=100
    )
    stop_plateau_iterations: int = option(
        0,
        "Stop when the held-out loss (--holdout) has not improved by stop_plateau_fraction "
        "over this many iterations (0: never).",
        min=0,
        max=10_000_000,
    )
    stop_plateau_fraction: float = option(
        0.01,
        "Plateau stop: the improvement that counts, as a fraction of the best held-out loss.",
        min=0.0,
        max=0.5,
    )
    # snapshots and backups (retention)
    snapshot_keep: int = option(
        0,
        "Snapshots (-I) kept: the newest N; older ones are deleted once a new one is written and "
        "reads back whole (0: keep all).",
        min=0,
        max=100000,
    )
    snapshot_keep_every: int = option(
        0,
        "Beyond the newest snapshot_keep, also keep the snapshots whose iteration count is a "
        "multiple of this (0: none).",
        min=0,
        max=100000000,
    )
    backup_keep: int = option(
        3,
        "Backups kept in backups/ (one is written at each save whose average loss is a new low): "
        "the newest N.",
        min=1,
        max=100,
    )
    # record
    training_record: bool = option(
        True,
        "Write MODEL_DIR/record/ (progress, saves, previews, "
        "messages) for fs gui and fs analysis, and take commands (stop, "
        "save, snapshot, preview) from its commands/ folder.",
    )
    track_face_loss: bool = option(
        True,
        "Keep each training face's loss (a moving average over the times it is drawn) and write "
        "the table into the record at each save, for fs analysis --worst-faces and the GUI.",
    )
    # convert
    convert_batchsize: int = option(
        16, "Batch size when swapping faces with a trained model.", min=1, max=32
    )


@attrs.define
class LossOptions:
    loss_function: str = option("ssim", "Primary loss (weight 1). " + LOSS_NAMES_HELP + ".")
    loss_function_2: str = option("mse", "Second loss, or none. " + LOSS_NAMES_HELP + ".")
    loss_weight_2: float = option(
        100.0, "Weight of the second loss, in percent.", min=0.0, max=400.0
    )
    loss_function_3: str = option("none", "Third loss, or none.")
    loss_weight_3: float = option(0.0, "Weight of the third loss, in percent.", min=0.0, max=400.0)
    loss_function_4: str = option("none", "Fourth loss, or none.")
    loss_weight_4: float = option(0.0, "Weight of the fourth loss, in percent.", min=0.0, max=400.0)
    mask_loss_function: str = option("mse", "Loss of the learned mask.", choices=("mse", "mae"))
    eye_multiplier: int = option(3, "Extra weight on the eyes (1 turns it off).", min=1, max=40)
    mouth_multiplier: int = option(2, "Extra weight on the mouth (1 turns it off).", min=1, max=40)
    penalized_mask_loss: bool = option(
        True, "Only the face inside the mask counts in the loss.", locked=True
    )


@attrs.define
class MaskOptions:
    mask_type: str = option(
        "extended",
        "Mask for penalized loss and learn mask: none, components or "
        "extended (from landmarks), or a mask stored in the faces.",
        choices=(
            "none",
            "components",
            "extended",
            "bisenet-fp_face",
            "bisenet-fp_head",
            "custom_face",
            "custom_head",
            "unet-dfl",
            "vgg-clear",
            "vgg-obstructed",
        ),
        locked=True,
    )
    mask_dilation: float = option(
        0.0, "Grow (positive) or shrink the mask, in percent.", min=-5.0, max=5.0
    )
    mask_blur_kernel: int = option(
        3, "Blur of stored masks, in pixels at 128 px (made odd).", min=0, max=9
    )
    mask_threshold: int = option(
        4, "Stored mask values within this percent of 0 or 255 snap to it.", min=0, max=50
    )
    learn_mask: bool = option(False, "Train a mask output on each decoder.", locked=True)


@attrs.define
class AugmentationOptions:
    preview_images: int = option(14, "Faces per side in the preview.", min=2, max=16)
    mask_opacity: int = option(
        30, "Opacity of the mask overlay in the preview, percent.", min=0, max=100
    )
    mask_color: str = option("#ff0000", "Colour of the mask overlay in the preview.")
    zoom_amount: int = option(5, "Random zoom, percent.", min=0, max=25)
    rotation_range: int = option(10, "Random rotation, degrees.", min=0, max=25)
    shift_range: int = option(5, "Random shift, percent of the size.", min=0, max=25)
    flip_chance: int = option(50, "Chance of a horizontal flip, percent.", min=0, max=75)
    color_lightness: int = option(30, "Random lightness shift, percent.", min=0, max=75)
    color_ab: int = option(8, "Random colour (LAB a/b) shift, percent.", min=0, max=50)
    color_clahe_chance: int = option(
        50, "Chance of CLAHE contrast equalisation, percent.", min=0, max=75
    )
    color_clahe_max_size: int = option(4, "Largest CLAHE grid step.", min=1, max=8)
    # switches that the CLI flags -W -M -P -c set; they live here so a config file can set them too
    no_warp: bool = option(False, "Do not warp the input faces (-W).")
    warp_to_landmarks: bool = option(
        False, "Warp inputs toward nearest faces of the other side (-M)."
    )
    no_flip: bool = option(False, "Do not flip faces (-P).")
    no_augment_color: bool = option(False, "Do not augment colour (-c).")
    # DeepFaceLab's data options (docs/quality-tools.md); off by default
    color_transfer: str = option(
        "none",
        "Move side B's colours toward random side-A faces' inside the face mask: rct "
        "(Reinhard), lct (linear), mkl (Monge-Kantorovich), idt (iterative), sot (sliced OT).",
        choices=("none", "rct", "lct", "mkl", "idt", "sot"),
    )
    random_hsv_power: float = option(
        0.0,
        "Random hue/saturation/value jitter of side B's input faces (0 off; 0.05 typical).",
        min=0.0,
        max=0.3,
    )
    uniform_yaw: bool = option(
        False, "Sample faces evenly across yaw bins, so profiles come up as often as frontal."
    )
    uniform_yaw_bins: int = option(
        128, "Yaw bins over +-69 degrees for uniform_yaw (DeepFaceLab: 128).", min=2, max=256
    )
    blur_out_mask: bool = option(
        False, "Blur the background outside the face mask in inputs and targets (needs a mask)."
    )
    sampler: str = option(
        "epoch",
        "Which faces each batch takes: a sampler from 'fs plugins' (kind sampler); epoch is "
        "shuffled passes, uniform_yaw the same as uniform_yaw = true.",
    )
