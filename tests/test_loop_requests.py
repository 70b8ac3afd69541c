"""Requests a plugin makes of the training loop (save, snapshot, stop): the loop honours them
after the current iteration and answers through ``fs_request_done``; no hook calls the loop."""

from __future__ import annotations

from pathlib import Path

import save_cycles

from fs_core import hookimpl
from fs_core.folder.snapshots import snapshot_dir


class Asker:
    """A pack that asks for ``actions`` at ``at`` and keeps every answer it is told."""

    def __init__(self, at: int, *actions: str) -> None:
        self.at, self.actions = at, actions
        self.answers: list = []
        self.collapses: list = []

    @hookimpl
    def fs_iteration_end(self, session, iteration):
        if iteration == self.at:
            for action in self.actions:
                session.running.ask(action, asker=self)

    @hookimpl
    def fs_request_done(self, request):
        if request.asker is self:
            self.answers.append(request)


def _run(tmp_path: Path, asker: Asker, iterations: int) -> str:
    import tiny_plugin

    from fs_core.plugin_manager import load_registry

    registry = load_registry(extra_plugins={"tiny_plugin": tiny_plugin, "asker": asker})
    config = save_cycles.write_config(tmp_path / "fs.toml")
    return save_cycles.cycle(
        tmp_path / "m",
        config,
        iterations,
        registry=registry,
        save_interval=100,
        snapshot_interval=0,
    )


def test_a_snapshot_asked_for_is_taken_after_the_iteration_and_answered(tmp_path):
    asker = Asker(3, "save", "snapshot")
    assert _run(tmp_path, asker, 6) == "done"
    save, snapshot = asker.answers
    assert (save.action, save.outcome, save.iteration) == ("save", "done", 3)
    assert (snapshot.action, snapshot.outcome, snapshot.iteration) == ("snapshot", "done", 3)
    assert snapshot.snapshot == snapshot_dir(tmp_path / "m", 3).name
    assert (snapshot_dir(tmp_path / "m", 3) / "weights.h5").is_file()


def test_a_stop_asked_for_ends_the_session_with_its_exit_save(tmp_path):
    asker = Asker(2, "stop")
    assert _run(tmp_path, asker, 10) == "stopped"
    (stop,) = asker.answers
    assert (stop.action, stop.outcome, stop.iteration) == ("stop", "done", 2)
    from fs_core.folder.state import load_state

    assert load_state(tmp_path / "m").iterations == 2
