"""The benchmark's alternation: each run is timed ``repeats`` times after one untimed run, and every
other round goes in the reverse order, so that no run always follows the same one."""

from __future__ import annotations

from benchmarks._timing import interleaved


def test_rounds_alternate_their_order_and_every_run_is_timed_repeats_times() -> None:
    calls: list[str] = []
    runs = {name: (lambda name=name: calls.append(name)) for name in ("a", "b", "c")}
    medians = interleaved(runs, 3)  # type: ignore[arg-type]
    assert calls[:3] == ["a", "b", "c"]  # the untimed warm-up
    assert calls[3:] == ["a", "b", "c", "c", "b", "a", "a", "b", "c"]
    assert set(medians) == {"a", "b", "c"} and all(seconds >= 0 for seconds in medians.values())
