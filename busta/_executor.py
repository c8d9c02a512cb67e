"""The API layer's default executor for frame work: made lazily, shared, sized to what is asked.

The engines own no threads (see ``busta.streaming.workers``); the public functions
turn their ``threads=`` into a :class:`~busta.streaming.workers.Workers` here. One
pool per thread count is made on first use and shared by every message that asks
for that count, so ``threads=N`` never uses more than N threads for one message
(the calling thread and N - 1 pool threads, named ``busta-N-...``), whatever
other messages asked for.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import TYPE_CHECKING

from .errors import UsageError
from .streaming.workers import MAX_THREADS, Workers

if TYPE_CHECKING:  # concurrent.futures (and the logging it imports) is not needed to import busta
    from concurrent.futures import Executor

__all__ = ["check_threads", "default_threads", "workers_for"]

_workers: dict[tuple[int, bool], Workers] = {}
_pools: dict[int, Executor] = {}
_lock = threading.Lock()


@functools.cache
def default_threads() -> int:
    """What ``threads=None`` means: one thread per core (at most :data:`MAX_THREADS`), counted once
    (``os.cpu_count()`` reads ``/sys`` on every call: a few microseconds of each small message)."""
    return min(os.cpu_count() or 1, MAX_THREADS)


def check_threads(threads: int | None) -> int:
    """The thread count ``threads=`` asks for; :class:`UsageError` unless None or 1 to MAX_THREADS."""
    if threads is None:
        return default_threads()
    if not isinstance(threads, int) or isinstance(threads, bool) or not 1 <= threads <= MAX_THREADS:
        raise UsageError(f"threads must be an int from 1 to {MAX_THREADS}")
    return threads


def workers_for(threads: int | None, *, streaming: bool) -> Workers | None:
    """The workers of one message that may use ``threads`` threads (None: one per core; 1: no workers).
    A stream's (``streaming``) split runs from ``MIN_PARALLEL_STREAM_RUN_BYTES``, a message sealed or
    opened whole in memory from ``MIN_PARALLEL_RUN_BYTES`` (``busta.streaming.workers``); both share
    the count's pool."""
    count = check_threads(threads)
    if count == 1:
        return None
    workers = _workers.get((count, streaming))  # made once per count: a small message pays one dict lookup
    return workers if workers is not None else _made(count, streaming)


def _made(threads: int, streaming: bool) -> Workers:
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - see TYPE_CHECKING above

    with _lock:
        workers = _workers.get((threads, streaming))
        if workers is None:
            pool = _pools.get(threads)
            if pool is None:
                pool = _pools[threads] = ThreadPoolExecutor(
                    max_workers=threads - 1, thread_name_prefix=f"busta-{threads}"
                )
            workers = _workers[threads, streaming] = Workers(pool, threads, streaming)
        return workers
