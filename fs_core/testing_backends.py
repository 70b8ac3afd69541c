"""A pack's checks on every Keras backend: which backends a plugin breaks on, with the failure text.

A process's Keras backend is fixed when Keras is first imported, so :func:`check_on_backends`
runs the checks of :mod:`fs_core.testing` (or the pack's own) once per backend: in this process
for the backend it already runs, and in a new Python process with ``KERAS_BACKEND`` set for each
other one. A backend whose framework is not installed is skipped, and so is one the plugin does
not declare (its ``backends``, docs/plugins.md): fs refuses to train it there anyway. Every check
of one backend runs in the same process, so checking ten losses costs one start-up per backend.

    from fs_core.testing import check_on_backends

    def test_my_losses_on_every_backend():
        check_on_backends("loss", ["my_loss", "my_other_loss"])

The check function is named as ``"module:function"`` (the child process imports it), so a pack can
run its own: any function taking the plugin's name, ``registry=`` and JSON-serialisable keywords.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from fs_core.backend.detect import installed
from fs_core.descriptors import KERAS_BACKENDS
from fs_core.plugin_manager import KINDS, Registry, get_registry, load_registry

#: the check :func:`check_on_backends` runs for each kind that :mod:`fs_core.testing` checks
CHECKS: dict[str, str] = {
    "model": "fs_core.testing:check_model_plugin",
    "loss": "fs_core.testing:check_loss_plugin",
    "sampler": "fs_core.testing:check_sampler_plugin",
}
#: what the child process prints before its JSON results, so framework output cannot be mistaken
MARKER = "fs-backend-check-results: "


class BackendCheckError(AssertionError):
    """A plugin failed its checks on one or more backends; the message names each and says why."""


@attrs.frozen
class BackendOutcome:
    """One plugin on one backend: ``status`` "passed", "failed" or "skipped"; ``detail`` is the
    failure text or why it was skipped; ``seconds`` the wall time of that backend's checks."""

    name: str
    backend: str
    status: str
    detail: str = ""
    seconds: float = 0.0


@attrs.frozen
class BackendReport:
    """Every plugin on every backend asked for."""

    kind: str
    outcomes: tuple[BackendOutcome, ...]

    def of(self, status: str) -> list[BackendOutcome]:
        return [o for o in self.outcomes if o.status == status]

    def status(self, name: str, backend: str) -> str:
        """The status of plugin ``name`` on ``backend``; KeyError when it was not asked for."""
        for outcome in self.outcomes:
            if (outcome.name, outcome.backend) == (name, backend):
                return outcome.status
        raise KeyError(f"{self.kind} '{name}' on {backend} was not checked")

    def describe(self) -> str:
        """One line per plugin and backend, for a test's output."""
        return "\n".join(
            f"{self.kind} '{o.name}' on {o.backend}: {o.status}"
            + (f" ({o.detail})" if o.detail else "")
            for o in self.outcomes
        )


def check_on_backends(
    kind: str,
    names: str | Sequence[str],
    *,
    backends: Sequence[str] = KERAS_BACKENDS,
    check: str | None = None,
    plugins: Mapping[str, str] | None = None,
    timeout: float = 900.0,
    raise_on_failure: bool = True,
    **check_kwargs: Any,
) -> BackendReport:
    """Run the check of ``kind`` (:data:`CHECKS`, or ``check`` as ``"module:function"``) on
    each plugin of ``names`` on each of ``backends`` that is installed and that the plugin
    declares. Raises :class:`BackendCheckError` naming every plugin and backend that failed, with
    the failure text (``raise_on_failure=False`` returns the report instead).

    :param kind: the plugins' kind ("model", "loss", "sampler", or any with ``check``).
    :param names: the plugins' registered names.
    :param backends: the Keras backends to try (default all three).
    :param check: the check function, ``"module:function"``; called as
        ``function(name, registry=..., **check_kwargs)``.
    :param plugins: plugin name -> importable module, registered beside the installed packs (a
        plugin not installed through an entry point, e.g. one written in a test); the child
        processes import the modules by these names, so they must be on ``sys.path`` (PYTHONPATH).
    :param timeout: seconds allowed to each backend's process.
    :param raise_on_failure: raise when a check failed (else only report it).
    :param check_kwargs: keywords of the check (``options={...}`` for a model, ``size=32``); they
        travel to the child process as JSON.
    """
    function = check or CHECKS.get(kind)
    if function is None:
        raise ValueError(f"no check for kind '{kind}'; pass check='module:function'")
    names = [names] if isinstance(names, str) else list(names)
    extra = dict(plugins or {})
    spec = {"function": function, "names": names, "plugins": extra, "kwargs": check_kwargs}
    json.dumps(spec)  # fails here, with the offending value, rather than in the child
    declared = _declared_backends(kind, names, extra)
    outcomes: list[BackendOutcome] = []
    for backend in backends:
        if backend not in KERAS_BACKENDS:
            raise ValueError(f"unknown backend '{backend}' (known: {', '.join(KERAS_BACKENDS)})")
        if not installed(backend):
            outcomes += [BackendOutcome(n, backend, "skipped", "not installed") for n in names]
            continue
        wanted = [n for n in names if backend in (declared[n] or KERAS_BACKENDS)]
        outcomes += [
            BackendOutcome(n, backend, "skipped", f"declares {', '.join(declared[n] or ())} only")
            for n in names
            if n not in wanted
        ]
        if wanted:
            outcomes += _run_backend(backend, dict(spec, names=wanted), timeout)
    report = BackendReport(kind, tuple(outcomes))
    failed = report.of("failed")
    if failed and raise_on_failure:
        raise BackendCheckError(
            "; ".join(f"{kind} '{o.name}' fails on {o.backend}: {o.detail}" for o in failed)
        )
    return report


def _registry(plugins: Mapping[str, str]) -> Registry:
    """The installed plugins, plus ``plugins`` (name -> module path) when given."""
    if not plugins:
        return get_registry()
    modules = {name: importlib.import_module(path) for name, path in plugins.items()}
    return load_registry(extra_plugins=modules)


def _declared_backends(
    kind: str, names: Sequence[str], plugins: Mapping[str, str]
) -> dict[str, tuple[str, ...] | None]:
    """Each plugin's declared backends; None for all, and for a name the registry lacks (its
    check says so)."""
    registry = _registry(plugins)
    known = registry.of_kind(kind) if kind in KINDS else {}
    return {n: registry.backends_of(kind, n) if n in known else None for n in names}


def _active_backend() -> str | None:
    """The Keras backend of this process when Keras is already imported, else None (importing it
    here would fix this process's backend as a side effect)."""
    if "keras" not in sys.modules:
        return None
    return str(sys.modules["keras"].backend.backend())


def _run_backend(backend: str, spec: dict[str, Any], timeout: float) -> list[BackendOutcome]:
    start = time.perf_counter()
    if _active_backend() == backend:
        results = run_checks(spec)
    else:
        results = _run_child(backend, spec, timeout)
    seconds = time.perf_counter() - start
    return [
        BackendOutcome(name, backend, status, detail, seconds)
        for name, (status, detail) in results.items()
    ]


def _run_child(backend: str, spec: dict[str, Any], timeout: float) -> dict[str, tuple[str, str]]:
    environment = dict(os.environ, KERAS_BACKEND=backend)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "fs_core.testing_backends"],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=environment,
            check=False,
        )
    except subprocess.TimeoutExpired:
        why = f"its process ran over {timeout:.0f} s"
        return {name: ("failed", why) for name in spec["names"]}
    for line in reversed(result.stdout.splitlines()):
        if line.startswith(MARKER):
            return {k: (v[0], v[1]) for k, v in json.loads(line[len(MARKER) :]).items()}
    tail = " | ".join(result.stderr.strip().splitlines()[-4:]) or f"exit {result.returncode}"
    return {name: ("failed", f"the check process died: {tail}") for name in spec["names"]}


def run_checks(spec: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Run ``spec``'s check on each of its names in this process: name -> (status, detail)."""
    module_name, _, function_name = str(spec["function"]).partition(":")
    function = getattr(importlib.import_module(module_name), function_name)
    registry = _registry(spec.get("plugins") or {})
    results: dict[str, tuple[str, str]] = {}
    for name in spec["names"]:
        try:
            function(name, registry=registry, **spec.get("kwargs", {}))
        except Exception as error:
            results[name] = ("failed", _failure_text(error))
        else:
            results[name] = ("passed", "")
    return results


def _failure_text(error: BaseException) -> str:
    """The check's own message; for an exception from elsewhere, also the innermost line outside
    the installed libraries (the plugin's, or fs's), since the framework's message alone rarely
    names the line to fix."""
    if isinstance(error, AssertionError):  # the check's own message says it all
        return str(error)
    text = "".join(traceback.format_exception_only(type(error), error)).strip()
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if "site-packages" not in f.filename] or frames
    if ours:
        last = ours[-1]
        text += f" (at {last.filename}:{last.lineno}, in {last.name})"
    return text


def _main() -> None:
    """The child process: a spec on stdin, the results as one marked JSON line on stdout."""
    spec = json.loads(sys.stdin.read())
    results = run_checks(spec)
    sys.stdout.flush()
    print(MARKER + json.dumps(results), flush=True)


if __name__ == "__main__":
    _main()
