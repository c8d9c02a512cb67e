"""When and how the engine spreads frames over threads it is given.

AES-GCM in ``cryptography`` releases the GIL, so runs of frames sealed or opened
on several threads scale with cores. Small frames do not pay (the Python around
each call holds the GIL), nor do small runs (thread hand-off costs more than it
saves), so the engine goes parallel only for runs of large frames.

The engines own no threads: a caller that wants parallel frames passes a
:class:`Workers` (an executor and a thread budget); without one, every frame is
sealed or opened on the calling thread. The API layer's default executor is in
``busta._executor``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final

from .._frozen import record
from ..errors import UsageError

if TYPE_CHECKING:  # concurrent.futures (and the logging it imports) is not needed to import busta
    from concurrent.futures import Executor, Future

__all__ = ["MAX_THREADS", "Workers", "overlaps", "parts", "run_split", "split_run"]

# Both thresholds come from the sweeps of docs/benchmarks.md (issue 18), where a bare two-thread
# loop itself was slower than one thread below them: at 32 KiB frames (0.76x decrypting) and for
# runs of 1 to 4 MiB (0.54x to 0.97x: the data sits in the calling core's cache, and a 2 MiB
# streaming step split in two ran at 0.81x to 0.88x of one thread).
#: Frames smaller than this are always sealed and opened on the calling thread.
MIN_PARALLEL_FRAME_LENGTH: Final = 64 * 1024
#: Runs of fewer bytes than this are not split (nor is a signed run hashed beside its sealing), in a
#: message sealed or opened whole in memory (``busta.encrypt``, ``decrypt``, ``*_into``).
MIN_PARALLEL_RUN_BYTES: Final = 8 << 20
#: The same for a stream's steps (``encrypt_stream``, the readers and writers, the sans-I/O engines): a
#: step of whole frames of about 2 MiB (``busta.streaming.pump.STREAM_CHUNK_BYTES``; at 64 KiB frames a
#: decryption's step holds 31 of them) is split. Streaming, the split pays where in memory it may not
#: (docs/benchmarks.md, issue 18): each step is read and written on the calling thread, and two
#: threads shorten the sealing between. A signed step is hashed on one thread while its frames are
#: sealed or opened on the other: SHA-384 is the ceiling, and splitting the sealing, then hashing,
#: ran at 0.90 to 0.95x of one thread where hashing beside ran at 1.03 to 1.26x.
MIN_PARALLEL_STREAM_RUN_BYTES: Final = 1 << 20
#: Upper bound on the threads one message may use.
MAX_THREADS: Final = 64
#: A split run is taken by its threads a piece of about this many bytes (at least one frame) at a time,
#: each thread taking the next piece when it is done with its last, so that a thread slowed down (a vCPU
#: the host took away for a while, a cache another thread emptied) leaves more of the run to the others
#: instead of holding up the whole message. A piece costs one lock and one call. 2 MiB is the size of a
#: transparent huge page, on which a large fresh output lies (``busta._buffers``): two threads then seldom
#: take their first fault on the same page (1 MiB pieces lost 3 to 10% on 64 MiB messages for that).
PIECE_BYTES: Final = 2 << 20


@record
class Workers:
    """``threads`` threads for one message's frames: the calling thread and ``threads - 1`` tasks at
    a time on ``executor`` (one that runs fewer at once, busy with other work, leaves their pieces
    to the threads running, and a task that has not started when the run is done is dropped)."""

    executor: Executor
    threads: int
    #: For a stream's steps: runs are split from :data:`MIN_PARALLEL_STREAM_RUN_BYTES`, not
    #: :data:`MIN_PARALLEL_RUN_BYTES`.
    streaming: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.threads, int) or isinstance(self.threads, bool) or not 2 <= self.threads <= MAX_THREADS:
            raise UsageError(f"Workers need 2 to {MAX_THREADS} threads (without workers, frames stay on one thread)")
        if not callable(getattr(self.executor, "submit", None)):
            raise UsageError("Workers need a concurrent.futures.Executor")
        if not isinstance(self.streaming, bool):
            raise UsageError("Workers' streaming is True or False")

    def submit(self, task: Callable[[], None]) -> Future[None]:
        return self.executor.submit(task)


def _min_run_bytes(workers: Workers) -> int:
    """Runs shorter than this stay on the calling thread (read at each call: tests lower them)."""
    return MIN_PARALLEL_STREAM_RUN_BYTES if workers.streaming else MIN_PARALLEL_RUN_BYTES


def overlaps(workers: Workers | None, run_bytes: int) -> bool:
    """Whether to hash a signed run on another thread while it is sealed or opened."""
    return workers is not None and run_bytes >= _min_run_bytes(workers)


def parts(workers: Workers | None, frame_length: int, frames: int, *, busy: int = 0) -> int:
    """How many parts to cut a run of ``frames`` frames into, ``busy`` threads being taken already."""
    if workers is None or frame_length < MIN_PARALLEL_FRAME_LENGTH or frames < 2:
        return 1
    if frame_length * frames < _min_run_bytes(workers):
        return 1
    return max(1, min(workers.threads - busy, frames))


def split_run(
    part: Callable[[int, int], None],
    count: int,
    frame_length: int,
    workers: Workers | None,
    *,
    busy: Sequence[Callable[[], None]] = (),
    final: Callable[[], object] | None = None,
) -> None:
    """Run ``part(a, b)`` over a run of ``count`` frames (on as many threads as the workers allow besides
    the ``busy`` tasks, which run beside them), then ``final``: split, the threads take the run in
    pieces of :data:`PIECE_BYTES` as each is free, and ``final`` is the last piece, opened or sealed
    beside the run rather than after all of it."""
    split = parts(workers, frame_length, count + (final is not None), busy=len(busy))
    if split == 1 and not busy:  # one thread, and every small message: no task objects
        part(0, count)
        if final is not None:
            final()
        return
    if split == 1:
        whole = functools.partial(part, 0, count)
        run_split([*busy, whole if final is None else functools.partial(_then, whole, final)], workers)
        return
    per_piece = max(1, min(PIECE_BYTES // frame_length, -(-count // split)))  # a short run: one piece each
    pieces = _Pieces(part, count, per_piece, final)
    run_split([*busy, *[pieces.take] * split], workers, spare=split - 1)


class _Pieces:
    """One split run's pieces, handed out in order to whichever of its threads asks next; once one
    piece failed, no more are handed out (the error is raised by :func:`run_split`)."""

    def __init__(
        self, part: Callable[[int, int], None], count: int, per_piece: int, final: Callable[[], object] | None
    ):
        self._pieces: list[Callable[[], object]] = [
            functools.partial(part, a, min(a + per_piece, count)) for a in range(0, count, per_piece)
        ]
        if final is not None:
            self._pieces.append(final)
        self._next = 0
        self._failed = False
        self._lock = threading.Lock()

    def take(self) -> None:
        """Run pieces until none is left (or one failed, here or on another thread). Whatever ends
        this thread early (a piece's error, a signal's KeyboardInterrupt between two pieces) stops
        the others at their next piece."""
        try:
            while True:
                with self._lock:
                    if self._failed or self._next == len(self._pieces):
                        return
                    piece = self._pieces[self._next]
                    self._next += 1
                piece()
        except BaseException:
            self._failed = True
            raise


def _then(first: Callable[[], object], second: Callable[[], object]) -> None:
    first()
    second()


def run_split(tasks: Sequence[Callable[[], None]], workers: Workers | None, *, spare: int = 0) -> None:
    """Run ``tasks`` concurrently (the last on the calling thread); re-raise the first error. The
    ``spare`` tasks before the last may be dropped if they have not started when the calling
    thread's ends (tasks that find nothing left to do: an executor busy with other work is not
    waited for)."""
    if workers is None:
        for task in tasks:
            task()
        return
    futures = [workers.submit(task) for task in tasks[:-1]]
    error: BaseException | None = None
    try:
        tasks[-1]()
    except BaseException as exc:  # re-raised below, after the other tasks finished
        error = exc
    for index, future in enumerate(futures):
        if index >= len(futures) - spare and future.cancel():
            continue
        failure = future.exception()
        if failure is not None and error is None:
            error = failure
    if error is not None:
        raise error
