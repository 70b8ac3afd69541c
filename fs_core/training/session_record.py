"""The session's ``[[sessions]]`` entry in ``state.toml``, made from its setup in one place.

The entry opens as training starts: what the session trains with (batch, changeable options, the
learning rate and where it came from, the Keras backend, precision, distribution, extensions,
schedule stage). The save fills in how far it got (``iterations``, ``end``,
``examples_per_second``); rollbacks, the held-out loss and a plateau stop add their own keys while
it trains.
"""

from __future__ import annotations

from typing import Any

from fs_core import backend
from fs_core.config import changeable_values
from fs_core.training.session import TrainingSession


def open_entry(session: TrainingSession) -> dict[str, Any]:
    """Add this session's entry to the model state and return it (the keys in the order
    ``state.toml`` has always held them)."""
    setup, request = session.setup, session.request
    entry = session.state.new_session(request.batch_size, _changeable(session))
    entry["learning_rate_source"] = setup.learning_rate_source
    entry["backend"] = _backend(session)
    if setup.precision is not None:
        entry["precision"] = setup.precision.to_record()
    if request.auto_batch_from:
        entry["auto_batch"] = {"asked": request.auto_batch_from, "used": request.batch_size}
    recorded_stage = session.state.schedule
    if request.schedule is not None and recorded_stage:
        entry["stage"] = recorded_stage.get("stage")
    if request.pretrain:
        entry["pretrain"] = True
    entry["distributed"] = setup.distribution.name
    entry["replicas"] = setup.distribution.replicas
    if setup.extensions is not None and setup.extensions.names:
        entry["extensions"] = list(setup.extensions.names)
    return entry


def _backend(session: TrainingSession) -> dict[str, str]:
    """The backend entry: as ``fs train`` chose it, else the Keras backend of the process that
    runs fs in-process (older model folders' sessions have no entry)."""
    if session.request.backend is not None:
        return session.request.backend.to_record()
    return {"name": backend.active_name(), "why": "the Keras backend of the calling process"}


def _changeable(session: TrainingSession) -> dict:
    values = changeable_values(
        session.config, session.model_name, session.built.descriptor.config_class
    )
    # the rate the session starts at: the finder's when it was used
    values["global"]["learning_rate"] = session.base_learning_rate
    return values
