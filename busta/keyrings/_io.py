"""A thread pool for keyrings that wait on the network or a device (KMS, HSM).

Separate from the engine's CPU pool so that I/O waits never hold up frames,
and created only when first needed (concurrent.futures too: it is a few ms of ``import busta``,
which imports this module for the multi-keyring).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Final, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["IO_THREADS", "in_pool", "performs_io", "run_all", "run_each"]

#: At most this many keyring calls run at once in one process.
IO_THREADS: Final = 32

_T = TypeVar("_T")
_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()
_THREAD_PREFIX = "busta-io"


def _executor() -> ThreadPoolExecutor:
    global _pool  # noqa: PLW0603 - one process-wide pool, created on first use
    with _lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - see the module docstring

            _pool = ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix=_THREAD_PREFIX)
        return _pool


def in_pool() -> bool:
    """True on one of this pool's threads: work started here must not wait on the pool (it could
    deadlock once every thread waits), so nested keyrings run their calls in turn."""
    return threading.current_thread().name.startswith(_THREAD_PREFIX)


def performs_io(keyring: object) -> bool:
    """Keyrings that call a service or a device say so with a true ``performs_io`` attribute."""
    return bool(getattr(keyring, "performs_io", False))


def run_all(calls: Sequence[Callable[[], _T]]) -> list[_T]:
    """Run ``calls`` concurrently; return their results in order, or raise the first error (in order)."""
    futures = [_executor().submit(call) for call in calls]
    return [future.result() for future in futures]


def run_each(calls: Sequence[Callable[[], _T]]) -> Iterator[Future[_T]]:
    """Start ``calls`` concurrently; yield their futures as they finish."""
    from concurrent.futures import as_completed  # noqa: PLC0415 - loaded by _executor() just before

    futures = [_executor().submit(call) for call in calls]
    return as_completed(futures)
