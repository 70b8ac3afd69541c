"""GUI benchmark (a script, not a test): how fast the page shows a long history, and what watching
a run from the page costs the trainer. It prints figures and asserts nothing about wall-clock time.

1. A model folder holding 1,000,000 iterations of history (``bench_record.synthetic_history``,
   written through the trainer's own writer, so compacted as a real run's; plus a ``state.toml``
   from ``fs_core.model.state``, so it lists as a real stopped model), served by uvicorn in a
   thread on a free loopback port and opened in headless Chromium through Selenium (the setup of
   ``tests/test_gui_browser.py``). Medians of ``--runs`` page loads, times measured in the page
   from navigation start (``performance.now()``):
   (a) the models list until the card shows 1,000,000 iterations (a MutationObserver installed
       before the page's own scripts);
   (b) the model's Graph tab until the loss graph is drawn (``document.body.dataset.graphDrawnAt``,
       stamped by app.js after uPlot's batched redraw has run);
   (c) a graph update: from choosing another "Show" (last N iterations) entry, which refetches
       ``/losses``, to the redraw;
   (d) the server's own times of ``/api/models``, ``/api/models/NAME`` and ``/losses`` (medians of
       ``--requests`` requests from this process), and the bytes each answers.
2. Training speed of a tiny real ``fs train`` (lightweight, batch 2, demo faces, the fast loss
   config of bench_record.py) run as a subprocess, alternating alone / watched (the server running
   and a Chromium page open on that model's Graph tab: the status stream, the 5 s detail refresh
   and the 10 s graph refresh). The rate is taken from the run's own training record, between the
   progress record at ``--warmup`` iterations and the last one, so start-up and the final save
   fall outside it. On a 2-core machine trainer, server and browser share the cores; on a training
   machine the browser usually runs on another computer (SSH forwarding), so the ratio here is a
   worst case.

    python bench/bench_gui.py [--runs 5] [--requests 20] [--history 1000000]
                              [--pairs 2] [--iterations 50] [--warmup 10]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_record import FAST, synthetic_history  # noqa: E402  (the shared 1 M generator)

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
NAME = "long"
TOKEN = "bench-gui-token"

#: installed before the page's scripts on every navigation: stamps when the card of NAME first
#: shows the expected iteration count (a MutationObserver runs in the same task as the change)
CARD_OBSERVER = """
window.__fsCardAt = null;
new MutationObserver(() => {
  if (window.__fsCardAt !== null) return;
  const node = document.querySelector('[data-model="%s"] [data-field="iterations"]');
  if (node && node.textContent === %s) window.__fsCardAt = performance.now();
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def cpu_lines() -> list[str]:
    """The CPU model, its AVX-512/AMX flags and the core count: the figures depend on all three."""
    text = Path("/proc/cpuinfo").read_text()
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in text.splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    flags = sorted(
        {
            word
            for line in text.splitlines()
            if line.startswith("flags")
            for word in line.split(":", 1)[1].split()
            if word.startswith(("avx512", "amx"))
        }
    )
    return [
        f"CPU: {model}; {os.cpu_count()} cores visible; load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"CPU flags (avx512*/amx*): {' '.join(flags) or 'none'}",
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(root: Path):
    """The real app (``create_app``) under uvicorn in a thread, as ``fs gui`` serves it."""
    import uvicorn

    from fs_core.gui.app import create_app

    port = free_port()
    config = uvicorn.Config(
        create_app(root, TOKEN, False),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the GUI server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

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
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(check, timeout: float = 60.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


# ---------------------------------------------------------------- 1. a 1 M-iteration history


def make_long_model(root: Path, history: int) -> dict:
    """A stopped model with ``history`` iterations: the record from bench_record's generator, an
    ``end`` record closing its last session (else it lists as killed), and a ``state.toml``."""
    from fs_core.folder.state import save_state
    from fs_core.model.state import ModelState, now
    from fs_core.record.writer import RecordWriter

    folder = root / NAME
    folder.mkdir()
    made = synthetic_history(folder, history)
    sessions = (history + 99_999) // 100_000
    writer = RecordWriter(folder, sessions)
    writer.write("end", iteration=history, reason="done", error=None)
    writer.close()
    state = ModelState(model="original", iterations=history, lowest_avg_loss=0.05)
    for number in range(1, sessions + 1):
        span = min(100_000, history - (number - 1) * 100_000)
        state.sessions.append(
            {
                "id": number,
                "start": now(),
                "end": now(),
                "batch_size": 16,
                "iterations": span,
                "examples_per_second": 320.0,
                "config": {},
            }
        )
    save_state(folder, state)
    made["size"] = (folder / "record" / "events.jsonl").stat().st_size
    return made


def fetch(url: str) -> tuple[float, int]:
    """Seconds and body bytes of one GET, as the page asks (no compression is offered)."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as answer:
        body = answer.read()
    return time.perf_counter() - start, len(body)


def page_figures(driver, base: str, runs: int, history: int) -> dict[str, list[float]]:
    """In-page milliseconds: (a) list card, (b) graph drawn, (c) graph updates, per run."""
    from selenium.webdriver.common.by import By  # noqa: F401  (selenium loaded before timing)

    driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {"source": CARD_OBSERVER % (NAME, json.dumps(f"{history:,}"))},
    )
    out: dict[str, list[float]] = {
        "list": [],
        "graph": [],
        "update_last": [],
        "update_all": [],
        "losses_fetch": [],
        "losses_bytes": [],
    }
    for run in range(runs):
        driver.get(f"{base}?run={run}&view=list#/")
        out["list"].append(
            wait_for(
                lambda: driver.execute_script("return window.__fsCardAt"),
                what="the model card with its iterations",
            )
        )
        driver.get(f"{base}?run={run}&view=graph#/model/{NAME}/graph")
        out["graph"].append(
            float(
                wait_for(
                    lambda: driver.execute_script(
                        "return document.body.dataset.graphDrawnAt"
                        " && document.querySelectorAll('#gr-chart .uplot canvas').length"
                        " && document.body.dataset.graphDrawnAt"
                    ),
                    what="the loss graph drawn",
                )
            )
        )
        for value, key in (("10000", "update_last"), ("", "update_all")):
            # as a user does: pick another "Show" entry; the page refetches /losses and redraws
            started = driver.execute_script(
                """
                const t = performance.now();
                const s = document.getElementById('gr-last');
                s.value = arguments[0];
                s.dispatchEvent(new Event('change'));
                return t;""",
                value,
            )
            drawn = float(
                wait_for(
                    lambda started=started: driver.execute_script(
                        "const v = Number(document.body.dataset.graphDrawnAt);"
                        "return v > arguments[0] ? v : null",
                        started,
                    ),
                    what="the graph redrawn",
                )
            )
            out[key].append(drawn - started)
            entry = driver.execute_script("""
                const e = performance.getEntriesByType('resource')
                  .filter((r) => r.name.includes('/losses')).pop();
                return e ? [e.responseEnd - e.startTime, e.encodedBodySize] : null;""")
            if entry and value == "":
                out["losses_fetch"].append(entry[0])
                out["losses_bytes"].append(entry[1])
    return out


def bench_page(root: Path, args) -> None:
    made = make_long_model(root, args.history)
    print(f"\n1. Page with {args.history:,} iterations of history")
    print(
        f"   record written in {made['seconds']:.1f} s; events.jsonl {made['size']:,} bytes "
        f"({made['size'] / 2**20:.2f} MiB)"
    )
    with serve(root) as base:
        api = f"{base}api/models"
        urls = {
            "/api/models": api,
            f"/api/models/{NAME}": f"{api}/{NAME}",
            f"/api/models/{NAME}/losses?max_points=2000": f"{api}/{NAME}/losses?max_points=2000",
        }
        first = {path: fetch(url)[0] for path, url in urls.items()}  # cold: plugins load once
        for path, url in urls.items():
            times, sizes = zip(*(fetch(url) for _ in range(args.requests)))
            print(
                f"   (d) GET {path}: median {1000 * statistics.median(times):.1f} ms "
                f"(min {1000 * min(times):.1f}, max {1000 * max(times):.1f}, first "
                f"{1000 * first[path]:.0f} ms, {args.requests} requests), {sizes[-1]:,} bytes"
            )
        with browser() as driver:
            found = page_figures(driver, base, args.runs, args.history)

    def line(key: str, label: str) -> None:
        values = found[key]
        print(f"   {label}: median {statistics.median(values):.0f} ms {[round(v) for v in values]}")

    line(
        "list", f"(a) models list, navigation start to the card showing {args.history:,} iterations"
    )
    line("graph", "(b) Graph tab, navigation start to the loss graph drawn")
    line("update_last", "(c) graph update, 'Show' -> last 10,000 iterations, change to redraw")
    line("update_all", "(c) graph update, 'Show' -> all iterations, change to redraw")
    if found["losses_fetch"]:
        print(
            f"       of which the /losses fetch (all iterations, browser's resource timing): "
            f"median {statistics.median(found['losses_fetch']):.0f} ms, "
            f"{int(found['losses_bytes'][-1]):,} bytes received"
        )
    print(
        f"   ({args.runs} page loads each; the first load is cold, the others reuse the "
        f"browser's cached static files as a revisit does)"
    )


# ---------------------------------------------------------------- 2. training, watched or not


def proc_tree_cpu(root_pid: int) -> float:
    """CPU seconds (user + system) of ``root_pid`` and all its descendants, read from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    tree, grew = {root_pid}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        grew = bool(more)
        tree |= more
    return sum(times.get(pid, 0.0) for pid in tree)


def record_rate(model_dir: Path, warmup: int, batch: int) -> tuple[float, float, int]:
    """Examples/s between the progress record at ``warmup`` session iterations and the last one,
    the session average of that last record, and the iterations timed."""
    progress = []
    for line in (model_dir / "record" / "events.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("type") == "progress":
            progress.append(record)
    start = next(r for r in progress if r["session_iterations"] >= warmup)
    last = progress[-1]
    timed = last["session_iterations"] - start["session_iterations"]
    rate = timed * 2 * batch / (last["elapsed"] - start["elapsed"])
    return rate, float(last["examples_per_second"]), timed


def train_run(
    root: Path, faces: Path, config: Path, label: str, args, driver=None, base: str = ""
) -> dict:
    """One ``fs train`` process; with ``driver``, the page opens its model as soon as the record
    exists and stays on the Graph tab until training ends."""
    model_dir = root / label
    command = [
        sys.executable,
        "-m",
        "fs_core",
        "train",
        "-A",
        str(faces / "A"),
        "-B",
        str(faces / "B"),
        "-m",
        str(model_dir),
        "-t",
        "lightweight",
        "-b",
        str(args.batch),
        "-i",
        str(args.iterations),
        "-s",
        "100000",
        "-C",
        str(config),
        "--seed",
        "1",
        "-n",
    ]
    cpu_self = time.process_time()
    cpu_browser = proc_tree_cpu(driver.service.process.pid) if driver else 0.0
    started = time.perf_counter()
    trainer = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    if driver is not None:
        events = model_dir / "record" / "events.jsonl"
        wait_for(lambda: events.is_file() or trainer.poll() is not None, 300, "the record")
        driver.get(f"{base}?run={label}#/model/{label}/graph")
    _, errors = trainer.communicate(timeout=600)
    if trainer.returncode:
        raise RuntimeError(f"fs train failed ({trainer.returncode}): {errors[-2000:]}")
    result = {"wall": time.perf_counter() - started}
    if driver is not None:
        result["graph"] = bool(
            driver.execute_script("return document.querySelectorAll('#gr-chart .uplot').length")
        )
        result["cpu_server"] = time.process_time() - cpu_self
        result["cpu_browser"] = proc_tree_cpu(driver.service.process.pid) - cpu_browser
    result["rate"], result["average"], result["timed"] = record_rate(
        model_dir, args.warmup, args.batch
    )
    return result


def bench_training(root: Path, args) -> None:
    from fs_core.faces.demo import write_demo_data

    faces = root / "faces"
    write_demo_data(faces, count=24, size=128, seed=0)
    config = root / "fast.toml"
    config.write_text(FAST)
    print(
        f"\n2. Training speed, alone and watched (lightweight, batch {args.batch}, "
        f"{args.iterations} iterations a run, rate over iterations {args.warmup} to the end)"
    )
    print(
        f"   NOTE: this machine's {os.cpu_count()} cores are shared by the trainer, the GUI "
        f"server and the headless browser; on a GPU machine, watched over SSH, the browser "
        f"would not compete with training."
    )
    results: dict[str, list[dict]] = {"alone": [], "watched": []}
    for pair in range(args.pairs):
        results["alone"].append(train_run(root, faces, config, f"alone{pair}", args))
        with serve(root) as base, browser() as driver:
            fetch(f"{base}api/info")  # the server's one-off plugin scan, as in a GUI left open
            results["watched"].append(
                train_run(root, faces, config, f"watched{pair}", args, driver, base)
            )
        for kind in ("alone", "watched"):
            r = results[kind][-1]
            extra = (
                f"; GUI CPU during the run: server {r['cpu_server']:.1f} s, browser "
                f"{r['cpu_browser']:.1f} s, graph shown {r['graph']}"
                if kind == "watched"
                else ""
            )
            print(
                f"   pair {pair + 1} {kind:>7}: {r['rate']:.2f} examples/s over {r['timed']} "
                f"iterations (session average {r['average']:.2f}), {r['wall']:.0f} s "
                f"wall{extra}"
            )
    alone = statistics.median(r["rate"] for r in results["alone"])
    watched = statistics.median(r["rate"] for r in results["watched"])
    print(
        f"   median alone {alone:.2f} examples/s, watched {watched:.2f} examples/s: "
        f"watched/alone = {watched / alone:.3f} ({100 * (watched / alone - 1):+.1f}%)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="page loads measured")
    parser.add_argument("--requests", type=int, default=20, help="requests per endpoint")
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--pairs", type=int, default=2, help="alone/watched training pairs")
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--skip-page", action="store_true")
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args()
    if not (os.path.isfile(CHROMEDRIVER) and os.path.isfile(CHROMIUM)):
        sys.exit("needs Chromium and its driver (apt-get install chromium chromium-driver)")
    for line in cpu_lines():
        print(line)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        if not args.skip_page:
            bench_page(root, args)
        if not args.skip_training:
            bench_training(root, args)
    print(
        f"\ntotal {time.perf_counter() - started:.0f} s; load average at the end "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


if __name__ == "__main__":
    main()
