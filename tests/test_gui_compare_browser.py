"""The Compare view and the folder picker in a real browser (headless Chromium, Selenium), against
the real server; the server, browser and helpers are those of test_gui_browser.py. Nothing trains:
the two models are folders whose record the test writes (tests/gui_record_support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

import test_gui_browser as shared  # noqa: E402 (skips this module without Chromium)
from gui_record_support import write_model  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from test_gui_browser import TOKEN, go, visible, wait_for  # noqa: E402

# test_gui_browser's server (on this module's root) and browser, as this module's fixtures
page = shared.server
browser = shared.driver

FIRST, SECOND = "alpha", "beta"


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """Demo faces, a folder link leading out of the root, and two models written by the test."""
    from fs_core.faces.demo import write_demo_data

    folder = tmp_path_factory.mktemp("compare_root")
    write_demo_data(folder / "faces", count=8, size=64, seed=0)
    outside = tmp_path_factory.mktemp("compare_outside")
    (folder / "faces" / "elsewhere").symlink_to(outside)
    write_model(
        folder / FIRST, [(i, 0.5 / i**0.3, 0.6 / i**0.3) for i in range(10, 1010, 10)], [500, 1000]
    )
    write_model(
        folder / SECOND, [(i, 0.8 / i**0.2, 0.9 / i**0.2) for i in range(20, 620, 20)], [600]
    )
    return folder


def legend(browser) -> dict[str, bool]:
    """The Compare graph's legend: each line's name, and whether it is shown."""
    return browser.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('#cmp-chart .u-series')]"
        ".slice(1).map(s => [s.querySelector('.u-label').textContent,"
        " !s.classList.contains('u-off')]))"
    )


def test_two_models_ticked_in_the_list_are_compared_on_one_graph(page, browser):
    driver, server = browser, page
    driver.get(f"{server}?token={TOKEN}#/")
    for name in (FIRST, SECOND):
        wait_for(
            driver, lambda b, n=name: visible(b, f'[data-compare="{n}"]'), message=f"{name}'s tick"
        )
        driver.find_element(By.CSS_SELECTOR, f'[data-compare="{name}"]').click()
    go_link = wait_for(driver, lambda b: visible(b, "#cmp-bar-go"), message="the Compare button")
    assert go_link.text == "Compare 2 models"
    go_link.click()
    wait_for(driver, lambda b: "#/compare?models=" in b.current_url, message="the Compare address")
    assert driver.current_url.endswith(f"#/compare?models={FIRST},{SECOND}")
    expected = {f"{m} · {side}": True for m in (FIRST, SECOND) for side in "AB"}
    wait_for(driver, lambda b: legend(b) == expected, message="four lines in one legend")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#cmp-chart canvas")) == 1
    cards = {
        card.get_attribute("data-compare-model"): card.text
        for card in driver.find_elements(By.CSS_SELECTOR, "#cmp-previews [data-compare-model]")
    }
    assert "Preview at iteration 1,000" in cards[FIRST]
    assert "Preview at iteration 600" in cards[SECOND]
    at_preview = f"Loss A {0.5 / 1000**0.3:.4f} · Loss B {0.6 / 1000**0.3:.4f}"
    assert at_preview in cards[FIRST]  # the loss recorded at the preview's iteration
    wait_for(
        driver,
        lambda b: (
            b.execute_script(
                "return [...document.querySelectorAll('#cmp-previews img')]"
                ".filter(i => i.complete && i.naturalWidth > 0).length"
            )
            == 2
        ),
        message="both previews loaded",
    )
    # a bookmarked address shows its own selection; the log scale keeps the lines
    go(driver, server, f"#/compare?models={SECOND}")
    wait_for(
        driver, lambda b: set(legend(b)) == {f"{SECOND} · A", f"{SECOND} · B"}, message="one model"
    )
    assert "Pick one more model" in driver.find_element(By.ID, "cmp-empty").text
    driver.find_element(By.ID, "cmp-log").click()
    wait_for(driver, lambda b: len(legend(b)) == 2, message="the log-scale graph")


def test_the_picker_fills_the_faces_a_field(page, browser):
    driver, server = browser, page
    go(driver, server, "#/new")
    wait_for(driver, lambda b: visible(b, "#view-new"), message="the New training form")
    driver.find_element(By.CSS_SELECTOR, "button[aria-label='Browse for Faces A folder']").click()
    folder = wait_for(
        driver,
        lambda b: visible(b, "dialog[open] [data-path='faces']"),
        message="the root's folders",
    )
    folder.click()
    link = wait_for(
        driver, lambda b: visible(b, "dialog[open] .picker-item.outside"), message="a link"
    )
    assert "symbolic link" in link.text and "outside the root" in link.text
    faces_count = wait_for(
        driver, lambda b: visible(b, "dialog[open] [data-path='faces/A']"), message="A"
    )
    assert "8 faces" in faces_count.text
    faces_count.click()
    wait_for(
        driver,
        lambda b: (
            b.execute_script(
                "return [...document.querySelectorAll('dialog[open] .picker-thumbs img')]"
                ".filter(i => i.complete && i.naturalWidth > 0).length"
            )
            == 6
        ),
        message="six thumbnails shown",
    )
    assert (
        "8 face images" in driver.find_element(By.CSS_SELECTOR, "dialog[open] .picker-faces").text
    )
    driver.find_element(By.CSS_SELECTOR, "dialog[open] .picker-choose").click()
    wait_for(driver, lambda b: not visible(b, "dialog[open]"), message="the picker closed")
    assert driver.find_element(By.ID, "f-faces-a").get_attribute("value") == "faces/A"
