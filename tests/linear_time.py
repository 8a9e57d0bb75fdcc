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
    """``unit`` repeated to :data:`SMALL` and :data:`LARGE` characters costs linear time."""
    assert_linear_in(work, lambda length: repeated(unit, length), budget_s)


def assert_linear_in(
    work: Callable[[str], object], shape: Callable[[int], str], budget_s: float
) -> None:
    """``shape(n)`` (a text of ``n`` characters) costs linear time at :data:`SMALL` and
    :data:`LARGE` characters, each under ``budget_s``."""
    small_text, large_text = shape(SMALL), shape(LARGE)
    name = repr(large_text[:12]) + "..."
    # The small input first, with one run: super-linear code fails here in seconds rather
    # than spending minutes on the large one.
    small = best_thread_time(work, small_text, runs=1)
    assert small < budget_s, f"{SMALL} chars of {name} took {small:.3f} s"
    small = min(small, best_thread_time(work, small_text))
    large = best_thread_time(work, large_text)
    assert large < budget_s, f"{LARGE} chars of {name} took {large:.3f} s"
    assert large <= MAX_RATIO * max(small, NOISE_FLOOR_S), (
        f"{name}: {SMALL} chars {small:.4f} s, {LARGE} chars {large:.4f} s "
        f"(more than {MAX_RATIO}x for 4x the input)"
    )
