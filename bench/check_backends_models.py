"""Does every model of fs_plugins_models (and every Phaze-A preset) train on each Keras backend?

For each model and backend, one real ``fs train`` iteration and its save, in a process of its own
with ``KERAS_BACKEND`` set (a process's backend is fixed when Keras is first imported): batch 1,
float32, the model at the smallest size its options allow (:data:`SMALL`); presets as they are,
with ``enc_load_weights`` off (fs ships no ImageNet or CLIP weights). Prints a table: model,
backend, ok/failed, seconds (the whole process: start-up, build, the step, the save), and the
error line of a failure.

    python bench/check_backends_models.py --backends torch,jax
    python bench/check_backends_models.py --backends jax --models original,villain --presets none
    python bench/check_backends_models.py --presets dny256,clipfaker128 --models none

Runs one case at a time (on a shared machine, two at once only measure each other).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import attrs
import tomli_w

PRESETS = (
    Path(__file__).resolve().parents[1] / "fs_plugins_models" / "fs_plugins_models" / "presets"
)

#: each model at the smallest size its options allow (input 64 where it is an option, the fewest
#: filters the option's range takes): the sizes the pack's own CLI test trains, so the check
#: measures the backend, not the machine
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fs_plugins_models" / "tests"))
from test_models_train_cli import SMALL  # noqa: E402 (the test folder is not a package)


@attrs.frozen
class Case:
    """One row of the table: a model (``phaze_a:<preset>`` for a preset) and its options."""

    label: str
    model: str
    options: dict


@attrs.frozen
class Outcome:
    label: str
    backend: str
    ok: bool
    seconds: float
    error: str


def cases(models: str, presets: str) -> list[Case]:
    chosen = list(SMALL) if models == "all" else [m for m in models.split(",") if m and m != "none"]
    found = [Case(name, name, SMALL[name]) for name in chosen]
    files = sorted(PRESETS.glob("phaze_a_*.toml"))
    if presets != "all":
        wanted = {p for p in presets.split(",") if p and p != "none"}
        files = [f for f in files if f.stem.removeprefix("phaze_a_") in wanted]
    for path in files:
        values = tomllib.loads(path.read_text())["model"]["phaze_a"]
        label = f"phaze_a:{path.stem.removeprefix('phaze_a_')}"
        found.append(Case(label, "phaze_a", dict(values, enc_load_weights=False)))
    return found


def error_line(stderr: str, stdout: str) -> str:
    """The line that says why: fs's own one-line error, else the exception's last line."""
    lines = [line.strip() for line in (stderr + "\n" + stdout).splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("fs train: error:"):
            return line
    for line in reversed(lines):
        if "Error" in line.split(":")[0] or "Exception" in line.split(":")[0]:
            return line[:300]
    return (lines[-1] if lines else "no output")[:300]


def run_case(case: Case, backend: str, demo: Path, work: Path, timeout: int) -> Outcome:
    folder = work / f"{case.label.replace(':', '_')}_{backend}"
    folder.mkdir(parents=True)
    config = folder / "fs.toml"
    config.write_text(
        tomli_w.dumps(
            {
                "global": {"mixed_precision": "none", "save_optimizer": "never"},
                "model": {case.model: case.options},
            }
        )
    )
    model_dir = folder / "model"
    command = [
        sys.executable, "-m", "fs_core", "train", "--backend", backend,
        "-A", str(demo / "A"), "-B", str(demo / "B"), "-m", str(model_dir),
        "-t", case.model, "-b", "1", "-i", "1", "-C", str(config), "-n", "--seed", "0",
    ]  # fmt: skip
    environment = dict(os.environ, KERAS_BACKEND=backend)
    start = time.perf_counter()
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=environment, check=False
        )
    except subprocess.TimeoutExpired:
        return Outcome(case.label, backend, False, time.perf_counter() - start, f"over {timeout} s")
    seconds = time.perf_counter() - start
    saved = (model_dir / "state.toml").exists() and (model_dir / "weights.h5").exists()
    if result.returncode == 0 and saved:
        iterations = tomllib.loads((model_dir / "state.toml").read_text()).get("iterations")
        if iterations == 1:
            return Outcome(case.label, backend, True, seconds, "")
        return Outcome(case.label, backend, False, seconds, f"saved {iterations} iterations, not 1")
    why = error_line(result.stderr, result.stdout)
    if result.returncode == 0:
        why = f"exit 0 but no save in {model_dir}"
    (folder / "stderr.txt").write_text(result.stderr)
    return Outcome(case.label, backend, False, seconds, why)


def table(outcomes: list[Outcome]) -> str:
    rows = ["| model | backend | result | seconds | error |", "|---|---|---|---:|---|"]
    for o in outcomes:
        result, error = ("ok" if o.ok else "failed"), o.error.replace("|", "\\|")
        rows.append(f"| {o.label} | {o.backend} | {result} | {o.seconds:.0f} | {error} |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backends", default="torch,jax", help="comma-separated (default torch,jax)"
    )
    parser.add_argument("--models", default="all", help="comma-separated models, all, or none")
    parser.add_argument("--presets", default="all", help="comma-separated presets, all, or none")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per case")
    parser.add_argument("--work", type=Path, help="keep the model folders here (default: temp)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="fs_check_backends_"))
    demo = work / "demo"
    if not (demo / "A").exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "fs_core",
                "demo-data",
                str(demo),
                "--count",
                "2",
                "--size",
                "256",
            ],
            check=True,
            capture_output=True,
        )
    outcomes = []
    for backend in [b for b in args.backends.split(",") if b]:  # one backend at a time
        for case in cases(args.models, args.presets):
            outcome = run_case(case, backend, demo, work / "runs", args.timeout)
            outcomes.append(outcome)
            state = "ok" if outcome.ok else f"FAILED: {outcome.error}"
            print(f"{case.label} on {backend}: {state} ({outcome.seconds:.0f} s)", flush=True)
    print()
    print(table(outcomes))
    print(f"\nfolders and failures' stderr: {work / 'runs'}")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
