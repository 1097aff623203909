"""Wall-clock timing of small functions, taking turns so a busy moment of a shared CPU hits
them alike (the app's live latency figures; benchmarks/ time whole runs)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_ms(
    functions: dict[str, Callable[[], object]], runs: int = 30, warmup: int = 2, block: int = 1
) -> dict[str, float]:
    """Median wall time in milliseconds of each ``name -> function()`` over ``runs`` calls, after
    ``warmup`` calls; the functions take turns, ``block`` calls each, so a busy moment of a shared
    CPU hits them alike (a block longer than 1 lets each function keep its own data in the caches
    between its calls, as when it runs alone)."""
    for _ in range(warmup):
        for function in functions.values():
            function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for start_run in range(0, runs, block):
        for name, function in functions.items():
            for _ in range(min(block, runs - start_run)):
                start = time.perf_counter()
                function()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) * 1e3 for name, values in times.items()}
