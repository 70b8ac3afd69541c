"""Turning the training-step extensions on for a session.

Which extensions take part is decided from the options in force each session (they are
changeable: a GAN is turned on late). Their parts are created under the session's strategy scope
and precision, then resumed from ``weights.h5`` when it holds them; parts the file holds for an
extension that is off now are carried to the next save unchanged.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import keras

from fs_core.errors import FsUserError
from fs_core.extensions import saved
from fs_core.extensions.api import ExtensionContext, TrainingExtension
from fs_core.extensions.forward import Forward, make_forward
from fs_core.folder.layout import weights_file
from fs_core.model.weights import parts_of

if TYPE_CHECKING:
    import keras

    from fs_core.training.session import TrainingSession


@attrs.define(eq=False)
class ActiveExtensions:
    """The extensions of a session, the forward pass they need, and the saved datasets of parts
    that are off this session (written back at each save)."""

    names: tuple[str, ...]
    extensions: list[TrainingExtension]
    forward: Forward | None  # None when no extension is on (only dormant parts to carry)
    dormant: list[tuple[str, Any]] = attrs.field(factory=list)

    def parts(self) -> dict[str, keras.Model]:
        return {name: part for ext in self.extensions for name, part in ext.parts().items()}

    def optimizers(self) -> dict[str, Any]:
        return {name: opt for ext in self.extensions for name, opt in ext.optimizers().items()}

    def state_variables(self) -> list[Any]:
        """Every variable the extensions change while training: their parts' weights and their
        optimizers' state (the learning rate finder puts them back after its sweep)."""
        variables: list[Any] = []
        for part in self.parts().values():
            variables += list(part.weights)
        for optimizer in self.optimizers().values():
            variables += list(optimizer.variables)
        return variables

    def saved_entries(self, with_optimizer: bool) -> list[tuple[str, Any]]:
        """What :func:`fs_core.model.weights.save_weights` writes for the extensions."""
        entries: list[tuple[str, Any]] = []
        for name, part in self.parts().items():
            entries += saved.part_entries(name, part)
        if with_optimizer:
            for name, optimizer in self.optimizers().items():
                entries += saved.optimizer_entries(name, optimizer)
        return entries + list(self.dormant)

    def restore(self, path: Path, notify: Callable[[str], None] | None = None) -> None:
        """Resume the parts (and their optimizers' state) saved in ``path``."""
        arrays = saved.read_saved(path)
        statuses = {
            name: saved.restore_part(name, part, arrays) for name, part in self.parts().items()
        }
        for name, optimizer in self.optimizers().items():
            if statuses.get(name) == "resumed":
                saved.restore_optimizer(name, optimizer, arrays)
        self.dormant = saved.dormant_entries(arrays, set(self.parts()))
        if notify is not None:
            saved.describe_restored(statuses, notify)


#: the ``-d`` strategies the extended step runs under (its backend reduces every network's
#: gradients): one device, and PyTorch's ``ddp``
EXTENDED_STRATEGIES: tuple[str, ...] = ("default", "ddp")


def _seed(session: TrainingSession) -> int:
    """``--seed``, else a fresh one; the chief's on every worker (LR dropout's masks key on it,
    and workers that drew different masks would train different models)."""
    seed = session.request.seed
    if seed is not None:
        return int(seed)
    return session.distribution.chief_value(secrets.randbits(31))


def enabled_descriptors(registry: Any, config: Any) -> list[Any]:
    """The installed extensions the options turn on, in order; FsUserError when ``[training_step]
    extensions`` names one that is not installed."""
    installed = registry.training_extensions
    missing = [name for name in config.training_step.extensions if name not in installed]
    if missing:
        raise FsUserError(
            f"[training_step] extensions: '{missing[0]}' is not installed (installed: "
            f"{', '.join(sorted(installed)) or 'none'})",
            config.path,
        )
    chosen = [d for d in installed.values() if d.is_enabled(config)]
    return sorted(chosen, key=lambda d: (d.order, d.name))


def activate(
    session: TrainingSession, mask_names: tuple[str, ...], masked: bool
) -> ActiveExtensions | None:
    """The session's extensions, made and resumed. With none on: None (the plain step), or, when
    ``weights.h5`` holds parts of extensions now off, an empty set that only carries them."""
    descriptors = enabled_descriptors(session.registry, session.config)
    names = tuple(d.name for d in descriptors)
    if names and session.distribution.name not in EXTENDED_STRATEGIES:
        raise FsUserError(
            f"training-step extensions ({', '.join(names)}) train on one device or under "
            f"-d ddp only; use -d default or turn them off in [training_step]",
            session.config.path,
        )
    weights = weights_file(session.request.model_dir)
    if not descriptors:
        dormant = saved.dormant_entries(saved.read_saved(weights), set())
        return ActiveExtensions((), [], None, dormant) if dormant else None

    context = ExtensionContext(
        config=session.config,
        built=session.built,
        mask_names=mask_names,
        masked=masked,
        learning_rate=float(session.config.global_.learning_rate),
        precision_policy=str(keras.config.dtype_policy().name),
        seed=_seed(session),
        iterations=session.state.iterations,
    )
    needs: set[str] = set()
    for descriptor in descriptors:
        needs |= descriptor.needs
    try:
        forward = make_forward(session.built, needs, masked)
    except FsUserError as error:  # an option the model cannot honour: name the config file
        raise FsUserError(error.message, session.config.path) from None
    with session.distribution.scope():
        extensions = [descriptor.make(context) for descriptor in descriptors]
    active = ActiveExtensions(names=names, extensions=extensions, forward=forward)
    _check_parts(active, session)
    for name, optimizer in active.optimizers().items():
        optimizer.build(active.parts()[name].trainable_variables)
    active.restore(weights, session.print)
    for extension in extensions:
        session.print(f"Training extension: {extension.describe()}")
    return active


def _check_parts(active: ActiveExtensions, session: TrainingSession) -> None:
    """Part names must be unique and differ from the model's; each part needs an optimizer."""
    seen: dict[str, int] = {}
    for extension in active.extensions:
        for name in extension.parts():
            seen[name] = seen.get(name, 0) + 1
    clash = sorted(n for n, count in seen.items() if count > 1 or n in parts_of(session.model))
    if clash:
        raise FsUserError(f"training extensions give part '{clash[0]}' twice (or as the model's)")
    optimizers: Mapping[str, Any] = active.optimizers()
    lacking = sorted(set(seen) - set(optimizers))
    if lacking:
        raise FsUserError(f"training extension part '{lacking[0]}' has no optimizer")


def activate_extensions(session: TrainingSession, composer: Any) -> ActiveExtensions | None:
    """:func:`activate` with the masks of the session's loss composition: the face mask is used
    by the extensions (masked GAN, style losses) when the batches carry it, and the GAN judges
    inside it when the loss does (``penalized_mask_loss``)."""
    mask_names = tuple(composer.mask_names)
    masked = "face" in mask_names and bool(session.config.loss.penalized_mask_loss)
    return activate(session, mask_names, masked)
