"""Running test work on many threads at once, bounded in time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

_T = TypeVar("_T")


def run_threads(count: int, work: Callable[[int], _T], *, timeout: float = 30.0) -> list[_T]:
    """Run ``work(i)`` on ``count`` threads released together by a barrier; re-raise the first failure."""
    results: dict[int, _T] = {}
    failures: list[BaseException] = []
    barrier = threading.Barrier(count)

    def body(index: int) -> None:
        try:
            barrier.wait(timeout)
            results[index] = work(index)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "threads did not finish in time (deadlock?)"
    if failures:
        raise failures[0]
    return [results[i] for i in range(count)]
