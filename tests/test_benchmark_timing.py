"""The benchmark's alternation: each run is timed ``repeats`` times after one untimed run, and every
other round goes in the reverse order, so that no run always follows the same one. A ratio of two
runs is the median of their ratios round by round, so a slow phase of the machine that falls on one
run's samples and not the other's does not move it."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest

from benchmarks import _timing
from benchmarks._timing import interleaved


def test_rounds_alternate_their_order_and_every_run_is_timed_repeats_times() -> None:
    calls: list[str] = []
    runs = {name: (lambda name=name: calls.append(name)) for name in ("a", "b", "c")}
    medians = interleaved(runs, 3)  # type: ignore[arg-type]
    assert calls[:3] == ["a", "b", "c"]  # the untimed warm-up
    assert calls[3:] == ["a", "b", "c", "c", "b", "a", "a", "b", "c"]
    assert set(medians) == {"a", "b", "c"} and all(seconds >= 0 for seconds in medians.values())


def test_a_ratio_is_the_median_of_the_ratios_within_each_round(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    monkeypatch.setattr(_timing, "time", SimpleNamespace(perf_counter=lambda: clock[0]))

    def taking(seconds: list[float]) -> Callable[[], None]:
        left: Iterator[float] = iter([0.0, *seconds])  # the untimed warm-up takes no time

        def run() -> None:
            clock[0] += next(left)

        return run

    # "b" does twice the work of "a"; the machine is three times slower in the last rounds, and in
    # round 2 the slow phase began between the two runs
    fast, slow = [1.0, 1.0, 1.0, 3.0, 3.0], [2.0, 2.0, 6.0, 6.0, 6.0]
    t = interleaved({"a": taking(fast), "b": taking(slow)}, 5)
    assert t.samples == {"a": fast, "b": slow}
    assert t.ratio("b", "a") == 2.0
    assert t["b"] / t["a"] == statistics.median(slow) / statistics.median(fast) == 6.0  # what the medians say
