"""The entry point of the model pack: one :class:`ModelDescriptor` per architecture.

Registered under the ``fs_core`` entry-point group (see the pack's ``pyproject.toml``). Names are
spelled as faceswap's ``-t/--trainer`` option spells them (``lib/cli/args_train.py``).
"""

from __future__ import annotations

import fs_core
from fs_core.descriptors import ModelDescriptor

# --- Phaze-A: add its import here -------------------------------------------------------------
from fs_plugins_models import (
    dfaker,
    dfl_h128,
    dfl_sae,
    dlight,
    iae,
    lightweight,
    original,
    phaze_a,
    realface,
    unbalanced,
    villain,
)

# --- end Phaze-A import ---------------------------------------------------------------------------


def _descriptors() -> list[ModelDescriptor]:
    return [
        ModelDescriptor(
            name=original.NAME,
            config_class=original.OriginalConfig,
            build=original.build,
            help="The original deepfakes autoencoder, 64 px in and out.",
        ),
        ModelDescriptor(
            name=lightweight.NAME,
            config_class=lightweight.LightweightConfig,
            build=lightweight.build,
            help="A smaller original for GPUs with little memory, 64 px.",
        ),
        ModelDescriptor(
            name=iae.NAME,
            config_class=iae.IaeConfig,
            build=iae.build,
            help="Intermediate autoencoder: shared and per-side intermediates, one decoder, 64 px.",
        ),
        ModelDescriptor(
            name=dfaker.NAME,
            config_class=dfaker.DfakerConfig,
            build=dfaker.build,
            help="Original's encoder with a residual decoder at twice the input size "
            "(128 or 256 px out).",
        ),
        ModelDescriptor(
            name=unbalanced.NAME,
            config_class=unbalanced.UnbalancedConfig,
            build=unbalanced.build,
            help="A heavier B decoder than A decoder, 64-512 px; good for swapping one way.",
        ),
        ModelDescriptor(
            name=dfl_h128.NAME,
            config_class=dfl_h128.DflH128Config,
            build=dfl_h128.build,
            help="DeepFaceLab's H128, 128 px in and out.",
        ),
        ModelDescriptor(
            name=dfl_sae.NAME,
            config_class=dfl_sae.DflSaeConfig,
            build=dfl_sae.build,
            freeze_parts=dfl_sae.encoder_part,
            load_parts=dfl_sae.encoder_part,
            legacy_part_names=dfl_sae.LEGACY_PART_NAMES,
            help="DeepFaceLab's SAE (df or liae layout), 64-256 px, optional multiscale outputs.",
        ),
        ModelDescriptor(
            name=villain.NAME,
            config_class=villain.VillainConfig,
            build=villain.build,
            help="A deep residual encoder for detail, 128 px; needs a lot of memory.",
        ),
        ModelDescriptor(
            name=realface.NAME,
            config_class=realface.RealfaceConfig,
            build=realface.build,
            help="Small input to larger output (64 to 128 px by default), heavier B decoder.",
        ),
        ModelDescriptor(
            name=dlight.NAME,
            config_class=dlight.DlightConfig,
            build=dlight.build,
            legacy_part_names=dlight.LEGACY_PART_NAMES,
            help="Light encoder, detailed B decoder, 128 px in, 128/256/384 px out.",
        ),
        # --- Phaze-A: add its ModelDescriptor here ------------------------------------------------
        ModelDescriptor(
            name=phaze_a.NAME,
            config_class=phaze_a.PhazeAConfig,
            build=phaze_a.build,
            freeze_parts=phaze_a.freeze_parts,
            load_parts=phaze_a.load_parts,
            help=phaze_a.HELP,
            presets={path.stem: str(path) for path in sorted(phaze_a.PRESET_DIR.glob("*.toml"))},
        ),
        # --- end Phaze-A descriptor -------------------------------------------------------------
    ]


@fs_core.hookimpl
def fs_models() -> list[ModelDescriptor]:
    """The architectures of this pack."""
    return _descriptors()
