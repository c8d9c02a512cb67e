"""Async sources and sinks, and the async pumps: whole streams through the engine, the loop kept free.

A source is anything with ``async read(n) -> bytes`` (``b""`` at its end: ``asyncio.StreamReader``)
or any async iterable of bytes; a sink is anything with ``async write(data)`` or an
``asyncio.StreamWriter`` (written a copy, then drained). As with the sync pump, a sink of
``encrypt_stream`` / ``decrypt_stream`` is handed a view of a reused buffer: it must use or copy
the bytes before its ``write`` returns (the readers and writers hand out bytes one may keep).

The pumps read the same steps as the sync pump (:mod:`busta.streaming.pump`: whole frames, reads
that grow with what arrived, never with what a message declares), so memory is bounded the same
way; each step's frame work runs in a thread (:func:`~busta.aio._offload.off_loop`).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterable, AsyncIterator
from typing import Protocol, runtime_checkable

from ..compression import Compressor
from ..errors import UsageError
from ..streaming import pump
from ..streaming.encryptor import MessageEncryptor
from ._drive import AsyncDecryptor, StepBuffers
from ._offload import off_loop

__all__ = [
    "AsyncSink",
    "AsyncSource",
    "CompressingSource",
    "as_sink",
    "as_source",
    "decrypt_stream",
    "encrypt_stream",
    "read_full",
    "read_parts",
]


@runtime_checkable
class AsyncSource(Protocol):
    async def read(self, n: int = -1, /) -> bytes: ...


@runtime_checkable
class AsyncSink(Protocol):
    async def write(self, data: bytes | memoryview, /) -> object: ...


class _IterableSource:
    """An async iterable of bytes as a source: chunks split to what each read asks (a chunk that fits
    whole is passed on as it is, without a copy)."""

    def __init__(self, chunks: AsyncIterable[bytes]):
        self._chunks: AsyncIterator[bytes] = aiter(chunks)
        self._chunk = b""
        self._offset = 0
        self._ended = False

    async def read(self, n: int = -1, /) -> bytes:
        while self._offset >= len(self._chunk) and not self._ended:
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                self._ended = True
                break
            if not isinstance(chunk, (bytes, bytearray, memoryview)):
                raise UsageError(f"an async byte iterable yielded {type(chunk).__name__}, not bytes")
            self._chunk, self._offset = bytes(chunk), 0
        start, chunk = self._offset, self._chunk
        end = len(chunk) if n < 0 else min(len(chunk), start + n)
        self._offset = end
        return chunk if start == 0 and end == len(chunk) else chunk[start:end]


class CompressingSource:
    """Reads plaintext from ``source`` and yields it as one zstd frame (each piece compressed in a
    thread); :attr:`consumed` counts the plaintext."""

    def __init__(self, source: AsyncSource):
        self._source = source
        self._compressor = Compressor()
        self._pending = b""
        self._offset = 0
        self._eof = False
        self.consumed = 0

    async def read(self, n: int = -1, /) -> bytes:
        while self._offset >= len(self._pending) and not self._eof:
            chunk = await self._source.read(pump.STREAM_CHUNK_BYTES)
            self.consumed += len(chunk)
            if chunk:
                self._pending = await off_loop(self._compressor.compress, chunk)
            else:
                self._pending = await off_loop(self._compressor.flush)
            self._offset, self._eof = 0, not chunk
        start = self._offset
        self._offset = len(self._pending) if n < 0 else min(len(self._pending), start + n)
        return self._pending[start : self._offset]


class _StreamWriterSink:
    """An ``asyncio.StreamWriter`` (sync ``write``, async ``drain``) as a sink."""

    def __init__(self, writer: object):
        self._writer = writer

    async def write(self, data: bytes | memoryview, /) -> None:
        # a copy: the transport may keep what it is given
        self._writer.write(bytes(data))  # type: ignore[attr-defined]
        await self._writer.drain()  # type: ignore[attr-defined]


def as_source(source: object) -> AsyncSource:
    """``source`` as something to ``await read(n)`` from; :class:`UsageError` if it is neither kind."""
    if inspect.iscoroutinefunction(getattr(source, "read", None)):
        return source  # type: ignore[return-value]
    if isinstance(source, AsyncIterable):
        return _IterableSource(source)
    raise UsageError(f"an async source needs `async read(n)` or to be an async iterable, not {type(source).__name__}")


def as_sink(sink: object) -> AsyncSink:
    """``sink`` as something to ``await write(data)`` to; :class:`UsageError` if it is neither kind."""
    if inspect.iscoroutinefunction(getattr(sink, "write", None)):
        return sink  # type: ignore[return-value]
    if callable(getattr(sink, "write", None)) and inspect.iscoroutinefunction(getattr(sink, "drain", None)):
        return _StreamWriterSink(sink)
    raise UsageError(
        f"an async sink needs `async write(data)` or to be an asyncio.StreamWriter, not {type(sink).__name__}"
    )


async def read_full(source: AsyncSource, size: int) -> bytes:
    """Up to ``size`` bytes: fewer only at the end of the source."""
    parts = await read_parts(source, size)
    return parts[0] if len(parts) == 1 else b"".join(parts)


async def read_parts(source: AsyncSource, size: int) -> list[bytes]:
    """Up to ``size`` bytes in the pieces the source gave (none at its end; fewer bytes only there):
    joined by the worker thread, not on the loop."""
    parts: list[bytes] = []
    have = 0
    while have < size and (more := await source.read(size - have)):
        parts.append(more)
        have += len(more)
    return parts


def _seal_step(encryptor: MessageEncryptor, parts: list[bytes], buffers: StepBuffers) -> memoryview:
    data = buffers.joined(parts)
    out = buffers.output(encryptor.update_size(len(data)))
    return out[: encryptor.update_into(data, out)]


def _seal_last(encryptor: MessageEncryptor, buffers: StepBuffers) -> memoryview:
    out = buffers.output(encryptor.finalize_size())
    return out[: encryptor.finalize_into(out)]


async def encrypt_stream(source: AsyncSource, sink: AsyncSink, encryptor: MessageEncryptor) -> int:
    """Encrypt everything ``source`` yields into ``sink``; return the plaintext length. If it raises
    (or is cancelled), ``sink`` holds no complete message."""
    chunk = pump.encrypt_step(encryptor.frame_length)
    total = 0
    buffers = StepBuffers()
    reading = asyncio.ensure_future(read_parts(source, chunk))
    try:
        while parts := await reading:
            total += sum(len(part) for part in parts)
            reading = asyncio.ensure_future(read_parts(source, chunk))  # the next step, read while this one is sealed
            out = await off_loop(_seal_step, encryptor, parts, buffers)
            if out:
                await sink.write(out)
    finally:
        reading.cancel()
    await sink.write(await off_loop(_seal_last, encryptor, buffers))
    return total


async def decrypt_stream(source: AsyncSource, sink: AsyncSink, decryptor: AsyncDecryptor) -> int:
    """Decrypt the message ``source`` yields into ``sink``; return the plaintext length.

    Only authenticated plaintext reaches ``sink`` (a signed message's final frame only once its
    signature verified); if this raises or is cancelled, what reached it is a prefix of the
    plaintext and must be discarded. The next step is read while this one is opened in its thread
    (one step of read-ahead: at most 2 MiB more held).
    """
    want = pump.FIRST_READ_BYTES
    arrived = total = 0
    buffers = StepBuffers()
    reading = asyncio.ensure_future(read_parts(source, want))
    try:
        while parts := await reading:
            got = sum(len(part) for part in parts)
            arrived += got
            if got == want:  # else the source may have ended: reading on costs nothing until it gives more
                want = pump.next_read(decryptor.engine, arrived)
            reading = asyncio.ensure_future(read_parts(source, want))
            plaintext = await decryptor.update_step(parts, buffers)
            if plaintext:
                await sink.write(plaintext)
                total += len(plaintext)
    finally:
        reading.cancel()
    decryptor.finalize()
    return total
