"""The core tests' fixtures: a registry with the tiny test plugin (the fixtures every test folder
shares are in the repository's top-level conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def registry():
    """The installed plugins plus the tiny test model and loss."""
    import tiny_plugin

    from fs_core.plugin_manager import load_registry

    return load_registry(extra_plugins={"tiny_plugin": tiny_plugin})


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """A demo data folder (``A/``, ``B/``: 8 faces each at 128 px, and the clip), one per module
    so a module that changes it cannot disturb another."""
    from fs_core.faces.demo import write_demo_data

    out = tmp_path_factory.mktemp("demo")
    write_demo_data(out, count=8, size=128)
    return out


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> tuple[Path, Path]:
    """Two demo face folders (8 faces each at 128 px), one pair per module."""
    from fs_core.faces.demo import write_demo_data

    return write_demo_data(tmp_path_factory.mktemp("faces") / "demo", count=8, size=128)
