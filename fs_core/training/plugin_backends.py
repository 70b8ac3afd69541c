"""The plugins a training run uses, and the refusal when one of them does not run on its backend.

A plugin that calls a framework itself declares the Keras backends it works on (the descriptor's
``backends``, or its pack's ``fs_backends`` hook; docs/plugins.md). Without this check a torch run
with a TensorFlow-only loss would fail deep in the first step with a framework traceback; here it
stops before the model is built, in one line that names the plugin, its pack, the backends it
supports and the one running, and how to switch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fs_core.data.sampler import choose_sampler
from fs_core.descriptors import KERAS_BACKENDS
from fs_core.errors import FsUserError
from fs_core.extensions.activate import enabled_descriptors
from fs_core.losses.selection import LOSS_SLOTS, NONE

if TYPE_CHECKING:
    from fs_core.config import Config
    from fs_core.plugin_manager import Registry


def plugins_in_use(registry: Registry, config: Config, model_name: str) -> list[tuple[str, str]]:
    """(kind, name) of every registered plugin item a run of ``model_name`` under ``config`` will
    call: the model, the losses with a weight, the optimizer, the initializers the global switches
    ask for, the augmenters and sampler the ``[augmentation]`` options turn on, and the training
    extensions. Names that are not registered are left out (their own checks say so)."""
    used: list[tuple[str, str]] = [("model", model_name)]
    for option, weight_option in LOSS_SLOTS:
        name = getattr(config.loss, option)
        weighted = weight_option is None or float(getattr(config.loss, weight_option)) > 0
        if name != NONE and weighted:
            used.append(("loss", name))
    used.append(("optimizer", config.global_.optimizer))
    for switch, initializer in (("conv_aware_init", "conv_aware"), ("icnr_init", "icnr")):
        if getattr(config.global_, switch, False):
            used.append(("initializer", initializer))
    options = config.augmentation
    used += [("augmenter", a.name) for a in registry.augmenters.values() if a.enabled(options)]
    sampler = choose_sampler(registry.samplers, options, config.path)
    if sampler is not None:
        used.append(("sampler", sampler.name))
    used += [("training_extension", d.name) for d in enabled_descriptors(registry, config)]
    return [item for item in dict.fromkeys(used) if item[1] in registry.of_kind(item[0])]


def check_plugin_backends(
    registry: Registry, config: Config, model_name: str, backend_name: str
) -> None:
    """FsUserError, one line, when a plugin the run uses does not declare ``backend_name``."""
    refused = []
    for kind, name in plugins_in_use(registry, config, model_name):
        supported = registry.backends_of(kind, name)
        if supported is None or backend_name in supported:
            continue
        provider = registry.provider(kind, name)
        pack = f"{provider.distribution} {provider.version}" if provider else "unknown pack"
        refused.append((f"{kind.replace('_', ' ')} '{name}' ({pack})", supported))
    if not refused:
        return
    described = "; ".join(f"{who} runs on {', '.join(backends)} only" for who, backends in refused)
    common = [b for b in KERAS_BACKENDS if all(b in backends for _, backends in refused)]
    switch = (
        " or ".join(f"--backend {name}" for name in common)
        if common
        else "no backend runs them all; choose other plugins"
    )
    raise FsUserError(f"{described}, and this run is on {backend_name}: {switch}")
