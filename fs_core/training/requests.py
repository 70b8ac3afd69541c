"""What a plugin may ask the training loop to do between iterations, and the loop's answer.

A plugin never calls into the loop: it asks (:meth:`fs_core.training.session.RunningState.ask`),
the loop does it after the current iteration (as it honours a stop), fills in the request's
outcome and tells every plugin through the ``fs_request_done`` hook; the plugin that asked
recognises its request (by identity, or by ``asker``). Requests are honoured in the order asked.

* ``save``: save now (the usual save: disk guard, held-out loss, backup at a new low, ``fs_save``).
* ``snapshot``: save now, then copy that save to a snapshot folder (unless this save already got
  one, from ``-I``); ``snapshot`` names it, None when the snapshot was skipped.
* ``stop``: end the session after this iteration with the exit save (reason "stopped").
* ``settings``: change settings (``changes``, checked again here) and forget stored ones
  (``forget``) (:mod:`fs_core.training.live`); ``applied`` lists what changed and ``rebuild`` says
  whether the session ends after this iteration (with its exit save, reason "settings") for the
  run to go on in a new session with them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs

Action = Literal["save", "snapshot", "stop", "settings"]
Outcome = Literal["pending", "done", "failed"]


@attrs.define(eq=False)
class LoopRequest:
    """One request and, once the loop has honoured it, its outcome."""

    action: Action
    #: whatever the asker wants to recognise its request by (the record keeps its command here)
    asker: object = None
    outcome: Outcome = "pending"
    #: the model's iteration when the loop honoured the request
    iteration: int | None = None
    #: ``snapshot``: the folder name of the snapshot this save got, None when it was skipped
    snapshot: str | None = None
    #: when ``outcome`` is "failed": the error that stopped it (the save's error, or a
    #: ValueError saying why the loop could not do it)
    error: Exception | None = None
    #: ``settings``: "section.key" (or run setting) -> new value, and the stored keys to forget
    changes: Mapping[str, Any] = attrs.field(factory=dict)
    forget: tuple[str, ...] = ()
    #: ``settings``, once honoured: the changes made (fs_core.training.live.Change), and whether
    #: they need a new session
    applied: tuple[Any, ...] = ()
    rebuild: bool = False


@attrs.frozen
class LastSnapshot:
    """The snapshot written last in this run (the training record names it in its save record)."""

    iteration: int
    folder: str
