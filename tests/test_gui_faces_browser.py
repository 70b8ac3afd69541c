"""The face-set report in a real browser: the HTML page ``fs faces report -o`` writes, and the GUI's
Faces tab making the report of a model's folders. Headless Chromium, one server for the module
(the fixtures and helpers of test_gui_browser.py); no trainer is started: the model's record
names its face folders, as a finished session leaves it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_gui_browser import TOKEN, driver, server, wait_for  # noqa: F401 (fixtures)

from fs_core.cli.main import main

pytestmark = pytest.mark.browser

MODEL = "faces_model"


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """Demo faces with a copied A face, and a B side without its faces turned right (yaw > 0),
    so the report has duplicates and pose gaps; a model folder whose last session trained on
    them."""
    from fs_core.extract.sort import pitch_yaw
    from fs_core.faces.demo import write_demo_data
    from fs_core.faces.read import read_face

    folder = tmp_path_factory.mktemp("faces_gui_root")
    a, b = write_demo_data(folder / "faces", count=40, size=64, seed=0, clip_frames=0)
    shutil.copy(a / "demo_a_0003_0.png", a / "copy_of_3.png")
    for path in sorted(b.glob("*.png")):
        if pitch_yaw(read_face(path).landmarks)[1] > 0:
            path.unlink()
    model = folder / MODEL
    (model / "record").mkdir(parents=True)
    argv = ["train", "-A", str(a), "-B", str(b), "-m", str(model)]
    (model / "record" / "trainer.json").write_text(json.dumps({"pid": 0, "argv": argv}))
    return folder


def _loaded_images(browser, css: str) -> list[str]:
    """The alt texts of the images under ``css`` that the browser decoded."""
    return browser.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]))"
        ".filter(i => i.complete && i.naturalWidth > 0).map(i => i.alt);",
        css,
    )


def _severe_console(browser) -> list[str]:
    try:
        entries = browser.get_log("browser")
    except Exception:  # a driver without the log endpoint: nothing to check
        return []
    return [e["message"] for e in entries if e["level"] == "SEVERE"]


def test_html_report_opens_offline_with_gaps_and_thumbnails(server, driver, root, tmp_path):  # noqa: F811
    # ``server`` first: set up before the browser, it is stopped after the browser has quit,
    # with no connection left open to wait for
    page = tmp_path / "report.html"
    argv = ["faces", "report", "-A", str(root / "faces" / "A"), "-B", str(root / "faces" / "B")]
    assert main([*argv, "-o", str(page)]) == 0
    driver.get(page.as_uri())
    wait_for(driver, lambda d: d.find_elements("css selector", "#heatmaps svg"), 10, "heat-maps")
    assert len(driver.find_elements("css selector", "#heatmaps svg")) == 2
    assert driver.find_elements("css selector", "#heatmaps .hm-gap"), "no gap marked"
    gap = driver.find_element("css selector", '.finding[data-kind="pose_gap"]')
    assert "yaw +" in gap.text and "B 0" in gap.text
    assert {"copy_of_3.png", "demo_a_0003_0.png"} <= set(
        _loaded_images(driver, '.finding[data-kind="duplicates"] img')
    )
    resources = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert [r for r in resources if not r.startswith("data:")] == []
    assert _severe_console(driver) == []


def test_faces_tab_makes_the_report_and_shows_it(driver, server, root):  # noqa: F811
    driver.get(f"{server}?token={TOKEN}#/model/{MODEL}/faces")  # opening it starts the report
    wait_for(
        driver,
        lambda d: d.find_elements("css selector", "#faces-heatmaps svg"),
        90,
        "the report in the Faces tab",
    )
    assert len(driver.find_elements("css selector", "#faces-heatmaps svg")) == 2
    assert driver.find_elements("css selector", "#faces-heatmaps .hm-gap")
    summary = driver.find_element("css selector", "#faces-summary").text
    assert "Pose gaps" in summary and "Near-duplicates" in summary
    names = _loaded_images(driver, '.faces-finding[data-kind="duplicates"] img')
    assert {"copy_of_3.png", "demo_a_0003_0.png"} <= set(names)
    gap = driver.find_element("css selector", '.faces-finding[data-kind="pose_gap"]').text
    assert "demo_a_" in gap
    assert (root / MODEL / "record" / "face-report.json").is_file()
    # opened again after a face went, the report is made again without it
    (root / "faces" / "A" / "copy_of_3.png").unlink()
    driver.get(f"{server}#/model/{MODEL}/preview")
    driver.get(f"{server}#/model/{MODEL}/faces")
    wait_for(
        driver,
        lambda d: (
            d.find_elements("css selector", "#faces-summary")
            and not d.find_elements("css selector", "#faces-stale")
            and "copy_of_3.png" not in d.find_element("css selector", "#faces-root").text
        ),
        90,
        "the report made again",
    )
    assert not driver.find_elements("css selector", '.faces-finding[data-kind="duplicates"]')
    assert _severe_console(driver) == []
