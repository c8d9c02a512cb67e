"""Thin io adapters around the sans-I/O engine.

Two styles in each direction, following Python's io conventions:

* readers wrap a readable source and are read from
  (:class:`EncryptingReader` yields message bytes, :class:`DecryptingReader` plaintext);
* writers wrap a writable sink and are written to
  (:class:`EncryptingWriter` takes plaintext, :class:`DecryptingWriter` message bytes).

Sources need only ``read(n)``: pipes, sockets and HTTP bodies work. Memory is
bounded by a few frames. A decrypting adapter hands out only authenticated
plaintext, but only its end (EOF from a reader, ``close()`` of a writer)
proves the message was complete.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from types import TracebackType
from typing import IO, Protocol

from ..errors import UsageError
from ..format import Header
from ..limits import MAX_RETAINED_BUFFER_BYTES
from .driver import Decrypting
from .encryptor import MessageEncryptor
from .pump import write_all

__all__ = ["DecryptingReader", "DecryptingWriter", "EncryptingReader", "EncryptingWriter"]

DEFAULT_READ_SIZE = 1 << 16


class _Engine(Protocol):
    def update(self, data: bytes | bytearray | memoryview) -> bytes: ...

    def update_into(self, data: bytes | bytearray | memoryview, out: bytearray | memoryview) -> int: ...

    def finalize(self) -> bytes: ...


class ReadByRead(io.RawIOBase):
    """A raw reader whose ``read`` does the work: ``readall`` and ``readinto`` go through it."""

    def readable(self) -> bool:
        return True

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        memoryview(buffer)[: len(data)] = data
        return len(data)


class _Reader(ReadByRead):
    """Reads from ``source``, feeds the engine, hands out what it returns."""

    def __init__(self, source: IO[bytes], engine: _Engine, read_size: int):
        super().__init__()
        if read_size < 1:
            raise UsageError("read_size must be positive")
        self._source = source
        self._engine = engine
        self._read_size = read_size
        self._pending = b""
        self._offset = 0
        self._eof = False

    def _fill(self) -> bool:
        """Make output pending; False at the end of the message."""
        while self._offset >= len(self._pending):
            if self._eof:
                return False
            chunk = self._source.read(self._read_size)
            if chunk is None:
                raise UsageError("the source is non-blocking and had no data; use a blocking stream")
            if chunk:
                self._pending, self._offset = self._engine.update(chunk), 0
            else:
                self._pending, self._offset = self._engine.finalize(), 0
                self._eof = True
        return True

    def read(self, size: int | None = -1) -> bytes:
        self._checkClosed()
        if size is None or size < 0:
            parts = []
            while self._fill():
                parts.append(self._pending[self._offset :])
                self._offset = len(self._pending)
            return b"".join(parts)
        if size == 0 or not self._fill():
            return b""
        start = self._offset
        self._offset = min(len(self._pending), start + size)
        return self._pending[start : self._offset]


class EncryptingReader(_Reader):
    """Read a message out of it; it reads plaintext from ``source``."""

    def __init__(self, source: IO[bytes], encryptor: MessageEncryptor, *, read_size: int = DEFAULT_READ_SIZE):
        super().__init__(source, encryptor, read_size)
        self.encryptor = encryptor

    @property
    def header(self) -> Header:
        return self.encryptor.header


class DecryptingReader(_Reader):
    """Read plaintext out of it; it reads a message from ``source``.

    Each returned byte has authenticated; EOF (``b""``) comes only after the
    whole message, and its signature, verified.
    """

    def __init__(self, source: IO[bytes], decryptor: Decrypting, *, read_size: int = DEFAULT_READ_SIZE):
        super().__init__(source, decryptor, read_size)
        self.decryptor = decryptor

    def read_header(self) -> Header:
        """Read until the header is parsed and authenticated, and return it."""
        if self.decryptor.header is None:
            self._fill()  # reads until output is pending or the message ends; either way the header is done
        header = self.decryptor.header
        assert header is not None
        return header

    @property
    def encryption_context(self) -> dict[str, str]:
        """The authenticated encryption context (stored and required pairs)."""
        self.read_header()
        context = self.decryptor.encryption_context
        assert context is not None
        return context


class _Writer(io.RawIOBase):
    """Feeds written bytes to the engine and writes its output to ``sink``.

    The engine writes into one buffer of the writer's, reused by every write, and
    the sink is handed a view of it (as io sinks are: it must use or copy it before
    returning). The buffer is as large as the largest write's output, up to
    :data:`~busta.limits.MAX_RETAINED_BUFFER_BYTES`; a larger output has a buffer of
    its own, dropped after the write.
    """

    def __init__(self, sink: IO[bytes], engine: _Engine, close_sink: bool, output_size: Callable[[int], int]):
        super().__init__()
        self._sink = sink
        self._engine = engine
        self._close_sink = close_sink
        self._output_size = output_size  # the most output a write of so many bytes can give
        self._out = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._checkClosed()
        src = memoryview(data).cast("B")
        size = self._output_size(len(src))
        if size > len(self._out):
            out = bytearray(size)
            if size <= MAX_RETAINED_BUFFER_BYTES:
                self._out = out
        else:
            out = self._out
        with memoryview(out) as view:
            written = self._engine.update_into(src, view)
            if written:
                write_all(self._sink, view[:written])
        return len(src)

    def close(self) -> None:
        """Finish the message and flush it to the sink; raises if the engine cannot finish."""
        if self.closed:
            return
        try:
            out = self._engine.finalize()
            if out:
                write_all(self._sink, memoryview(out))
            self._sink.flush()
        finally:
            self._release()

    def abort(self) -> None:
        """Close without finishing the message (nothing more is written to the sink)."""
        if not self.closed:
            self._release()

    def _release(self) -> None:
        self._out = bytearray()
        super().close()
        if self._close_sink:
            self._sink.close()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()


class EncryptingWriter(_Writer):
    """Write plaintext into it; it writes the message to ``sink``.

    ``close()`` (or leaving a ``with`` block normally) writes the final frame;
    leaving a ``with`` block by an exception aborts instead, so an interrupted
    write never produces a message that looks complete.
    """

    def __init__(self, sink: IO[bytes], encryptor: MessageEncryptor, *, close_sink: bool = False):
        super().__init__(sink, encryptor, close_sink, encryptor.update_size)
        self.encryptor = encryptor

    @property
    def header(self) -> Header:
        return self.encryptor.header


class DecryptingWriter(_Writer):
    """Write a message into it; it writes authenticated plaintext to ``sink``.

    ``close()`` raises :class:`~busta.errors.TruncatedMessageError` if the
    message was incomplete; what reached the sink before is authentic but partial.
    """

    def __init__(self, sink: IO[bytes], decryptor: Decrypting, *, close_sink: bool = False):
        super().__init__(sink, decryptor, close_sink, decryptor.output_bound)
        self.decryptor = decryptor
