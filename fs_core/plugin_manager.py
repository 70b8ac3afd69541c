"""Finding plugins: the core's built-ins first, then every pack's ``fs_core`` entry point.

Built-ins are modules registered with the same :class:`pluggy.PluginManager` as external packs, so a
pack can do everything a built-in does. A pack that fails to import, whose hook raises, or that
returns something other than descriptors is recorded in :attr:`Registry.failures` and skipped; the
rest still works. Two plugins giving the same name to the same kind is an error naming both
distributions.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Any

import attrs
import pluggy

from fs_core import hookspecs
from fs_core.descriptors import (
    KERAS_BACKENDS,
    AugmenterDescriptor,
    ColorAdjustmentDescriptor,
    InitializerDescriptor,
    LossDescriptor,
    MaskBlendDescriptor,
    ModelDescriptor,
    OptimizerDescriptor,
    SamplerDescriptor,
    ScalerDescriptor,
    TrainingExtensionDescriptor,
    WriterDescriptor,
    check_backend_names,
)
from fs_core.errors import FsUserError
from fs_core.lifecycle import Lifecycle
from fs_core.version import __version__

ENTRY_POINT_GROUP = hookspecs.PROJECT
DISABLE_ENV = "FS_DISABLE_PLUGINS"

#: the core's own plugins, registered exactly like packs. Where they live: a kind of plugin with a
#: package of its own (augment/, convert/, extensions/) keeps its built-ins in that package, beside
#: the machinery they plug into; every other built-in (optimizers, initializers, samplers, status
#: line, previews, TensorBoard, snapshots, the record) is a module of builtins/.
BUILTIN_MODULES: tuple[str, ...] = (
    "fs_core.builtins.initializers",
    "fs_core.builtins.optimizers",
    "fs_core.augment.builtin",
    "fs_core.builtins.samplers",
    "fs_core.builtins.reporting",
    "fs_core.builtins.preview",
    "fs_core.builtins.timelapse",
    "fs_core.builtins.tensorboard",
    "fs_core.builtins.snapshots",
    "fs_core.builtins.record",  # after snapshots: its save hook runs last (see its docstring)
    "fs_core.convert.builtin",
    "fs_core.convert.writers",
    "fs_core.extensions.builtin",
)


@attrs.frozen
class Kind:
    """One kind of plugin item: the hook that declares it, its descriptor class, and the
    :class:`Registry` attribute that holds it by name."""

    hook: str
    descriptor: type
    attribute: str


KINDS: dict[str, Kind] = {
    "model": Kind("fs_models", ModelDescriptor, "models"),
    "loss": Kind("fs_losses", LossDescriptor, "losses"),
    "initializer": Kind("fs_initializers", InitializerDescriptor, "initializers"),
    "augmenter": Kind("fs_augmenters", AugmenterDescriptor, "augmenters"),
    "sampler": Kind("fs_samplers", SamplerDescriptor, "samplers"),
    "optimizer": Kind("fs_optimizers", OptimizerDescriptor, "optimizers"),
    "convert_color": Kind("fs_convert_colors", ColorAdjustmentDescriptor, "convert_colors"),
    "convert_mask_blend": Kind(
        "fs_convert_mask_blends", MaskBlendDescriptor, "convert_mask_blends"
    ),
    "convert_scaler": Kind("fs_convert_scalers", ScalerDescriptor, "convert_scalers"),
    "convert_writer": Kind("fs_convert_writers", WriterDescriptor, "convert_writers"),
    "training_extension": Kind(
        "fs_training_extensions", TrainingExtensionDescriptor, "training_extensions"
    ),
}


@attrs.frozen
class PluginInfo:
    """One registered plugin (a module): where it came from and what it provides."""

    name: str
    distribution: str
    version: str
    provides: tuple[tuple[str, str], ...] = ()  # (kind, item name)
    #: the Keras backends its ``fs_backends`` hook declares for all its items; None: not declared
    backends: tuple[str, ...] | None = None


@attrs.frozen
class PluginFailure:
    name: str
    distribution: str
    reason: str


@attrs.define
class Registry:
    """Everything the installed plugins provide, by kind, name -> descriptor."""

    models: dict[str, ModelDescriptor] = attrs.field(factory=dict)
    losses: dict[str, LossDescriptor] = attrs.field(factory=dict)
    initializers: dict[str, InitializerDescriptor] = attrs.field(factory=dict)
    augmenters: dict[str, AugmenterDescriptor] = attrs.field(factory=dict)
    samplers: dict[str, SamplerDescriptor] = attrs.field(factory=dict)
    optimizers: dict[str, OptimizerDescriptor] = attrs.field(factory=dict)
    convert_colors: dict[str, ColorAdjustmentDescriptor] = attrs.field(factory=dict)
    convert_mask_blends: dict[str, MaskBlendDescriptor] = attrs.field(factory=dict)
    convert_scalers: dict[str, ScalerDescriptor] = attrs.field(factory=dict)
    convert_writers: dict[str, WriterDescriptor] = attrs.field(factory=dict)
    training_extensions: dict[str, TrainingExtensionDescriptor] = attrs.field(factory=dict)
    plugins: list[PluginInfo] = attrs.field(factory=list)
    failures: list[PluginFailure] = attrs.field(factory=list)
    #: loss names a pack knows but cannot offer, with the reason (``fs_losses_not_provided``)
    losses_not_provided: dict[str, str] = attrs.field(factory=dict)
    disabled: tuple[str, ...] = ()
    manager: pluggy.PluginManager | None = None

    def of_kind(self, kind: str) -> dict[str, Any]:
        """Name -> descriptor for ``kind`` (a key of :data:`KINDS`)."""
        items: dict[str, Any] = getattr(self, KINDS[kind].attribute)
        return items

    def provider(self, kind: str, name: str) -> PluginInfo | None:
        """The plugin that registered ``name`` of ``kind``; None when none did."""
        for info in self.plugins:
            if (kind, name) in info.provides:
                return info
        return None

    def backends_of(self, kind: str, name: str) -> tuple[str, ...] | None:
        """The Keras backends item ``name`` of ``kind`` works on: its descriptor's ``backends``
        within its plugin's ``fs_backends``, in :data:`KERAS_BACKENDS` order; None when neither
        declares any (every backend)."""
        declared = [getattr(self.of_kind(kind)[name], "backends", None)]
        provider = self.provider(kind, name)
        declared.append(provider.backends if provider is not None else None)
        sets = [set(value) for value in declared if value is not None]
        if not sets:
            return None
        return tuple(b for b in KERAS_BACKENDS if all(b in chosen for chosen in sets))

    def model_config_classes(self) -> dict[str, type]:
        """Model name -> its config class, as :func:`fs_core.config.load_config` takes them."""
        return {name: descriptor.config_class for name, descriptor in self.models.items()}

    def hook(self) -> Lifecycle:
        """The lifecycle hooks, typed (``registry.hook().fs_train_start(session=...)``)."""
        assert self.manager is not None
        return Lifecycle(self.manager.hook)


def _disabled_names(disabled: Iterable[str] | None) -> tuple[str, ...]:
    names = set(disabled or ())
    names.update(n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip())
    return tuple(sorted(names))


def _requirement_problem(dist: metadata.Distribution) -> str | None:
    """A pack may require a minimum fs-core (``fs-core>=X`` in its dependencies)."""
    for requirement in dist.requires or ():
        text = requirement.split(";")[0].replace(" ", "")
        if not text.lower().startswith(("fs-core>=", "fs_core>=")):
            continue
        wanted = text.split(">=", 1)[1].split(",")[0]
        if _version_tuple(__version__) < _version_tuple(wanted):
            return f"needs fs-core >= {wanted}, this is fs-core {__version__}; upgrade fs-core"
    return None


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _entry_points() -> list[tuple[metadata.EntryPoint, metadata.Distribution | None]]:
    found: list[tuple[metadata.EntryPoint, metadata.Distribution | None]] = []
    for distribution in metadata.distributions():
        for ep in distribution.entry_points:
            if ep.group == ENTRY_POINT_GROUP:
                found.append((ep, distribution))
    # one distribution can appear twice on sys.path (e.g. editable + build dir): keep the first.
    # Two *different* distributions using one entry-point name both stay, so the second one's
    # registration fails and is reported naming it, instead of one pack silently hiding the other.
    unique: list[tuple[metadata.EntryPoint, metadata.Distribution | None]] = []
    seen = set()
    for ep, dist in found:
        key = ((dist.metadata["Name"] or "").lower() if dist is not None else "?", ep.name)
        if key not in seen:
            seen.add(key)
            unique.append((ep, dist))
    return unique


def load_registry(
    disabled: Iterable[str] | None = None,
    builtins: Iterable[str] = BUILTIN_MODULES,
    extra_plugins: Mapping[str, Any] | None = None,
    entry_points: bool = True,
) -> Registry:
    """Register built-ins, then entry points (then ``extra_plugins``, for tests), and collect."""
    blocked = _disabled_names(disabled)
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    registration = _Registration(Registry(disabled=blocked, manager=manager), manager)
    registration.register_builtins(builtins)
    if entry_points:
        registration.register_entry_points()
    for name, module in (extra_plugins or {}).items():
        registration.register(name, module, name, "0")
    _drop_unknown_hooks(registration.registry, manager, registration.origins)
    _collect(registration.registry, manager, registration.origins)
    return registration.registry


@attrs.define
class _Registration:
    """Modules registered so far with ``manager``; ``origins`` maps each to its (distribution,
    version), and what fails goes to ``registry.failures``."""

    registry: Registry
    manager: pluggy.PluginManager
    origins: dict[str, tuple[str, str]] = attrs.field(factory=dict)

    def register(self, name: str, module: Any, dist: str, version: str) -> None:
        try:
            self.manager.register(module, name)
        except Exception as error:  # pluggy validation: wrong hook names or arguments
            self._fail(name, dist, f"invalid plugin: {error}")
            return
        self.origins[name] = (dist, version)

    def register_builtins(self, module_names: Iterable[str]) -> None:
        blocked = self.registry.disabled
        for module_name in module_names:
            if module_name in blocked or module_name.rsplit(".", 1)[-1] in blocked:
                continue
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as error:
                if error.name == module_name:  # fs itself is broken, not a plugin: say so at once
                    raise ImportError(
                        f'built-in plugin module "{module_name}" is missing from this fs '
                        "installation"
                    ) from error
                self._fail(module_name, "fs-core", f"import failed: {error}")
                continue
            except Exception as error:
                self._fail(module_name, "fs-core", f"import failed: {error}")
                continue
            self.register(module_name, module, "fs-core", __version__)

    def register_entry_points(self) -> None:
        blocked = self.registry.disabled
        for ep, dist in _entry_points():
            dist_name = dist.metadata["Name"] if dist is not None else "?"
            version = dist.version if dist is not None else "?"
            if ep.name in blocked or dist_name in blocked:
                continue
            problem = _requirement_problem(dist) if dist is not None else None
            if problem:
                self._fail(ep.name, dist_name, problem)
                continue
            try:
                module = ep.load()
            except Exception as error:
                self._fail(ep.name, dist_name, f"import failed: {type(error).__name__}: {error}")
                continue
            self.register(ep.name, module, dist_name, version)

    def _fail(self, name: str, dist: str, reason: str) -> None:
        self.registry.failures.append(PluginFailure(name, dist, reason))


def _drop_unknown_hooks(
    registry: Registry, manager: pluggy.PluginManager, origins: dict[str, tuple[str, str]]
) -> None:
    """A plugin implementing a hook fs does not have (a typo, or a newer fs) is reported and
    unregistered, instead of pluggy's check_pending failing the whole start-up."""
    for hook_name in dir(manager.hook):
        caller = getattr(manager.hook, hook_name)
        if hook_name.startswith("_") or not hasattr(caller, "has_spec") or caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            dist = origins.pop(impl.plugin_name, ("?",))[0]
            registry.failures.append(
                PluginFailure(impl.plugin_name, dist, f"implements unknown hook '{hook_name}'")
            )
            manager.unregister(name=impl.plugin_name)


def _collect(
    registry: Registry, manager: pluggy.PluginManager, origins: dict[str, tuple[str, str]]
) -> None:
    _collect_losses_not_provided(registry, manager, origins)
    owner: dict[tuple[str, str], str] = {}
    provides: dict[str, list[tuple[str, str]]] = {name: [] for name in origins}
    failed: set[str] = set()
    pack_backends = _collect_pack_backends(registry, manager, origins, failed)
    refused = set(failed)
    for kind, spec in KINDS.items():
        hook_name, descriptor_class = spec.hook, spec.descriptor
        for impl in getattr(manager.hook, hook_name).get_hookimpls():
            plugin_name = impl.plugin_name
            if plugin_name in refused:  # its fs_backends failed: reported already
                continue
            dist, _ = origins.get(plugin_name, (plugin_name, "?"))
            try:
                items = impl.function()
                items = list(items or [])
                bad = [item for item in items if not isinstance(item, descriptor_class)]
                if bad:
                    raise TypeError(
                        f"{hook_name}() must return {descriptor_class.__name__} objects, "
                        f"got {type(bad[0]).__name__}"
                    )
                for item in items:
                    _check_descriptor(item)
                    _check_item_backends(item, pack_backends.get(plugin_name))
            except Exception as error:
                registry.failures.append(
                    PluginFailure(plugin_name, dist, f"{hook_name} failed: {error}")
                )
                failed.add(plugin_name)
                continue
            target = registry.of_kind(kind)
            for item in items:
                if item.name in registry.disabled:
                    continue
                key = (kind, item.name)
                if key in owner:
                    first = origins.get(owner[key], (owner[key],))[0]
                    raise FsUserError(
                        f"two plugins register the {kind} '{item.name}': {first} and "
                        f"{dist}; uninstall one or disable it with {DISABLE_ENV}"
                    )
                owner[key] = plugin_name
                target[item.name] = item
                provides[plugin_name].append(key)
    for name in failed:  # a pack with one broken hook is skipped whole, lifecycle hooks included
        for kind, item_name in provides.get(name, ()):
            registry.of_kind(kind).pop(item_name, None)
        if manager.get_plugin(name) is not None:
            manager.unregister(name=name)
    for name, (dist, version) in origins.items():
        if name not in failed:
            registry.plugins.append(
                PluginInfo(
                    name, dist, version, tuple(provides.get(name, ())), pack_backends.get(name)
                )
            )


def _collect_pack_backends(
    registry: Registry,
    manager: pluggy.PluginManager,
    origins: dict[str, tuple[str, str]],
    failed: set[str],
) -> dict[str, tuple[str, ...]]:
    """Plugin name -> the backends its ``fs_backends`` declares; a plugin whose declaration is
    not a list of known backend names is reported and added to ``failed`` (skipped whole)."""
    declared: dict[str, tuple[str, ...]] = {}
    for impl in manager.hook.fs_backends.get_hookimpls():
        dist = origins.get(impl.plugin_name, (impl.plugin_name, "?"))[0]
        try:
            value = impl.function()
            if isinstance(value, str) or not isinstance(value, (list, tuple)):
                raise TypeError(f"must return a list of backend names, got {value!r}")
            names = tuple(value)
            check_backend_names(names, "its list")
        except Exception as error:
            registry.failures.append(
                PluginFailure(impl.plugin_name, dist, f"fs_backends failed: {error}")
            )
            failed.add(impl.plugin_name)
            continue
        declared[impl.plugin_name] = names
    return declared


def _check_item_backends(item: Any, pack: tuple[str, ...] | None) -> None:
    """An item's own ``backends`` must share at least one backend with its pack's."""
    own = getattr(item, "backends", None)
    if own is not None and pack is not None and not set(own) & set(pack):
        raise ValueError(
            f"{type(item).__name__} '{item.name}' declares backends {', '.join(own)}, none of "
            f"which the plugin's fs_backends ({', '.join(pack)}) allows"
        )


def _collect_losses_not_provided(
    registry: Registry, manager: pluggy.PluginManager, origins: dict[str, tuple[str, str]]
) -> None:
    """``fs_losses_not_provided``: name -> reason, both strings, or the plugin is reported."""
    for impl in manager.hook.fs_losses_not_provided.get_hookimpls():
        dist = origins.get(impl.plugin_name, (impl.plugin_name, "?"))[0]
        try:
            declared = impl.function()
        except Exception as error:
            registry.failures.append(
                PluginFailure(impl.plugin_name, dist, f"fs_losses_not_provided failed: {error}")
            )
            continue
        if not isinstance(declared, dict) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in declared.items()
        ):
            registry.failures.append(
                PluginFailure(
                    impl.plugin_name,
                    dist,
                    "fs_losses_not_provided must return a dict of loss name -> reason (strings)",
                )
            )
            continue
        registry.losses_not_provided.update(declared)


def _check_descriptor(item: Any) -> None:
    """What a descriptor's own validators cannot see: callables that are not callable, and a model
    config class that is not an attrs class with defaults (``fs config`` renders every model's
    class, so one bad class would break it for every model)."""
    for field in ("build", "function", "make", "apply"):
        if hasattr(item, field) and not callable(getattr(item, field)):
            raise TypeError(
                f"{type(item).__name__} '{item.name}': {field} must be callable, "
                f"got {type(getattr(item, field)).__name__}"
            )
    if isinstance(item, ModelDescriptor):
        if not attrs.has(item.config_class):
            raise TypeError(
                f"ModelDescriptor '{item.name}': config_class must be an attrs class "
                f"whose fields are fs_core.config.option(...), got {item.config_class!r}"
            )
        try:
            item.config_class()
        except Exception as error:
            raise TypeError(
                f"ModelDescriptor '{item.name}': config_class() with its defaults "
                f"failed: {type(error).__name__}: {error}"
            ) from None


_CACHE: dict[tuple[str, ...], Registry] = {}


def get_registry(disabled: Iterable[str] | None = None) -> Registry:
    """The registry for this set of disabled names, loaded once per process."""
    key = _disabled_names(disabled)
    if key not in _CACHE:
        _CACHE[key] = load_registry(key)
    return _CACHE[key]
