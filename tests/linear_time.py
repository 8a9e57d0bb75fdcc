"""One check that a function's cost grows linearly with its input, for the hostile-input tests.

The function is timed at 1,000 and 4,000 characters in CPU time of the calling thread (what one
request costs the process, and not inflated when other processes share the machine), best of a
few runs with the garbage collector paused. 4x the input may cost at most 6x the time (linear
growth with room for noise), and both sizes stay under the caller's budget.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

SMALL, LARGE = 1_000, 4_000
MAX_RATIO = 6.0
# Below this the clock and the machine's noise dominate; the ratio is taken from here on.
NOISE_FLOOR_S = 0.005


def repeated(unit: str, length: int) -> str:
    """``unit`` repeated and cut to exactly ``length`` characters."""
    return (unit * (length // len(unit) + 1))[:length]


def best_thread_time(work: Callable[[str], object], text: str, runs: int = 5) -> float:
    # A full collection of the test process's heap (models, packs, every earlier test's
    # objects) can land inside one timed run and cost more than the work itself; it once made
    # a linear redaction shape look 6.1x slower at 4x the input. The collector is paused so
    # the clock measures the work alone.
    best = float("inf")
    gc.collect()
    gc.disable()
    try:
        for _ in range(runs):
            started = time.thread_time()
            work(text)
            best = min(best, time.thread_time() - started)
    finally:
        gc.enable()
    return best


def assert_linear(work: Callable[[str], object], unit: str, budget_s: float) -> None:
    # The small input first, with one run: super-linear code fails here in seconds rather
    # than spending minutes on the large one.
    small = best_thread_time(work, repeated(unit, SMALL), runs=1)
    assert small < budget_s, f"{SMALL} chars of {unit!r} took {small:.3f} s"
    small = min(small, best_thread_time(work, repeated(unit, SMALL)))
    large = best_thread_time(work, repeated(unit, LARGE))
    assert large < budget_s, f"{LARGE} chars of {unit!r} took {large:.3f} s"
    assert large <= MAX_RATIO * max(small, NOISE_FLOOR_S), (
        f"{unit!r}: {SMALL} chars {small:.4f} s, {LARGE} chars {large:.4f} s "
        f"(more than {MAX_RATIO}x for 4x the input)"
    )
