"""`Callback` of the transfers, as boto3's: called with the plaintext bytes moved since the last call."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO

from ..errors import UsageError

__all__ = ["CountingReader", "CountingWriter", "ProgressCallback", "checked_callback"]

#: ``Callback(n)``: ``n`` more plaintext bytes were read (upload) or written (download) since the last call.
ProgressCallback = Callable[[int], object]


def checked_callback(callback: object) -> ProgressCallback | None:
    if callback is not None and not callable(callback):
        raise UsageError(f"Callback must be callable with the number of bytes, not {type(callback).__name__}")
    return callback


class CountingReader:
    """``source``, telling ``callback`` how many bytes each read returned (in the reading thread)."""

    def __init__(self, source: IO[bytes], callback: ProgressCallback):
        self._source, self._callback = source, callback
        self._readinto = getattr(source, "readinto", None)

    def readinto(self, view: memoryview) -> int | None:
        if self._readinto is not None:
            n: int | None = self._readinto(view)
        else:
            chunk = self._source.read(len(view))
            n = None if chunk is None else len(chunk)
            if n:
                view[:n] = chunk
        if n:
            self._callback(n)
        return n

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        if data:
            self._callback(len(data))
        return data


class CountingWriter:
    """``sink``, telling ``callback`` how many bytes each write took."""

    def __init__(self, sink: IO[bytes], callback: ProgressCallback):
        self._sink, self._callback = sink, callback

    def write(self, data: bytes | bytearray | memoryview) -> int | None:
        n = self._sink.write(data)
        if n:
            self._callback(n)
        return n

    def flush(self) -> None:
        self._sink.flush()
