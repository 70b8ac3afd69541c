"""The GUI page in a real browser: headless Chromium driven by Selenium against the real server.

One server (uvicorn on a free loopback port, in a thread) and one tiny trainer are shared by the
whole module; the tests run in file order: refusals first (nothing may start), then a model made by
the test, then a run started from the form, watched, previewed and stopped.

Needs Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromium``,
``/usr/bin/chromedriver``) and the ``selenium`` package; skipped with the reason otherwise.
Selenium Manager never runs: the driver's path is given.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
if not (os.path.isfile(CHROMEDRIVER) and os.path.isfile(CHROMIUM)):
    pytest.skip(
        "browser tests need Chromium and its driver (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )
webdriver = pytest.importorskip(
    "selenium.webdriver", reason="browser tests need selenium (pip install -e '.[test]')"
)
uvicorn = pytest.importorskip("uvicorn", reason="the GUI needs uvicorn")

from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

TOKEN = "browser-test-token"
TRAINED = "live"  # the model the form starts
MADE = "made_by_test"  # a model folder the test writes itself
#: the first iterations of a new trainer include importing TensorFlow and building the model
START_TIMEOUT = 150


# ---------------------------------------------------------------- fixtures


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    from fs_core.faces.demo import write_demo_data

    folder = tmp_path_factory.mktemp("gui_root")
    write_demo_data(folder / "faces", count=24, size=128, seed=0)
    return folder


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
        timeout_keep_alive=1,  # the browser's idle connection would hold the shutdown 5 s
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
    _end_trainer(root / TRAINED)


def _end_trainer(model_dir: Path) -> None:
    """A trainer left running by a failed test: ask it to stop, then end its process group."""
    info = model_dir / "record" / "trainer.json"
    if not info.is_file():
        return
    pid = json.loads(info.read_text()).get("pid")
    if not pid:
        return
    try:
        os.kill(pid, 0)
    except OSError:
        return
    try:
        from fs_core.record import send_command

        send_command(model_dir, "stop")
    except Exception:
        pass
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.5)
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


@pytest.fixture(scope="module")
def driver():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1366,900",
    ):
        options.add_argument(arg)
    browser = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    browser.set_script_timeout(30)
    yield browser
    browser.quit()


def wait_for(browser, condition, timeout=20, message=""):
    try:
        return WebDriverWait(browser, timeout, poll_frequency=0.2).until(
            lambda b: condition(b) or None
        )
    except TimeoutException:
        pytest.fail(f"timed out after {timeout} s: {message}")


def visible(browser, css):
    found = [e for e in browser.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
    return found[0] if found else None


def button(browser, name):
    """The visible button whose accessible name is exactly ``name``."""
    for element in browser.find_elements(By.TAG_NAME, "button"):
        if element.is_displayed() and element.accessible_name == name:
            return element
    return None


def go(browser, base, route):
    if not browser.current_url.startswith(base):
        browser.get(base)
    browser.execute_script("window.location.hash = arguments[0]", route)


def fill_form(browser, **values):
    ids = {
        "faces_a": "f-faces-a",
        "faces_b": "f-faces-b",
        "model_dir": "f-model-dir",
        "batch_size": "f-batch",
        "iterations": "f-iterations",
        "save_interval": "f-save",
    }
    for key, value in values.items():
        if key == "model":
            wait_for(
                browser,
                lambda b, value=value: b.execute_script(
                    "return [...document.querySelectorAll('#f-model option')]"
                    ".some(o => o.value === arguments[0])",
                    value,
                ),
                message=f"model type {value} offered",
            )
            browser.execute_script(
                "const s = document.getElementById('f-model'); s.value = arguments[0];"
                "s.dispatchEvent(new Event('change'))",
                value,
            )
            continue
        field = browser.find_element(By.ID, ids[key])
        field.clear()
        field.send_keys(str(value))


def int_text(text: str) -> int | None:
    digits = "".join(c for c in text if c.isdigit())
    return int(digits) if digits else None


# ---------------------------------------------------------------- tests


def test_request_without_token_is_refused(driver, server, root):
    """The page opened without ?token= cannot start anything: the POST answers 403 and the
    page says why; a direct fetch without the header is refused too."""
    driver.get(server + "#/new")
    assert driver.execute_script("return sessionStorage.getItem('fs-gui-token')") is None
    fill_form(
        driver,
        faces_a="faces/A",
        faces_b="faces/B",
        model_dir="no_token",
        model="lightweight",
        batch_size=2,
        iterations=10,
        save_interval=5,
    )
    button(driver, "Start").click()
    alert = wait_for(
        driver,
        lambda b: visible(b, "#form-error[role=alert]"),
        message="the refusal shown in the form",
    )
    assert "token" in alert.text.lower()
    status = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch('api/models/x/stop', {method: 'POST'})
            .then(r => done(r.status), e => done(String(e)));
    """)
    assert status == 403
    assert not (root / "no_token").exists()


def test_token_moves_from_address_to_session_storage(driver, server):
    driver.get(f"{server}?token={TOKEN}#/")
    wait_for(driver, lambda b: "token=" not in b.current_url, message="token removed from the URL")
    assert driver.execute_script("return sessionStorage.getItem('fs-gui-token')") == TOKEN
    assert driver.current_url.endswith("#/")


def test_model_list_shows_a_model(driver, server, root):
    from fs_core.record.writer import RecordWriter

    writer = RecordWriter(root / MADE, session=1)
    writer.write(
        "session_start",
        iteration=0,
        target=1234,
        batch_size=2,
        model="lightweight",
        pid=os.getpid(),
        host=socket.gethostname(),
        save_interval=100,
        snapshot_interval=0,
        argv=[],
    )
    writer.write(
        "progress",
        iteration=1234,
        session_iterations=1234,
        elapsed=60.0,
        loss_a=0.125,
        loss_b=0.25,
        examples_per_second=12.5,
        count=1,
        losses={"loss_a": 0.125, "loss_b": 0.25},
    )
    writer.write("end", iteration=1234, reason="done", error=None)
    writer.close()
    go(driver, server, "#/")
    card = wait_for(
        driver,
        lambda b: visible(b, f'[data-model="{MADE}"]'),
        message="the model's card in the list",
    )
    field = lambda name: card.find_element(By.CSS_SELECTOR, f'[data-field="{name}"]').text  # noqa: E731
    wait_for(driver, lambda b: field("iterations") == "1,234", message="iterations on the card")
    assert field("loss-a") == "0.1250"
    assert field("loss-b") == "0.2500"
    assert field("examples-per-second")  # shown (a dash when not training)
    assert "Stopped" in card.text and "lightweight" in card.text


def test_low_disk_space_is_shown_while_training(driver, server, root):
    """A trainer whose progress carries ``disk_free`` (only sent while the disk is low): the
    model page says so under the status bar, and stops saying it when training ends."""
    from fs_core.folder.layout import TRAINER_FILE, record_dir
    from fs_core.record.files import encode
    from fs_core.record.reader import process_start_time
    from fs_core.record.writer import RecordWriter

    model = root / "low_disk"
    writer = RecordWriter(model, session=1)
    record_dir(model).joinpath(TRAINER_FILE).write_bytes(
        encode(
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "session": 1,
                "started": time.time(),
                "argv": [],
                "process_started": process_start_time(os.getpid()),
                "model": "lightweight",
                "iteration": 0,
                "target": 100,
                "batch_size": 2,
            }
        )
    )
    writer.write(
        "session_start",
        iteration=0,
        target=100,
        batch_size=2,
        model="lightweight",
        pid=os.getpid(),
        host=socket.gethostname(),
        save_interval=10,
        snapshot_interval=0,
        argv=[],
    )
    writer.write(
        "progress",
        iteration=10,
        session_iterations=10,
        elapsed=5.0,
        loss_a=0.1,
        loss_b=0.2,
        examples_per_second=4.0,
        count=10,
        losses={},
        disk_free=1_234_000_000,
    )
    go(driver, server, "#/model/low_disk")
    note = wait_for(driver, lambda b: visible(b, "#m-disk"), message="the low-disk note")
    assert note.text.startswith("Low disk space: 1.2 GB free for this model.")
    writer.write("end", iteration=10, reason="done", error=None)
    writer.close()
    wait_for(
        driver,
        lambda b: b.find_element(By.ID, "m-state").text == "Stopped",
        30,
        "the model shown as stopped",
    )
    wait_for(driver, lambda b: not visible(b, "#m-disk"), 10, "no low-disk note once stopped")


def test_bad_form_is_refused_in_the_page(driver, server, root):
    go(driver, server, "#/new")
    fill_form(
        driver,
        faces_a="no_such_folder",
        faces_b="faces/B",
        model_dir="bad_form",
        model="lightweight",
        batch_size=2,
        iterations=10,
        save_interval=5,
    )
    button(driver, "Start").click()
    alert = wait_for(
        driver,
        lambda b: visible(b, "#form-error[role=alert]"),
        message="the server's refusal shown in the form",
    )
    assert "no_such_folder" in alert.text
    assert "not started" in alert.text
    assert driver.current_url.endswith("#/new")
    time.sleep(0.5)
    assert not (root / "bad_form").exists()


def test_start_from_form_and_iterations_rise(driver, server, root):
    go(driver, server, "#/new")
    fill_form(
        driver,
        faces_a="faces/A",
        faces_b="faces/B",
        model_dir=TRAINED,
        model="lightweight",
        batch_size=2,
        iterations=100000,
        save_interval=5,
    )
    button(driver, "Start").click()
    wait_for(
        driver,
        lambda b: b.current_url.endswith(f"#/model/{TRAINED}"),
        20,
        "the page opens the new model",
    )
    assert (root / TRAINED / "record").is_dir()
    # the live status bar (server-sent events) and the list both rise
    seen = []

    def live(b):
        value = int_text(b.find_element(By.CSS_SELECTOR, '[data-live="iterations"]').text)
        if value and (not seen or value > seen[-1]):
            seen.append(value)
        return len(seen) >= 2

    wait_for(driver, live, START_TIMEOUT, f"live iterations rising in the status bar: {seen}")
    go(driver, server, "#/")
    cells = []

    def listed(b):
        element = visible(b, f'[data-model="{TRAINED}"] [data-field="iterations"]')
        value = int_text(element.text) if element else None
        if value and (not cells or value > cells[-1]):
            cells.append(value)
        return len(cells) >= 2

    wait_for(driver, listed, 60, f"iterations rising in the model list: {cells}")
    card = visible(driver, f'[data-model="{TRAINED}"]')
    assert "Training" in card.text
    assert int_text(card.find_element(By.CSS_SELECTOR, '[data-field="examples-per-second"]').text)


def test_preview_shown_after_a_save(driver, server):
    go(driver, server, f"#/model/{TRAINED}/preview")
    wait_for(
        driver,
        lambda b: b.execute_script(
            "const i = document.getElementById('pv-image');"
            "return !i.hidden && i.complete && i.naturalWidth > 0"
        ),
        90,
        "a preview image after the first save",
    )
    link = visible(driver, "#pv-download")
    assert link is not None and link.text == "Save PNG" and link.get_attribute("download")
    # the mask switch shows the other image
    before = driver.find_element(By.ID, "pv-image").get_attribute("src")
    driver.find_element(By.ID, "pv-mask").click()
    wait_for(
        driver,
        lambda b: b.find_element(By.ID, "pv-image").get_attribute("src") != before,
        message="the mask switch changes the image",
    )
    assert "_plain" in driver.find_element(By.ID, "pv-image").get_attribute("src")


def test_buttons_have_their_names(driver, server):
    go(driver, server, f"#/model/{TRAINED}/graph")
    for name in ("Stop", "Save now", "Snapshot now"):
        assert wait_for(driver, lambda b, name=name: button(b, name), message=f"button {name}")
    assert button(driver, "Resume") is None and button(driver, "Restore backup") is None
    wait_for(
        driver,
        lambda b: b.execute_script(
            "return document.querySelectorAll('#gr-chart .uplot').length === 1"
        ),
        30,
        "the loss graph",
    )


def test_stop_ends_training_with_a_save(driver, server, root):
    from fs_core.folder.state import load_state

    go(driver, server, f"#/model/{TRAINED}/preview")
    stop = wait_for(driver, lambda b: button(b, "Stop"), message="the Stop button")
    stop.click()
    wait_for(
        driver,
        lambda b: b.find_element(By.ID, "m-state").text == "Stopped",
        90,
        "the model shown as stopped",
    )
    assert load_state(root / TRAINED).iterations > 0
    for name in ("Resume", "Restore backup"):
        assert wait_for(driver, lambda b, name=name: button(b, name), 10, f"button {name}")
    assert button(driver, "Stop") is None
    go(driver, server, "#/")
    wait_for(
        driver,
        lambda b: (
            "Stopped"
            in (
                visible(b, f'[data-model="{TRAINED}"]').text
                if visible(b, f'[data-model="{TRAINED}"]')
                else ""
            )
        ),
        20,
        "the list shows the model stopped",
    )
