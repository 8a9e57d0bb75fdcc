"""One check that a function's cost grows linearly with its input, for the hostile-input tests.

The function is timed at 1,000 and 4,000 characters in CPU time of the calling thread (what one
request costs the process, and not inflated when other processes share the machine), best of a
few runs taken in turn with the garbage collector paused. 4x the input may cost at most 6x the
time (linear growth with room for noise), and both sizes stay under the caller's budget.
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
    """The least CPU time of ``runs`` calls of ``work(text)`` in this thread."""
    return best_thread_times(work, [text], runs)[0]


def best_thread_times(
    work: Callable[[str], object], texts: list[str], runs: int = 5
) -> list[float]:
    """Per text, the least CPU time of ``runs`` calls of ``work(text)`` in this thread, the
    texts taken in turn: a VM that slows down for a while slows every size alike, where timing
    all small runs before all large ones once made 4x the input look 6.4x slower."""
    # A full collection of the test process's heap (models, packs, every earlier test's
    # objects) can land inside one timed run and cost more than the work itself; it once made
    # a linear redaction shape look 6.1x slower at 4x the input. The collector is paused so
    # the clock measures the work alone.
    best = [float("inf")] * len(texts)
    gc.collect()
    gc.disable()
    try:
        for _ in range(runs):
            for index, text in enumerate(texts):
                started = time.thread_time()
                work(text)
                best[index] = min(best[index], time.thread_time() - started)
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
    small_again, large = best_thread_times(work, [small_text, large_text])
    small = min(small, small_again)
    assert large < budget_s, f"{LARGE} chars of {name} took {large:.3f} s"
    assert large <= MAX_RATIO * max(small, NOISE_FLOOR_S), (
        f"{name}: {SMALL} chars {small:.4f} s, {LARGE} chars {large:.4f} s "
        f"(more than {MAX_RATIO}x for 4x the input)"
    )
