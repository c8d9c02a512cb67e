"""When and how the engine spreads frames over threads.

AES-GCM in ``cryptography`` releases the GIL, so runs of frames sealed or opened
on several threads scale with cores. Small frames do not pay (the Python around
each call holds the GIL), nor do small runs (thread hand-off costs more than it
saves), so the engine goes parallel only for runs of large frames.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ..errors import UsageError

if TYPE_CHECKING:  # concurrent.futures is imported on first parallel use: it slows `import busta`
    from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["Threads", "resolve_threads", "run_split"]

#: Frames smaller than this are always sealed and opened on the calling thread.
MIN_PARALLEL_FRAME_LENGTH: Final = 32 * 1024
#: Runs of fewer bytes than this are not split.
MIN_PARALLEL_RUN_BYTES: Final = 1 << 20
#: Upper bound on worker threads, whatever the caller asks.
MAX_THREADS: Final = 64

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Threads:
    """How many threads one message may use (1 = the calling thread only)."""

    count: int

    def overlap(self, run_bytes: int) -> bool:
        """Whether to hash a signed run on another thread while it is sealed or opened."""
        return self.count > 1 and run_bytes >= MIN_PARALLEL_RUN_BYTES

    def split(self, frame_length: int, frames: int) -> int:
        """How many parts to cut a run of ``frames`` frames into."""
        if self.count < 2 or frame_length < MIN_PARALLEL_FRAME_LENGTH or frames < 2:
            return 1
        if frame_length * frames < MIN_PARALLEL_RUN_BYTES:
            return 1
        return min(self.count, frames)


def resolve_threads(threads: int | None) -> Threads:
    """``None`` means one thread per core; 1 turns parallelism off."""
    if threads is None:
        return Threads(min(os.cpu_count() or 1, MAX_THREADS))
    if not isinstance(threads, int) or isinstance(threads, bool) or not 1 <= threads <= MAX_THREADS:
        raise UsageError(f"threads must be an int from 1 to {MAX_THREADS}")
    return Threads(threads)


def _executor(size: int) -> ThreadPoolExecutor:
    global _pool, _pool_size  # noqa: PLW0603 - one process-wide pool, created on first use
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - see TYPE_CHECKING above

    with _pool_lock:
        if _pool is None or _pool_size < size:
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="busta")
            _pool_size = size
        return _pool


def submit(task: Callable[[], None]) -> Future[None]:
    """Run ``task`` on the shared pool."""
    return _executor(max(2, os.cpu_count() or 1)).submit(task)


def run_split(tasks: Sequence[Callable[[], None]]) -> None:
    """Run ``tasks`` concurrently (the last on the calling thread); re-raise the first error."""
    futures = [submit(task) for task in tasks[:-1]]
    error: BaseException | None = None
    try:
        tasks[-1]()
    except BaseException as exc:  # re-raised below, after the other tasks finished
        error = exc
    for future in futures:
        failure = future.exception()
        if failure is not None and error is None:
            error = failure
    if error is not None:
        raise error
