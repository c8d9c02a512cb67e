"""A ``\\r``-updated progress line on stderr: bytes done, rate, time left. No dependencies."""

from __future__ import annotations

import sys
import time
from typing import IO, Final

__all__ = ["PROGRESS_ENV", "PROGRESS_MIN_BYTES", "ProgressReader", "human"]

PROGRESS_MIN_BYTES: Final = 8 << 20
#: Environment variable overriding PROGRESS_MIN_BYTES (a whole number of bytes).
PROGRESS_ENV: Final = "BUSTA_PROGRESS_MIN_BYTES"
_INTERVAL: Final = 0.2


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


class ProgressReader:
    """Wraps a binary source; counts what is read and redraws the line at most five times a second."""

    def __init__(self, source: IO[bytes], total: int, label: str, stream: IO[str] | None = None):
        self._source, self._total, self._label = source, total, label
        self._stream = stream if stream is not None else sys.stderr
        self._done = 0
        self._start = self._last = time.monotonic()

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
        self._done += n
        now = time.monotonic()
        if n and now - self._last < _INTERVAL:
            return
        self._last = now
        elapsed = max(now - self._start, 1e-6)
        rate = self._done / elapsed
        left = (self._total - self._done) / rate if rate > 0 else 0.0
        line = f"{self._label}: {human(self._done)} / {human(self._total)}, {human(rate)}/s, {left:.0f} s left"
        self._stream.write(f"\r{line:<79}")
        if not n:
            self._stream.write("\n")
        self._stream.flush()
