"""Timing helpers: medians of repeated runs, side by side."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(run: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """The median wall time of ``run`` over ``repeats`` runs, after ``warmup`` untimed runs."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class Timings(dict[str, float]):
    """The median seconds of each run of :func:`interleaved`, and every round's samples."""

    def __init__(self, samples: dict[str, list[float]]) -> None:
        super().__init__((name, statistics.median(values)) for name, values in samples.items())
        self.samples = samples

    def ratio(self, num: str, den: str) -> float:
        """The median over rounds of ``num``'s time over ``den``'s in the same round (above 1: ``den``
        is the faster). Two runs of one round are a fraction of a second apart, so a slow phase of the
        machine (this VM's come and go, each some hundred milliseconds) slows both: a ratio of the two
        medians would instead swing with how such phases fell on each run's rounds."""
        pairs = zip(self.samples[num], self.samples[den], strict=True)
        return statistics.median(a / b for a, b in pairs)


def interleaved(runs: dict[str, Callable[[], object]], repeats: int) -> Timings:
    """Each run timed ``repeats`` times, in alternation so that machine noise hits all alike; every
    other round runs them in the reverse order, so that none always follows the same one (a run that
    frees a large buffer, say, changes the heap the next one allocates from)."""
    for run in runs.values():
        run()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    order = list(runs.items())
    for round_ in range(repeats):
        for name, run in order if round_ % 2 == 0 else reversed(order):
            start = time.perf_counter()
            run()
            samples[name].append(time.perf_counter() - start)
    return Timings(samples)
