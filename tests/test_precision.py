"""``mixed_precision = "auto"``: the choice for each kind of machine, and reading CPU flags."""

import pytest

from fs_core.training.precision import (
    Gpu,
    Hardware,
    choose_precision,
    cpu_flags,
)

AMX_CPU = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"})
ZEN4_CPU = frozenset({"avx2", "avx512f", "avx512_bf16"})  # bf16 dot products, no AMX
OLD_CPU = frozenset({"sse4_2", "avx2", "fma"})


@pytest.mark.parametrize(
    ("flags", "policy"),
    [
        (AMX_CPU, "mixed_bfloat16"),
        (ZEN4_CPU, "float32"),
        (OLD_CPU, "float32"),
        (frozenset(), "float32"),
    ],
)
def test_auto_on_a_cpu_takes_bfloat16_only_with_amx(flags, policy):
    assert choose_precision("auto", Hardware(cpu_flags=flags)).policy == policy


@pytest.mark.parametrize(
    ("capabilities", "policy"),
    [
        ([(9, 0)], "mixed_float16"),
        ([(7, 5)], "mixed_float16"),
        ([(8, 6), (6, 1)], "float32"),  # the oldest card decides
        ([(6, 1)], "float32"),
        ([None], "float32"),
    ],
)
def test_auto_on_gpus_takes_float16_on_tensor_cores(capabilities, policy):
    gpus = tuple(Gpu(name=f"gpu{i}", compute_capability=c) for i, c in enumerate(capabilities))
    # the GPU decides even on a CPU with AMX: training runs on the GPU
    assert choose_precision("auto", Hardware(cpu_flags=AMX_CPU, gpus=gpus)).policy == policy


def test_an_explicit_choice_is_kept_whatever_the_machine():
    amx = Hardware(cpu_flags=AMX_CPU)
    assert choose_precision("none", amx).policy == "float32"
    assert choose_precision("mixed_float16", amx).policy == "mixed_float16"
    assert (
        choose_precision("mixed_bfloat16", Hardware(cpu_flags=OLD_CPU)).policy == "mixed_bfloat16"
    )


def test_the_choice_says_why():
    choice = choose_precision("auto", Hardware(cpu_flags=ZEN4_CPU))
    assert choice.describe() == (
        "Precision: float32 (auto: CPU has avx512_bf16 but no AMX: bfloat16 would be slower)"
    )
    assert choice.to_record()["asked"] == "auto"
    gpu = Hardware(cpu_flags=OLD_CPU, gpus=(Gpu("NVIDIA H100", (9, 0)),))
    assert "NVIDIA H100 (compute capability 9.0)" in choose_precision("auto", gpu).reason


def test_cpu_flags_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nmodel name\t: X\nflags\t\t: fpu avx2 amx_bf16\n\nprocessor\t: 1\n"
    )
    assert cpu_flags(info) == {"fpu", "avx2", "amx_bf16"}
    assert cpu_flags(tmp_path / "missing") == frozenset()
