"""Every loss of the pack passes fs's loss check (:func:`fs_core.testing.check_loss_plugin`) on
PyTorch and JAX as well as TensorFlow: ``check_on_backends`` runs the checks of each backend in a
process of its own and names the backend and the failure of any loss that breaks.

On TensorFlow the same check runs in this process (``test_losses_properties.py``), so it is not
repeated here; a framework that is not installed is skipped.
"""

from __future__ import annotations

import pytest

from fs_core.testing import check_on_backends
from fs_plugins_losses.plugin import descriptors


@pytest.mark.slow
def test_every_loss_passes_the_loss_check_on_torch_and_jax():
    names = sorted(d.name for d in descriptors())
    report = check_on_backends("loss", names, backends=("torch", "jax"))
    print(report.describe())
    ran = [o for o in report.outcomes if o.status == "passed"]
    if not ran:
        pytest.skip("neither PyTorch nor JAX is installed")
