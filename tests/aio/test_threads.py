"""The loop stays free, by thread identity: frame work of large messages, sync keyrings and sync
materials managers never run on the loop thread, and no blocking socket call happens there."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

import busta
import busta.aio
from busta.crypto.frames import FrameCodec
from busta.materials import CachingCryptoMaterialsManager

from .support import ThreadRecordingKeyring, aes_keyring

LARGE = bytes(3 << 20)  # 3 MiB: far above busta.limits.AIO_INLINE_BYTES


@pytest.fixture
def frame_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[int]]:
    """The threads every regular frame was sealed or opened on."""
    seen: set[int] = set()
    for name in ("seal_regular", "open_regular"):
        real = getattr(FrameCodec, name)

        def recording(*args: Any, _real: Callable[..., Any] = real, **kwargs: Any) -> Any:
            seen.add(threading.get_ident())
            return _real(*args, **kwargs)

        monkeypatch.setattr(FrameCodec, name, recording)
    yield seen


async def _chunks(data: bytes, step: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), step):
        yield data[start : start + step]


class _Sink:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    async def write(self, data: bytes) -> None:
        self.parts.append(bytes(data))


@pytest.mark.asyncio
@pytest.mark.parametrize("threads", [1, 2])
async def test_frame_work_of_large_messages_never_runs_on_the_loop(frame_threads: set[int], threads: int) -> None:
    loop_thread = threading.get_ident()
    client = busta.aio.Client(busta.Client(threads=threads))
    message = await client.encrypt(LARGE, keyring=aes_keyring())
    assert (await client.decrypt(message, keyring=aes_keyring())).plaintext == LARGE
    sink = _Sink()
    await client.encrypt_stream(_chunks(LARGE, 1 << 20), sink, keyring=aes_keyring())
    back = _Sink()
    await client.decrypt_stream(_chunks(b"".join(sink.parts), 1 << 20), back, keyring=aes_keyring())
    assert b"".join(back.parts) == LARGE
    assert frame_threads and loop_thread not in frame_threads


@pytest.mark.asyncio
async def test_small_messages_are_done_inline(frame_threads: set[int]) -> None:
    message = await busta.aio.encrypt(bytes(200_000), keyring=aes_keyring(), frame_length=100)
    assert frame_threads and threading.get_ident() not in frame_threads  # 200 KB: above the threshold
    frame_threads.clear()
    await busta.aio.encrypt(bytes(10_000), keyring=busta.aio.AsyncMultiKeyring(aes_keyring()), frame_length=100)
    assert frame_threads == {threading.get_ident()}  # 10 KB: below the threshold, no hand-off
    assert message


@pytest.mark.asyncio
async def test_sync_keyrings_and_managers_run_in_threads() -> None:
    loop_thread = threading.get_ident()
    keyring = ThreadRecordingKeyring()
    message = await busta.aio.encrypt(b"x", keyring=keyring)
    await busta.aio.decrypt(message, keyring=keyring)
    multi = busta.aio.AsyncMultiKeyring(keyring, [ThreadRecordingKeyring()])
    await busta.aio.decrypt(await busta.aio.encrypt(b"y", keyring=multi), keyring=multi)
    cmm = CachingCryptoMaterialsManager(keyring, max_age=60)
    await busta.aio.encrypt(b"z", materials_manager=cmm)
    cached = busta.aio.AsyncCachingCryptoMaterialsManager(keyring, max_age=60)
    await busta.aio.encrypt(b"z", materials_manager=cached)
    assert len(keyring.threads) == 6
    assert loop_thread not in keyring.threads


@pytest.mark.asyncio
async def test_no_blocking_socket_call_happens_on_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    loop_thread = threading.get_ident()
    blocking_on_loop: list[str] = []
    for name in ("connect", "recv", "recv_into", "send", "sendall", "accept"):
        real = getattr(socket.socket, name)

        def recording(self: socket.socket, *args: Any, _real: Any = real, _name: str = name) -> Any:
            if threading.get_ident() == loop_thread and self.getblocking():
                blocking_on_loop.append(_name)
            return _real(self, *args)

        monkeypatch.setattr(socket.socket, name, recording)
    received = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sink = _Sink()
        await busta.aio.decrypt_stream(reader, sink, keyring=ThreadRecordingKeyring())
        received.set_result(b"".join(sink.parts))
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        _, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        await busta.aio.encrypt_stream(_chunks(LARGE, 1 << 20), writer, keyring=ThreadRecordingKeyring())
        writer.write_eof()
        assert await asyncio.wait_for(received, 30) == LARGE
        writer.close()
        await writer.wait_closed()
    assert blocking_on_loop == []
