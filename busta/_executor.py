"""The API layer's default executor for frame work: made lazily, shared, sized to what is asked.

The engines own no threads (see ``busta.streaming.workers``); the public functions
turn their ``threads=`` into a :class:`~busta.streaming.workers.Workers` here. One
pool per thread count is made on first use and shared by every message that asks
for that count, so ``threads=N`` never uses more than N threads for one message
(the calling thread and N - 1 pool threads, named ``busta-N-...``), whatever
other messages asked for.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from .errors import UsageError
from .streaming.workers import MAX_THREADS, Workers

if TYPE_CHECKING:  # concurrent.futures is imported on first parallel use: it slows `import busta`
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["check_threads", "default_threads", "workers_for"]

_pools: dict[int, ThreadPoolExecutor] = {}
_lock = threading.Lock()


def default_threads() -> int:
    """What ``threads=None`` means: one thread per core (at most :data:`MAX_THREADS`)."""
    return min(os.cpu_count() or 1, MAX_THREADS)


def check_threads(threads: int | None) -> int:
    """The thread count ``threads=`` asks for; :class:`UsageError` unless None or 1 to MAX_THREADS."""
    if threads is None:
        return default_threads()
    if not isinstance(threads, int) or isinstance(threads, bool) or not 1 <= threads <= MAX_THREADS:
        raise UsageError(f"threads must be an int from 1 to {MAX_THREADS}")
    return threads


def workers_for(threads: int | None) -> Workers | None:
    """The workers of one message that may use ``threads`` threads (None: one per core; 1: no workers)."""
    count = check_threads(threads)
    if count == 1:
        return None
    return Workers(_pool(count), count)


def _pool(threads: int) -> ThreadPoolExecutor:
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - see TYPE_CHECKING above

    with _lock:
        pool = _pools.get(threads)
        if pool is None:
            pool = _pools[threads] = ThreadPoolExecutor(max_workers=threads - 1, thread_name_prefix=f"busta-{threads}")
        return pool
