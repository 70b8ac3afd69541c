"""Convert and export from the GUI page in a real browser (headless Chromium, Selenium).

One server and one model for the module: a Lightweight model built and saved as training leaves
its folder (what convert and export read; the swap does not depend on what the weights learned),
and the demo clip (frames and their alignments file, as tests/test_convert_cli.py uses it). From
the model's page: Export (started first, so that it runs while the convert is made), Convert with
the before/after of a frame on the slider and a convert to video that plays in the page; then the
jobs list after a reload, and the export's download link delivering the file. Each step runs real
``fs`` processes (TensorFlow loads in each), hence ``slow``.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from test_gui_browser import By, _free_port, button, driver, go, uvicorn, visible, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TOKEN = "jobs-browser-token"
MODEL = "swapper"
#: a subprocess that imports TensorFlow and loads the model, on a shared 2-core machine
JOB_TIMEOUT = 240

__all__ = ["driver"]  # the shared browser fixture


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    from fs_core import plugin_manager
    from fs_core.config import config_from_mapping
    from fs_core.faces.demo import write_demo_data
    from fs_core.folder.model_files import save_model_files
    from fs_core.model.build import build_from_config
    from fs_core.model.state import ModelState
    from fs_core.model.weights import save_weights

    folder = tmp_path_factory.mktemp("jobs_root")
    write_demo_data(folder / "demo", count=2, size=64)
    registry = plugin_manager.get_registry()
    config_class = registry.models["lightweight"].config_class
    config = config_from_mapping({}, {"lightweight": config_class})
    built = build_from_config(registry, "lightweight", config)
    state = ModelState(
        model="lightweight",
        iterations=2,
        config=config.stored_sections("lightweight", config_class),
    )
    save_model_files(
        folder / MODEL,
        state,
        lambda path: save_weights(path, built.model, model_name="lightweight", iterations=2),
    )
    return folder


@pytest.fixture(scope="module")
def started() -> dict[str, str]:
    """Jobs a test starts and a later one checks (the export runs while the convert is made)."""
    return {}


@pytest.fixture(scope="module")
def server(root):
    from fs_core.gui.app import create_app

    port = _free_port()
    config = uvicorn.Config(
        create_app(root, TOKEN, False),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the GUI server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    srv.should_exit = True
    thread.join(10)


def choose(browser, select_id, value):
    wait_for(
        browser,
        lambda b: b.execute_script(
            "return [...document.getElementById(arguments[0]).options]"
            ".some(o => o.value === arguments[1])",
            select_id,
            value,
        ),
        message=f"{value} offered in #{select_id}",
    )
    browser.execute_script(
        "const s = document.getElementById(arguments[0]); s.value = arguments[1];"
        "s.dispatchEvent(new Event('change'))",
        select_id,
        value,
    )


def job_state(browser):
    node = visible(browser, "#jb-state")
    return node.text if node else ""


def wait_job(browser, what):
    def ended(b):
        state = job_state(b)
        if state == "Failed":
            pytest.fail(f"{what} failed: {b.find_element(By.ID, 'jb-error').text}")
        return state == "Done"

    wait_for(browser, ended, JOB_TIMEOUT, f"{what} done")


def test_export_starts_from_the_model_page(driver, server, started):
    """Started first, so that it runs while the convert below is made (checked at the end)."""
    driver.get(f"{server}?token={TOKEN}#/model/{MODEL}")
    wait_for(driver, lambda b: button(b, "Export"), message="Export on the page").click()
    wait_for(driver, lambda b: visible(b, "#jm-export"), message="the export form")
    choose(driver, "jm-format", "savedmodel")
    button(driver, "Start export").click()
    wait_for(driver, lambda b: "#/job/" in b.current_url, message="the export job's page")
    assert job_state(driver) in ("Running", "Starting", "Done")
    started["export"] = driver.current_url.rsplit("/", 1)[1]


def test_convert_from_the_model_page_shows_the_swap_and_plays_the_video(driver, server, root):
    go(driver, server, f"#/model/{MODEL}")
    convert = wait_for(driver, lambda b: visible(b, "#jm-convert"), message="Convert on the page")
    convert.click()
    wait_for(driver, lambda b: visible(b, "#cv-form"), message="the Convert view")
    wait_for(
        driver,
        lambda b: b.find_element(By.ID, "cv-model").get_attribute("value") == MODEL,
        message="the model chosen",
    )
    # the input and the alignments fields offer the folder picker
    names = [
        e.accessible_name
        for e in driver.find_elements(By.CSS_SELECTOR, "#cv-form button.picker-open")
        if e.is_displayed()
    ]
    assert names == ["Browse for Video file or frames folder", "Browse for Alignments file"]
    driver.find_element(By.ID, "cv-input").send_keys("demo/clip")
    info = wait_for(
        driver,
        lambda b: (
            "24 frames" in b.find_element(By.ID, "cv-input-info").text
            and b.find_element(By.ID, "cv-input-info")
        ),
        message="the frames of the input",
    )
    assert "demo/clip/alignments.fsa" in info.text
    # the slider's frame, before and after: the after is computed by fs convert, said meanwhile
    driver.execute_script(
        "const s = document.getElementById('cv-frame'); s.value = 5;"
        "s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change'))"
    )
    wait_for(
        driver,
        lambda b: "Swapping frame 6" in b.find_element(By.ID, "cv-preview-state").text,
        message="the page says it computes the frame",
    )
    wait_for(
        driver,
        lambda b: b.execute_script(
            "const i = document.getElementById('cv-after');"
            "return !i.hidden && i.complete && i.naturalWidth > 0 && !i.classList.contains('stale')"
        ),
        JOB_TIMEOUT,
        "the swapped frame shown",
    )
    before, after = driver.execute_script(
        "return ['cv-before', 'cv-after'].map(id => document.getElementById(id))"
        ".map(i => [i.naturalWidth, i.naturalHeight])"
    )
    assert before == after == [120, 90]
    assert "Frame 6" in driver.find_element(By.ID, "cv-preview-state").text

    choose(driver, "cv-writer", "ffmpeg")
    assert visible(driver, "#cv-video_container") and not visible(driver, "#cv-writer_format")
    button(driver, "Convert").click()
    wait_for(driver, lambda b: "#/job/" in b.current_url, message="the job's page")
    wait_job(driver, "the convert")
    assert "24 / 24 frames" in driver.find_element(By.ID, "jb-progress-text").text
    duration = wait_for(
        driver,
        lambda b: b.execute_script(
            "const v = document.querySelector('#jb-result video');"
            "return v && v.readyState >= 1 && v.duration > 0 ? v.duration : null"
        ),
        30,
        "the video loaded in the page",
    )
    assert 0.5 < duration < 2  # 24 frames at 25 frames/s
    download = driver.find_element(By.ID, "jb-download")
    assert download.get_attribute("href").split("?")[0].endswith("/clip_converted.mp4")
    videos = list((root / "converted").glob("*/clip_converted.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 0


def test_export_is_found_again_and_its_download_delivers_the_file(driver, server, started):
    # the list finds both jobs after a reload; the export is opened from it
    go(driver, server, "#/jobs")
    driver.refresh()
    wait_for(
        driver,
        lambda b: len(b.find_elements(By.CSS_SELECTOR, "#jobs-table tbody tr")) == 2,
        message="both jobs listed",
    )
    rows = driver.find_element(By.CSS_SELECTOR, "#jobs-table tbody").text
    assert "Convert clip with swapper" in rows and "Export swapper as savedmodel" in rows
    driver.find_element(By.CSS_SELECTOR, f'tr[data-job="{started["export"]}"] a').click()
    wait_job(driver, "the export")
    link = wait_for(driver, lambda b: visible(b, "#jb-download"), message="the download link")
    assert link.text == "Download (.zip)"
    # the bytes arrive through the page's own link (the first bytes: a zip's signature)
    answer = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        fetch(arguments[0], {headers: {Range: 'bytes=0-3'}})
          .then(async r => done([r.status, [...new Uint8Array(await r.arrayBuffer())],
                                 r.headers.get('content-range')]))
          .catch(e => done(String(e)));
        """,
        link.get_attribute("href"),
    )
    status, first, whole = answer
    assert status == 206 and first == [0x50, 0x4B, 0x03, 0x04]
    assert int(whole.rsplit("/", 1)[1]) > 100_000
