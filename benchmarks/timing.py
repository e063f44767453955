"""Timing helper shared by the benchmarks (run them as scripts: ``python benchmarks/bench_*.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_seconds(function: Callable[[], object], repeats: int, sync: Callable[[], None]) -> float:
    """Best of ``repeats`` timings after one warm-up call; ``sync`` waits for the device (no-op on CPU)."""
    function()
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        sync()
        best = min(best, time.perf_counter() - start)
    return best
