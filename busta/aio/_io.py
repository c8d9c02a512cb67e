"""Async readers and writers: async context managers and async iterators over the engine.

- :class:`AsyncEncryptingWriter`: plaintext written to it reaches its sink as one message; closing
  it (leaving its ``async with`` normally) writes the final frame. Leaving on an error or a
  cancellation does not: the sink then holds no complete message.
- :class:`AsyncDecryptingReader`: reading it (``await read(n)``, ``async for chunk in reader``)
  yields authenticated plaintext only; its end (``b""``, the end of iteration) comes only once the
  message was complete (and its signature verified); an incomplete one raises
  :class:`TruncatedMessageError` there instead.
- :class:`AsyncEncryptingReader` (plaintext source in, message out) and :class:`AsyncDecryptingWriter`
  (message in, plaintext to its sink) are the other two directions.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from ..compression import compression_of
from ..errors import UsageError
from ..limits import AIO_INLINE_BYTES
from ..streaming import pump
from ..streaming.encryptor import MessageEncryptor
from ._drive import AsyncDecryptor
from ._offload import off_loop
from ._streams import AsyncSink, AsyncSource, read_full, read_parts

__all__ = ["AsyncDecryptingReader", "AsyncDecryptingWriter", "AsyncEncryptingReader", "AsyncEncryptingWriter"]


class AsyncEncryptingWriter:
    """Encrypts what is written to it into ``sink`` (``async with`` closes it: see the module)."""

    def __init__(self, sink: AsyncSink, encryptor: MessageEncryptor):
        self._sink = sink
        self._encryptor = encryptor
        self._closed = False
        self.written = 0

    async def write(self, data: bytes | bytearray | memoryview) -> int:
        """Encrypt ``data``; the frames it completes reach the sink before this returns."""
        if self._closed:
            raise UsageError("write to a closed AsyncEncryptingWriter")
        encryptor = self._encryptor
        small = len(data) <= AIO_INLINE_BYTES and encryptor.update_size(len(data)) <= len(encryptor.header_bytes)
        if small:  # a short write that completes no frame: buffering only, done inline
            out = encryptor.update(data)
        else:
            out = await off_loop(encryptor.update, data)
        if out:
            await self._sink.write(out)
        self.written += len(data)
        return len(data)

    async def close(self) -> None:
        """Write the final frame (and footer): the message is complete once this returns."""
        if self._closed:
            return
        self._closed = True
        await self._sink.write(await off_loop(self._encryptor.finalize))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if kind is None:
            await self.close()
        else:  # never finish a message that lacks part of its plaintext
            self._closed = True


class _SteppedReader:
    """What the two async readers share: ``_more()`` makes the next step's bytes ``_pending`` (False at
    the end); reading, iterating and leaving the ``async with`` are the same for both."""

    _pending: bytes

    async def _more(self) -> bool:
        raise NotImplementedError

    def _stop(self) -> None:
        raise NotImplementedError

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all of the rest for ``n < 0``); ``b""`` at the end."""
        if n < 0:
            return b"".join([piece async for piece in self])
        if n == 0 or not await self._more():
            return b""
        piece, self._pending = self._pending[:n], self._pending[n:]
        return piece

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        if not await self._more():
            raise StopAsyncIteration
        piece, self._pending = self._pending, b""
        return piece

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._pending = b""
        self._stop()


class AsyncDecryptingReader(_SteppedReader):
    """Reads a message from ``source`` and yields its authenticated plaintext (see the module)."""

    def __init__(self, source: AsyncSource, decryptor: AsyncDecryptor):
        self._source = source
        self._decryptor = decryptor
        self._pending = b""
        self._want = pump.FIRST_READ_BYTES
        self._arrived = 0
        self._ended = False

    @property
    def decryptor(self) -> AsyncDecryptor:
        """Its decryptor: the header and authenticated context once read."""
        return self._decryptor

    async def _more(self) -> bool:
        """Read and decrypt one step into ``_pending``; False at the verified end of the message."""
        while not self._pending:
            if self._ended:
                return False
            parts = await read_parts(self._source, self._want)
            if not parts:
                self._ended = True
                self._decryptor.finalize()
                return False
            got = sum(len(part) for part in parts)
            self._arrived += got
            self._pending = await self._decryptor.update_chunks(parts)
            if self._pending and compression_of(self._decryptor.encryption_context) is not None:
                self._pending, self._ended = b"", True
                raise UsageError("the message is compressed: the async reader does not decompress; use decrypt_stream")
            if got == self._want:
                self._want = pump.next_read(self._decryptor.engine, self._arrived)
        return True

    def _stop(self) -> None:
        self._ended = True


class AsyncEncryptingReader(_SteppedReader):
    """Reads plaintext from ``source`` and yields the message (``async for chunk in reader``, or
    ``await read(n)``); the message ends with its final frame once the source ended."""

    def __init__(self, source: AsyncSource, encryptor: MessageEncryptor):
        self._source = source
        self._encryptor = encryptor
        self._chunk = pump.encrypt_step(encryptor.frame_length)
        self._pending = b""
        self._finished = False

    async def _more(self) -> bool:
        while not self._pending:
            if self._finished:
                return False
            data = await read_full(self._source, self._chunk)
            if data:
                self._pending = await off_loop(self._encryptor.update, data)
            else:
                self._finished = True
                self._pending = await off_loop(self._encryptor.finalize)
        return True

    def _stop(self) -> None:
        self._finished = True


class AsyncDecryptingWriter:
    """A message written to it reaches ``sink`` as authenticated plaintext (decompressed, if the
    message is); closing it (leaving its ``async with`` normally) checks that the message was
    complete (:class:`TruncatedMessageError`)."""

    def __init__(self, sink: AsyncSink, decryptor: AsyncDecryptor):
        self._sink = sink
        self._decryptor = decryptor
        self._closed = False

    @property
    def decryptor(self) -> AsyncDecryptor:
        return self._decryptor

    async def write(self, data: bytes | bytearray | memoryview) -> int:
        """Decrypt ``data``; the plaintext it authenticates reaches the sink before this returns."""
        if self._closed:
            raise UsageError("write to a closed AsyncDecryptingWriter")
        plaintext = await self._decryptor.update(data)
        if plaintext:
            await self._sink.write(plaintext)
        return len(data)

    async def close(self) -> None:
        """Declare the end of the message: raises unless it was complete (and its signature valid)."""
        if not self._closed:
            self._closed = True
            self._decryptor.finalize()
            finish = getattr(self._sink, "finish", None)
            if finish is not None:  # a decompressing sink: the plaintext must have been one whole frame
                finish()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if kind is None:
            await self.close()
        else:
            self._closed = True
