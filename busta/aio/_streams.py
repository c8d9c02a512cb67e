"""Async sources and sinks, and the async pumps: whole streams through the engine, the loop kept free.

A source is anything with ``async read(n) -> bytes`` (``b""`` at its end: ``asyncio.StreamReader``)
or any async iterable of bytes; a sink is anything with ``async write(data)`` or an
``asyncio.StreamWriter`` (written, then drained). A sink is handed bytes it may keep.

The pumps read the same steps as the sync pump (:mod:`busta.streaming.pump`: whole frames, reads
that grow with what arrived, never with what a message declares), so memory is bounded the same
way; each step's frame work runs in a thread (:func:`~busta.aio._offload.off_loop`).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, AsyncIterator
from typing import Protocol, runtime_checkable

from ..errors import UsageError
from ..streaming import pump
from ..streaming.encryptor import MessageEncryptor
from ._drive import AsyncDecryptor
from ._offload import off_loop

__all__ = ["AsyncSink", "AsyncSource", "as_sink", "as_source", "decrypt_stream", "encrypt_stream", "read_full"]


@runtime_checkable
class AsyncSource(Protocol):
    async def read(self, n: int = -1, /) -> bytes: ...


@runtime_checkable
class AsyncSink(Protocol):
    async def write(self, data: bytes, /) -> object: ...


class _IterableSource:
    """An async iterable of bytes as a source: chunks split to what each read asks."""

    def __init__(self, chunks: AsyncIterable[bytes]):
        self._chunks: AsyncIterator[bytes] = aiter(chunks)
        self._pending = memoryview(b"")
        self._ended = False

    async def read(self, n: int = -1, /) -> bytes:
        while not self._pending and not self._ended:
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                self._ended = True
                break
            if not isinstance(chunk, (bytes, bytearray, memoryview)):
                raise UsageError(f"an async byte iterable yielded {type(chunk).__name__}, not bytes")
            self._pending = memoryview(bytes(chunk)).cast("B")
        take = len(self._pending) if n < 0 else n
        piece, self._pending = self._pending[:take], self._pending[take:]
        return bytes(piece)


class _StreamWriterSink:
    """An ``asyncio.StreamWriter`` (sync ``write``, async ``drain``) as a sink."""

    def __init__(self, writer: object):
        self._writer = writer

    async def write(self, data: bytes, /) -> None:
        self._writer.write(data)  # type: ignore[attr-defined]
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
    first = await source.read(size)
    if len(first) >= size or not first:
        return first
    parts, have = [first], len(first)
    while have < size and (more := await source.read(size - have)):
        parts.append(more)
        have += len(more)
    return b"".join(parts)


async def encrypt_stream(source: AsyncSource, sink: AsyncSink, encryptor: MessageEncryptor) -> int:
    """Encrypt everything ``source`` yields into ``sink``; return the plaintext length. If it raises
    (or is cancelled), ``sink`` holds no complete message."""
    frame = encryptor.frame_length
    step = pump.STREAM_CHUNK_BYTES
    chunk = max(2, step // frame) * frame if frame <= step // 2 else step
    total = 0
    while data := await read_full(source, chunk):
        total += len(data)
        out = await off_loop(encryptor.update, data)
        if out:
            await sink.write(out)
    await sink.write(await off_loop(encryptor.finalize))
    return total


async def decrypt_stream(source: AsyncSource, sink: AsyncSink, decryptor: AsyncDecryptor) -> int:
    """Decrypt the message ``source`` yields into ``sink``; return the plaintext length.

    Only authenticated plaintext reaches ``sink`` (a signed message's final frame only once its
    signature verified); if this raises or is cancelled, what reached it is a prefix of the
    plaintext and must be discarded.
    """
    want = pump.FIRST_READ_BYTES
    arrived = total = 0
    while data := await read_full(source, want):
        arrived += len(data)
        plaintext = await decryptor.update(data)
        if plaintext:
            await sink.write(plaintext)
            total += len(plaintext)
        if len(data) < want:
            continue
        want = pump.next_read(decryptor.engine, arrived)
    decryptor.finalize()
    return total
