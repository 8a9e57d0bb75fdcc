"""Which machine a benchmark ran on, in enough detail to compare runs across machines.

Build machines differ from one session to the next: the same commit served ``/v1/ask`` at
209 req/s on one 2-core VM and at 82 on another (2026-12-01; BENCHMARKS.md, "Load"), where
int8 inference took 1.7 ms per question against 7.6 ms. The CPU model, the vector extensions
int8 kernels depend on (AVX-512 VNNI, AVX-VNNI, AMX) and a fixed single-core calibration loop
tell a slower machine from a slower commit.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

# The extensions ONNX Runtime's int8 (and BLAS's fp32) kernels choose between, as /proc/cpuinfo
# names them.
NOTABLE_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
CALIBRATION_LOOPS = 2_000_000

# Whether other work shared the cores: the 1-minute load average when the benchmark started
# (it imports this module first), before its own work raises it. Results call describe() at
# the end.
LOAD_AVERAGE_AT_START = round(os.getloadavg()[0], 2)


def cpu_model_and_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, list[str]]:
    """The first CPU's model name and which of :data:`NOTABLE_FLAGS` it has ("" and [] where
    there is no /proc/cpuinfo)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor(), []
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
        if model and flags:
            break
    return model, [flag for flag in NOTABLE_FLAGS if flag in flags]


def calibration_ms() -> float:
    """Milliseconds one core takes for a fixed pure-Python loop (best of 3): the machine's
    single-thread speed, which the request path outside the models scales with."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(CALIBRATION_LOOPS):
            total += i
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


def describe() -> dict[str, object]:
    """The ``machine`` object of a bench result."""
    model, flags = cpu_model_and_flags()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "cpu_flags": flags,
        "calibration_ms": calibration_ms(),
        "load_average_at_start": LOAD_AVERAGE_AT_START,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def summary(machine: dict[str, object]) -> str:
    """One line for a table's caption: ``2 x AMD EPYC (avx2, fma), loop 180 ms``."""
    flags = ", ".join(machine.get("cpu_flags") or []) or "no AVX2"  # type: ignore[arg-type]
    model = machine.get("cpu_model") or "unknown CPU"
    loop = machine.get("calibration_ms")
    line = f"{machine.get('cpus')} x {model} ({flags}), calibration loop {loop} ms"
    load = machine.get("load_average_at_start")
    if load is None:  # recorded since 2026-12-03
        return line
    return f"{line}, load average {load} at the start"
