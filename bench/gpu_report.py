"""The GPU benchmark's report: rates and MFU from a case's measurements, ``results.md`` and
``results.json`` (written atomically, after every case, so a run stopped early keeps what it had).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

CEILING_OF = {  # training precision -> the ceiling its MFU is taken against
    "float32": "float32_default",
    "float32_highest": "float32_highest",
    "mixed_bfloat16": "bfloat16",
    "mixed_float16": "float16",
}


def add_rates(case: dict, models: dict, ceilings: dict) -> None:
    """Achieved TFLOP/s and MFU against the matching ceiling (and true float32 for float32)."""
    flops = models[case["model"]]["flops_per_example"]
    case["gflop_per_example"] = flops / 1e9
    for kind in ("loop", "device"):
        achieved = case[f"{kind}_examples_per_second"] * flops
        case[f"{kind}_tflops"] = achieved / 1e12
        case[f"{kind}_mfu"] = achieved / ceilings[CEILING_OF[case["precision"]]]
    if case["precision"] == "float32":
        case["device_mfu_of_true_float32"] = (
            case["device_examples_per_second"] * flops / ceilings["float32_highest"]
        )


def markdown(results: dict) -> str:
    machine, info = results["machine"], results.get("info", {})
    lines = ["# GPU benchmark: fs's Keras models under JAX/XLA", ""]
    lines.append(
        "Measures fs's model architectures (built as `fs train` builds them) trained by a jitted "
        "JAX step with fs's default loss and optimizer, not fs's TensorFlow training loop "
        "(TensorFlow is not on this machine)."
    )
    lines.append("")
    gpu = info.get("gpu", {})
    lines.append(f"- GPU: {', '.join(gpu.get('devices', ['?']))} ({gpu.get('platform', '?')})")
    for row in gpu.get("nvidia_smi", []):
        lines.append(f"  - nvidia-smi: {row}")
    lines.append(
        f"- CPU: {machine['cpu']['model']}, {machine['cpu']['cores']} cores "
        f"({machine['cpu']['usable_cores']} usable), flags: "
        f"{', '.join(machine['cpu']['flags']) or 'none of amx*/avx512_*'}"
        f"{' (AMX)' if machine['cpu']['amx'] else ' (no AMX)'}"
    )
    shown = info.get("versions", machine["versions"])
    lines.append("- versions: " + ", ".join(f"{k} {v}" for k, v in shown.items()))
    lines.append(f"- JAX default matmul precision: {gpu.get('default_matmul_precision', '?')}")
    lines.append("")
    if "ceilings" in info:
        size = info["ceiling_size"]
        lines += [f"## Matrix-product ceiling ({size}×{size}, median of 5)", ""]
        lines += ["| precision | TFLOP/s |", "|---|---|"]
        for name, value in info["ceilings"].items():
            lines.append(f"| {name} | {value / 1e12:.1f} |")
        lines.append("")
    lines += ["## Training", ""]
    lines += [
        "| case | GFLOP/ex | EG/s loop | EG/s device | TFLOP/s | MFU | trace+compile s | "
        "first step s | peak GiB | loss first → last |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in results["cases"]:
        label = case["case"]
        if "error" in case or "skipped" in case:
            lines.append(f"| {label} | {case.get('error') or case.get('skipped')} |||||||||")
            continue
        peak = case.get("peak_gpu_gib")
        loss = case["loss_first"], case["loss_last"]
        true = case.get("device_mfu_of_true_float32")
        true_float32 = "" if true is None else f" ({true:.0%} of highest-precision f32)"
        lines.append(
            f"| {label} | {case['gflop_per_example']:.1f} | "
            f"{case['loop_examples_per_second']:.1f} | {case['device_examples_per_second']:.1f} | "
            f"{case['device_tflops']:.1f} | {case['device_mfu']:.0%}{true_float32} | "
            f"{case.get('trace_s', 0.0) + case.get('compile_s', 0.0):.1f} | "
            f"{case['first_step_s']:.1f} | "
            f"{'-' if peak is None else f'{peak:.2f}'} | "
            f"{sum(loss[0]):.3f} → {sum(loss[1]):.3f} |"
        )
    lines.append("")
    lines.append(
        "EG/s loop: a host batch copied in and both losses read back every step (as fs's loop); "
        "EG/s device: batches already on the GPU, steps back to back. TFLOP/s and MFU are of the "
        "device rate, against the ceiling of the case's precision (float32: the default-precision "
        "float32 ceiling)."
    )
    lines.append("")
    if results.get("loader"):
        lines += ["## Loader (fs_core.data.loader, all default augmentations)", ""]
        lines += [
            "| faces for | workers | faces/s | CPU ms/face | needed (fastest case) | room |",
            "|---|---|---|---|---|---|",
        ]
        for row in results["loader"]:
            room = row["faces_per_second"] / row["needed"] if row["needed"] else None
            lines.append(
                f"| {row['for']} | {row['workers']} | {row['faces_per_second']:.0f} | "
                f"{row['cpu_ms_per_face']:.2f} | {row['needed']:.0f} | "
                f"{'-' if room is None else f'x{room:.2f}'} |"
            )
        lines.append("")
    if results["notes"]:
        lines += ["## Notes", ""] + [f"- {note}" for note in results["notes"]] + [""]
    return "\n".join(lines)


def write_results(out: Path, results: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("results.json", json.dumps(results, indent=2)),
        ("results.md", markdown(results)),
    ):
        temporary = out / f".{name}.tmp"
        temporary.write_text(text)
        os.replace(temporary, out / name)
