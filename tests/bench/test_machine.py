"""bench/machine.py: what a benchmark records about the machine it ran on."""

from __future__ import annotations

from pathlib import Path

from bench.machine import cpu_model_and_flags, describe, summary

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu sse sse2 avx2 fma bmi2
processor\t: 1
model name\t: Something Else
flags\t\t: avx512f avx512_vnni
"""


def test_the_first_cpus_model_and_only_the_notable_flags(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO)

    assert cpu_model_and_flags(cpuinfo) == ("AMD EPYC", ["avx2", "fma"])


def test_no_cpuinfo_is_an_empty_flag_list(tmp_path: Path) -> None:
    _, flags = cpu_model_and_flags(tmp_path / "missing")

    assert flags == []


def test_describe_measures_the_calibration_loop_and_summary_names_it() -> None:
    machine = describe()

    assert machine["cpus"] and float(machine["calibration_ms"]) > 0  # type: ignore[arg-type]
    assert float(machine["load_average_at_start"]) >= 0  # type: ignore[arg-type]
    line = summary(machine)
    assert str(machine["calibration_ms"]) in line and f"{machine['cpus']} x " in line


def test_summary_says_how_busy_the_machine_was_where_it_was_recorded() -> None:
    machine = {"cpus": 2, "cpu_model": "AMD EPYC", "cpu_flags": ["avx2"], "calibration_ms": 70.0}

    assert "load average" not in summary(machine)
    assert summary({**machine, "load_average_at_start": 1.5}).endswith(
        "calibration loop 70.0 ms, load average 1.5 at the start")
