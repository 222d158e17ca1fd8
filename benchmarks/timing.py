"""The benchmarks' side-by-side timer: a peer and hetflow timed in turns, so that both meet the same load."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def interleaved_medians(fns: list[Callable[[], object]], repeat: int, warmup: int = 2,
                        clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """Median ``clock`` seconds of each function over ``repeat`` rounds in which every function runs once in turn,
    after ``warmup`` such untimed rounds."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, ts in zip(fns, times):
            start = clock()
            fn()
            ts.append(clock() - start)
    return [statistics.median(ts) for ts in times]
