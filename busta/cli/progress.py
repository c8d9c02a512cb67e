"""Progress lines on stderr, drawn by tqdm: one line, as wide as the terminal, redrawn in place.

Shown only when stderr is a terminal and ``-q`` is not given; tqdm is imported only then
(``import busta`` and ``busta --version`` never load it). Every line is opened by
:func:`progress_line` (a context manager): however its block ends (success, an error, a signal's
KeyboardInterrupt or Stopped) the line is closed with a line break before anything else is
printed, and ``_fail`` ends any line still open (:func:`end_lines`) before it writes. The final
line is drawn once, by the close: the update that reaches the total does not draw it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any, Final

from .._text import printable

__all__ = [
    "PROGRESS_ENV",
    "PROGRESS_MIN_BYTES",
    "ProgressReader",
    "advance",
    "bulk_line",
    "end_lines",
    "progress_line",
    "shown",
    "tail",
    "watched",
]

PROGRESS_MIN_BYTES: Final = 8 << 20
#: Environment variable overriding PROGRESS_MIN_BYTES (a whole number of bytes).
PROGRESS_ENV: Final = "BUSTA_PROGRESS_MIN_BYTES"
#: A label takes at most this share of the terminal's width (the rest is the bar and its figures).
_LABEL_SHARE: Final = 3
#: The width of a terminal that does not say its own.
_UNSIZED: Final = 80
_UNSIZED_ROWS: Final = 24
#: A bar's delay before its first draw while it is being made (it is drawn once registered).
_NOT_YET: Final = 1e9
#: tqdm's line, with the unit after each size: ``3.50MB/12.0MB`` (powers of 1024).
_BYTES: Final = "{l_bar}{bar}| {n_fmt}B/{total_fmt}B [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
#: A count (bulk objects): the figures first (a narrow terminal cuts the end of the line).
_COUNT: Final = "{l_bar}{bar}| {n_fmt}/{total_fmt}{postfix} [{elapsed}<{remaining}]"

_open: list[Any] = []  # the lines on the terminal now, oldest first


def shown(quiet: bool) -> bool:
    """Whether a progress line may be drawn: stderr is a terminal, and no ``-q``."""
    if quiet:
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, OSError, ValueError):  # closed, or replaced by something that is no file
        return False


def tail(label: str, width: int) -> str:
    """``label`` cut to ``width`` characters, keeping its end (a file's name is at its end)."""
    return label if len(label) <= width else "..." + label[len(label) - width + 3 :]


def _columns() -> int:
    """The terminal's width; 0 when it does not say its size (a pseudo-terminal nobody sized:
    tqdm would then draw nothing, as it does for a terminal of no rows)."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):
        return 0
    return size.columns if size.lines else 0


class _Terminal:
    """stderr as tqdm's file, remembering whether the last line written was left without its
    line break (a draw is ``\r`` and the line; only a close ends it)."""

    def __init__(self) -> None:
        self.unended = False

    def write(self, text: str) -> int:
        if text:
            self.unended = not text.endswith("\n")  # before the write: a signal after it leaves no doubt
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def fileno(self) -> int:  # tqdm asks the terminal its width through this
        return sys.stderr.fileno()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


_terminal = _Terminal()


@contextlib.contextmanager
def progress_line(total: int | None, label: str, *, unit: str = "B") -> Iterator[Any]:
    """A tqdm bar on stderr for ``total`` units (bytes by default: human-readable, powers of 1024),
    closed on the way out of the block whatever ends it. ``label`` must be printable already."""
    from tqdm import tqdm  # noqa: PLC0415 - only when a line is drawn

    tqdm.monitor_interval = 0  # no monitor thread: nothing runs beside the command
    tqdm.set_lock(threading.RLock())  # not a multiprocessing lock (a semaphore) for one process's line
    in_bytes = unit == "B"
    columns = _columns()  # a terminal that says its width is followed as it is resized; else 80 columns
    bar = tqdm(
        total=total,
        desc=tail(label, max(8, (columns or _UNSIZED) // _LABEL_SHARE)),
        unit=unit,
        unit_scale=in_bytes,
        unit_divisor=1024 if in_bytes else 1000,
        bar_format=_BYTES if in_bytes else _COUNT,
        dynamic_ncols=bool(columns),
        ncols=None if columns else _UNSIZED,
        nrows=None if columns else _UNSIZED_ROWS,
        file=_terminal,
        leave=True,
        delay=_NOT_YET,  # not drawn until it is in _open: a signal cannot leave a line nobody closes
    )
    _open.append(bar)
    try:
        bar.delay = 0
        bar.refresh()
        yield bar
    finally:
        _close(bar)


def _close(bar: Any) -> None:
    if bar in _open:
        _open.remove(bar)
        with contextlib.suppress(OSError, ValueError):  # a hung-up terminal does not stop the exit
            bar.close()


def end_lines() -> None:
    """End every progress line: close each bar still open (and any other tqdm made, so that none
    draws again when it is collected), then end a line a signal left unended, before a message."""
    for bar in reversed(list(_open)):
        _close(bar)
    std = sys.modules.get("tqdm.std")
    for bar in list(getattr(getattr(std, "tqdm", None), "_instances", ())):
        with contextlib.suppress(Exception):  # whatever state a signal left it in
            bar.leave = False
            bar.close()
    if _terminal.unended:
        _terminal.unended = False
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write("\n")
            sys.stderr.flush()


def advance(bar: Any, done: int, total: int | None) -> None:
    """Move ``bar`` to ``done``; at the total only count, so that the close draws the final line once."""
    if total is not None and done >= total:
        bar.n = done
    else:
        bar.update(done - bar.n)


class ProgressReader:
    """Wraps a binary source and moves a progress line as it is read."""

    def __init__(self, source: IO[bytes], total: int, bar: Any):
        self._source, self._total, self._bar = source, total, bar
        self._done = 0

    def readinto(self, buffer: bytearray | memoryview) -> int:
        readinto = getattr(self._source, "readinto", None)
        if readinto is not None:
            n: int = readinto(buffer)
        else:
            chunk = self._source.read(len(buffer))
            n = len(chunk)
            memoryview(buffer)[:n] = chunk
        self._advance(n)
        return n

    def read(self, size: int = -1) -> bytes:
        chunk = self._source.read(size)
        self._advance(len(chunk))
        return chunk

    def _advance(self, n: int) -> None:
        if n:
            self._done += n
            advance(self._bar, self._done, self._total)


@contextlib.contextmanager
def watched(source: IO[bytes], size: int | None, label: str, *, quiet: bool, min_bytes: int) -> Iterator[IO[bytes]]:
    """``source`` as it is, or, when a line is shown (:func:`shown`) and ``size`` is known and above
    ``min_bytes``, wrapped in a :class:`ProgressReader` whose line ``label`` (escaped here) is
    closed when the block ends. Any command reading an input of known size uses this."""
    if size is None or size <= min_bytes or not shown(quiet):
        yield source
        return
    with progress_line(size, printable(label)) as bar:
        yield ProgressReader(source, size, bar)  # type: ignore[misc]


@contextlib.contextmanager
def bulk_line(quiet: bool) -> Iterator[Callable[[Any], None] | None]:
    """The ``progress`` callback of a bulk job (None when no line is shown): objects done of the
    total, failures, and bytes read, human-readable. The line opens with the first report."""
    if not shown(quiet):
        yield None
        return
    with contextlib.ExitStack() as stack:
        bars: list[Any] = []

        def show(p: Any) -> None:
            if not bars:
                bars.append(stack.enter_context(progress_line(p.objects_total, "objects", unit="obj")))
            bar = bars[0]
            read = bar.format_sizeof(p.bytes_read, "B", 1024)
            bar.set_postfix_str(f"{read} read, {p.objects_failed} failed", refresh=False)
            advance(bar, p.objects_finished, p.objects_total)

        yield show
