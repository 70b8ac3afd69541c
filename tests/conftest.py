"""The core tests' fixtures: a registry with the tiny test plugin (the fixtures every test folder
shares are in the repository's top-level conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def registry():
    """The installed plugins plus the tiny test model and loss."""
    import tiny_plugin

    from fs_core.plugin_manager import load_registry

    return load_registry(extra_plugins={"tiny_plugin": tiny_plugin})
