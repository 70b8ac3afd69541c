"""The core's plugin-test fixtures (fs_registry, fs_check_model, fs_check_loss) for this pack's
tests.

In a pack's top-level conftest.py, ``pytest_plugins = ["fs_core.testing"]`` does the same; importing
the fixtures works in any conftest.py, wherever pytest is started from.
"""

from fs_core.testing import fs_check_loss, fs_check_model, fs_registry  # noqa: F401
