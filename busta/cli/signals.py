"""How the command line stops on a signal: every temporary output removed, then 128 + n.

SIGHUP, SIGINT and SIGTERM raise an exception in the main thread (KeyboardInterrupt
for SIGINT, :class:`Stopped` otherwise) that unwinds through every open
:func:`busta._atomic.atomic_output`, so the temporary files go with it.

SIGPIPE needs more care, because the kernel sends it for *any* write to a closed
pipe or socket: a stale pooled HTTPS connection to S3, a Dask comm, as well as a
closed ``| head``. Turning every one of them into a stop would abort a job on a
network hiccup that botocore or Dask would have retried. So while the command runs
SIGPIPE is blocked in every thread (threads inherit the mask, and none is started
before): a write to a closed pipe or socket then fails with EPIPE in the thread that
made it, and is handled there. Only a SIGPIPE *sent to the process* (``kill -PIPE``)
stays pending; a watcher thread takes it with ``sigtimedwait`` and raises
:class:`Stopped` in the main thread, then sends the main thread SIGURG (whose handler does
nothing) so that a read or open it is blocked in returns and the exception is raised at
once. A closed standard output is told apart from a
closed socket when its BrokenPipeError arrives (:func:`output_closed`).

Child processes inherit the blocked mask; busta's only children are Python
processes (Dask workers), which ignore SIGPIPE anyway.
"""

from __future__ import annotations

import _thread
import contextlib
import select
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Final

__all__ = ["STOP_SIGNALS", "Stopped", "output_closed", "stop_on_signals"]

#: The signals turned into an exception that removes every temporary output.
STOP_SIGNALS: Final = frozenset({signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE})
#: How often the SIGPIPE watcher looks whether the command has ended.
_WATCH_SECONDS: Final = 0.2
#: Sent to the main thread to interrupt a blocking call (ignored by default, as harmless as a signal gets).
_WAKE: Final = signal.SIGURG


class Stopped(BaseException):
    """SIGHUP, SIGTERM or SIGPIPE, raised like KeyboardInterrupt (SIGINT) so that every temporary
    output is removed on the way out."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def output_closed() -> bool:
    """Whether the reader of standard output (or of standard error) went away."""
    poller = select.poll()
    for stream in (sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            poller.register(stream.fileno(), select.POLLOUT)  # type: ignore[union-attr]
    with contextlib.suppress(OSError):
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    return False


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn the first SIGHUP, SIGINT, SIGTERM or SIGPIPE sent to the process into an exception that
    removes every temporary output on the way out. Later ones are ignored, so that nothing
    interrupts that (a hung-up terminal may send SIGHUP twice), except a second Ctrl-C: it
    interrupts the clean-up too and may leave a temporary file, as SIGKILL does."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread (the CLI run from a test's thread, say)
        return
    stopping: list[int] = []

    def stop(signum: int, frame: object) -> None:
        if stopping and not (signum == signal.SIGINT and signal.SIGINT in stopping):
            return
        stopping.append(signum)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Stopped(signum)

    previous = {signum: signal.signal(signum, stop) for signum in sorted(STOP_SIGNALS)}
    previous[_WAKE] = signal.signal(_WAKE, _woken)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPIPE})
    done = threading.Event()
    main = threading.get_ident()
    watcher = threading.Thread(target=_watch_sigpipe, args=(done, main), name="busta-sigpipe", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a pending write's SIGPIPE now meets SIG_IGN


def _woken(signum: int, frame: object) -> None:
    """SIGURG's handler: nothing; it is there so that the signal interrupts a blocking call."""


def _watch_sigpipe(done: threading.Event, main: int) -> None:
    """Pass a SIGPIPE sent to the process on to the main thread's handler, interrupting whatever
    call the main thread waits in (``interrupt_main`` alone takes effect only once it returns)."""
    while not done.is_set():
        if signal.sigtimedwait({signal.SIGPIPE}, _WATCH_SECONDS) is not None:
            _thread.interrupt_main(signal.SIGPIPE)
            signal.pthread_kill(main, _WAKE)
