"""The Settings tab in a real browser: a bad value refused in the page, then the learning rate of
a running tiny trainer changed from the page, the trainer's answer shown, the record saying so,
and the graph marking the change.

One server (the browser module's fixture, with the tiny test model installed in it) and one
trainer process; skipped as the other browser tests are without Chromium or selenium.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_gui_browser import (  # noqa: F401 (fixtures, used by name)
    TOKEN,
    TRAINED,
    driver,
    go,
    server,
    visible,
    wait_for,
)
from test_record import (
    _events,
    _start_trainer,
    _wait_for,
    subprocess_env,  # noqa: F401 (a fixture, used by name)
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A root with demo faces; the server's plugins include the tiny test model."""
    import tiny_plugin

    from fs_core import plugin_manager
    from fs_core.faces.demo import write_demo_data

    folder = tmp_path_factory.mktemp("gui_settings_root")
    write_demo_data(folder / "faces", count=8, size=128, seed=0, clip_frames=0)
    registry = plugin_manager.load_registry(extra_plugins={"tiny_plugin": tiny_plugin})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plugin_manager, "get_registry", lambda disabled=None: registry)
        yield folder


def test_the_learning_rate_changes_live_from_the_page(
    driver,  # noqa: F811 (the fixture)
    server,  # noqa: F811 (the fixture)
    root,
    subprocess_env,  # noqa: F811 (the fixture)
):
    model = root / TRAINED
    proc = _start_trainer(root / "faces", model, subprocess_env)
    try:
        _wait_for(proc, lambda: any(r["type"] == "progress" for r in _events(model)))
        driver.get(f"{server}?token={TOKEN}")
        go(driver, server, f"#/model/{TRAINED}/settings")
        field = wait_for(driver, lambda b: visible(b, "#live-global_learning_rate"), 30, "the rate")
        assert "is training" in driver.find_element("css selector", "#st-options .hint").text
        assert driver.find_element("css selector", "#live-global_coverage").get_attribute(
            "disabled"
        )
        # a bad value: its one line in the page, nothing sent to the trainer
        field.clear()
        field.send_keys("9")
        driver.find_element("id", "st-apply").click()
        refusal = wait_for(
            driver,
            lambda b: (
                "bad" in (b.find_element("id", "st-msg").get_attribute("class") or "")
                and b.find_element("id", "st-msg").text
            ),
            20,
            "the refusal in the page",
        )
        assert "global.learning_rate" in refusal and "at most" in refusal, refusal
        assert not [r for r in _events(model) if r["type"] == "settings"]
        field.clear()
        field.send_keys("2e-5")
        driver.find_element("id", "st-apply").click()
        answer = wait_for(
            driver,
            lambda b: (
                "applied now" in b.find_element("id", "st-msg").text
                and b.find_element("id", "st-msg").text
            ),
            40,
            "the trainer's answer in the page",
        )
        assert answer.startswith("global.learning_rate 5e-05 -> 2e-05 at iteration")
        (change,) = [r for r in _events(model) if r["type"] == "settings"]
        assert change["changes"] == [{"key": "global.learning_rate", "old": 5e-05, "new": 2e-05}]
        # the graph marks the change once the curve reaches it
        go(driver, server, f"#/model/{TRAINED}/graph")
        label = wait_for(
            driver,
            lambda b: next(
                (
                    e.text
                    for e in b.find_elements("css selector", ".graph-marker-label")
                    if e.is_displayed()
                ),
                None,
            ),
            40,
            "a marker on the graph",
        )
        assert label == "lr 5e-05 -> 2e-05"
        from fs_core.record import send_command

        send_command(model, "stop")
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    from fs_core.folder.live_settings import read_live_settings

    assert read_live_settings(model).values == {"global.learning_rate": 2e-5}
