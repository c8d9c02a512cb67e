"""The async driver: a sans-I/O :class:`MessageDecryptor` whose materials are awaited.

The mirror of :class:`busta.streaming.driver.DrivenDecryptor`: the engine stops after the header
with ``needs_materials``; here the async materials manager is awaited at that point, and the
materials are supplied. Engine calls on more than :data:`~busta.limits.AIO_INLINE_BYTES` bytes run
in a thread (``inline_bytes``, default 0: every call that brings bytes), so the loop is never held
by frame work; the one-shot ``decrypt`` of a small message passes
:data:`~busta.limits.AIO_INLINE_BYTES` and is done inline.

What it releases is what the engine releases: authenticated plaintext only, the final frame of a
signed message only once its signature verified. An error (the materials manager's included) or a
cancellation stays: every later call raises. One task at a time: a call made while another task's
call is awaiting raises :class:`UsageError`, and the decryptor stays failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import NoReturn, TypeVar

from .._secrets import refuse_pickling
from ..errors import BustaError, UsageError
from ..format import Header
from ..streaming.decryptor import MessageDecryptor
from ._offload import off_loop
from ._protocols import AsyncCryptoMaterialsManager

__all__ = ["AsyncDecryptor", "StepBuffers"]

_T = TypeVar("_T")


class StepBuffers:
    """An input and an output buffer reused by every step of one stream: fresh multi-MiB buffers per
    step cost more in page faults than the frame work. Made anew only when too small, never resized
    in place (a worker may still hold a view for a moment); bounded by the largest step."""

    def __init__(self) -> None:
        self._input = bytearray()
        self._output = bytearray()

    def joined(self, chunks: Sequence[bytes | bytearray | memoryview]) -> memoryview:
        """The chunks as one view: the only chunk itself, or their bytes copied into the input buffer."""
        if len(chunks) == 1:
            return memoryview(chunks[0]).cast("B")
        size = sum(len(chunk) for chunk in chunks)
        if len(self._input) < size:
            self._input = bytearray(size)
        view, pos = memoryview(self._input), 0
        for chunk in chunks:
            view[pos : pos + len(chunk)] = chunk
            pos += len(chunk)
        return view[:size]

    def output(self, size: int) -> memoryview:
        """At least ``size`` writable bytes."""
        if len(self._output) < size:
            self._output = bytearray(size)
        return memoryview(self._output)


class AsyncDecryptor:
    """Decrypts one message for a task, awaiting ``materials_manager`` when the header is parsed."""

    __slots__ = ("_busy", "_engine", "_error", "_inline_bytes", "_materials_manager")

    def __init__(
        self, engine: MessageDecryptor, materials_manager: AsyncCryptoMaterialsManager, *, inline_bytes: int = 0
    ):
        self._engine = engine
        self._inline_bytes = inline_bytes  # engine calls on at most this many bytes run on the loop
        self._materials_manager = materials_manager
        self._error: BaseException | None = None
        self._busy = False

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)

    def __repr__(self) -> str:
        return f"AsyncDecryptor({self._engine!r})"

    async def _call(self, call: Callable[[], Awaitable[_T]]) -> _T:
        if self._busy:
            self._error = UsageError("the decryptor is in use by another task; give each task its own")
            raise self._error
        if self._error is not None:
            raise self._error
        self._busy = True
        try:
            return await call()
        except BustaError as exc:
            self._error = exc
            raise
        except asyncio.CancelledError:  # the engine may still be running in its thread: never reuse it
            self._error = UsageError("a call on this decryptor was cancelled; it cannot go on")
            raise
        finally:
            self._busy = False

    async def _work(self, size: int, call: Callable[..., _T], *args: object) -> _T:
        if size <= self._inline_bytes:
            return call(*args)
        return await off_loop(call, *args)

    async def _supply(self) -> None:
        request = self._engine.decryption_request
        if request is not None:
            self._engine.supply_materials(await self._materials_manager.decrypt_materials(request))

    # -- feeding ----------------------------------------------------------------------------------

    async def read_header(self, data: bytes | bytearray | memoryview) -> int:
        """Consume and authenticate the header at the start of ``data``; return its length (0: incomplete)."""

        async def read() -> int:
            length = await self._work(len(data), self._engine.read_header, data)
            await self._supply()
            return length

        return await self._call(read)

    async def supply(self) -> None:
        """Await and supply the materials if the header has been parsed (after :meth:`read_header` on
        the raw :attr:`engine`, say); nothing otherwise."""
        await self._call(self._supply)

    async def update_into(self, data: bytes | bytearray | memoryview, out: bytearray | memoryview) -> int:
        """Consume message bytes; write authenticated plaintext into ``out`` (:meth:`output_bound` bytes)."""
        engine = self._engine

        async def update_into() -> int:
            written = await self._work(len(data), engine.update_into, data, out)
            if engine.needs_materials:  # the header ended in ``data``: it yielded no plaintext
                await self._supply()
                rest = memoryview(out)[written:]
                written += await self._work(engine.buffered, engine.update_into, b"", rest)
            return written

        return await self._call(update_into)

    async def update(self, data: bytes | bytearray | memoryview) -> bytes:
        """Consume message bytes; return the plaintext that authenticated (made in the worker thread)."""
        return await self.update_chunks((data,))

    async def update_chunks(self, chunks: Sequence[bytes | bytearray | memoryview]) -> bytes:
        """:meth:`update` of the chunks joined: the join, like the output's allocation, is done off the loop."""
        engine = self._engine
        size = sum(len(chunk) for chunk in chunks)

        async def update() -> bytes:
            plaintext = await self._work(size, _update_joined, engine, chunks)
            if engine.needs_materials:  # the header ended in ``data``: it yielded no plaintext
                await self._supply()
                plaintext = await self._work(engine.buffered, engine.update, b"")
            return plaintext

        return await self._call(update)

    async def update_step(self, chunks: Sequence[bytes | bytearray | memoryview], buffers: StepBuffers) -> memoryview:
        """:meth:`update_chunks` into ``buffers``: a view of the plaintext, valid until the next step."""
        engine = self._engine
        size = sum(len(chunk) for chunk in chunks)

        async def update() -> memoryview:
            out, written = await self._work(size, _step_into, engine, chunks, buffers)
            if engine.needs_materials:
                await self._supply()
                written += await self._work(engine.buffered, engine.update_into, b"", out[written:])
            return out[:written]

        return await self._call(update)

    def finalize(self) -> None:
        """Declare the end of the input; raise if the message is incomplete (:class:`TruncatedMessageError`)."""
        if self._busy:
            raise UsageError("the decryptor is in use by another task")
        if self._error is not None:
            raise self._error
        self._engine.finalize()

    # -- plain values -----------------------------------------------------------------------------

    @property
    def engine(self) -> MessageDecryptor:
        """The sans-I/O engine (random access opens its frames directly, once the header authenticated)."""
        return self._engine

    def output_bound(self, length: int) -> int:
        """The most plaintext ``update(data)`` can return for ``len(data) == length`` (materials not counted)."""
        return self._engine.output_bound(length)

    @property
    def header(self) -> Header | None:
        return self._engine.header

    @property
    def encryption_context(self) -> dict[str, str] | None:
        return self._engine.encryption_context

    @property
    def done(self) -> bool:
        return self._engine.done

    @property
    def frame_step(self) -> int | None:
        return self._engine.frame_step

    @property
    def buffered(self) -> int:
        return self._engine.buffered

    @property
    def max_header_bytes(self) -> int:
        return self._engine.max_header_bytes


def _update_joined(engine: MessageDecryptor, chunks: Sequence[bytes | bytearray | memoryview]) -> bytes:
    return engine.update(chunks[0] if len(chunks) == 1 else b"".join(chunks))


def _step_into(
    engine: MessageDecryptor, chunks: Sequence[bytes | bytearray | memoryview], buffers: StepBuffers
) -> tuple[memoryview, int]:
    data = buffers.joined(chunks)
    out = buffers.output(engine.output_bound(len(data)))
    return out, engine.update_into(data, out)
