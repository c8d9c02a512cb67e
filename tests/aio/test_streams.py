"""Async streams: sources and sinks of every kind, boundary sizes, the release rule, cancellation."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import pytest

import busta
import busta.aio
from busta import AlgorithmSuite
from busta.errors import AuthenticationError, TruncatedMessageError, UsageError

from .support import AsyncAesKeyring, aes_keyring

SIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
FRAME = 1024
SIZES = [0, 1, FRAME - 1, FRAME, FRAME + 1, 2 * FRAME + 1, 300_000]


class ListSink:
    """An async sink that keeps what it is given."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    async def write(self, data: bytes) -> None:
        self.parts.append(bytes(data))

    @property
    def value(self) -> bytes:
        return b"".join(self.parts)


async def chunks(data: bytes, step: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), step):
        await asyncio.sleep(0)
        yield data[start : start + step]


def _plaintext(size: int) -> bytes:
    return bytes(i * 7 % 251 for i in range(size))


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("size", "step"), [(size, step) for size in SIZES for step in (1, 777, 1 << 20) if step > 1 or size < 3 * FRAME]
)
async def test_an_async_iterable_round_trips_and_sync_busta_reads_it(size: int, step: int) -> None:
    data = _plaintext(size)
    sink = ListSink()
    result = await busta.aio.encrypt_stream(chunks(data, step), sink, keyring=AsyncAesKeyring(), frame_length=FRAME)
    assert result.plaintext_length == size
    assert busta.decrypt(sink.value, keyring=aes_keyring()).plaintext == data
    back = ListSink()
    out = await busta.aio.decrypt_stream(chunks(sink.value, step), back, keyring=aes_keyring())
    assert back.value == data and out.plaintext_length == size and out.header == result.header


@pytest.mark.asyncio
async def test_asyncio_stream_reader_and_writer_over_a_socket() -> None:
    data = _plaintext(200_000)
    message = busta.encrypt(data, keyring=aes_keyring(), algorithm=SIGNED)
    received = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sink = ListSink()
        await busta.aio.decrypt_stream(reader, sink, keyring=AsyncAesKeyring())
        received.set_result(sink.value)
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        feeder = io.BytesIO(message)
        source = chunks(feeder.read(), 4096)
        async for piece in source:  # the message over the socket, through the StreamWriter sink adapter
            await busta.aio._streams.as_sink(writer).write(piece)
        writer.write_eof()
        assert await asyncio.wait_for(received, 10) == data
        writer.close()
        await writer.wait_closed()
    # and encrypt_stream into a StreamWriter: the server decrypts what arrives
    received = asyncio.get_running_loop().create_future()
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        await busta.aio.encrypt_stream(chunks(data, 10_000), writer, keyring=aes_keyring())
        writer.write_eof()
        assert await asyncio.wait_for(received, 10) == data
        writer.close()
        await writer.wait_closed()


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [0, 1, FRAME + 1, 300_000])
async def test_the_reader_and_writer_are_async_context_managers_and_iterators(size: int) -> None:
    data = _plaintext(size)
    sink = ListSink()
    async with await busta.aio.encrypting_writer(sink, keyring=AsyncAesKeyring(), frame_length=FRAME) as writer:
        for start in range(0, size, 5000):
            await writer.write(data[start : start + 5000])
    assert busta.decrypt(sink.value, keyring=aes_keyring()).plaintext == data
    async with busta.aio.decrypting_reader(chunks(sink.value, 3000), keyring=AsyncAesKeyring()) as reader:
        pieces = [piece async for piece in reader]
    assert b"".join(pieces) == data
    reader = busta.aio.decrypting_reader(chunks(sink.value, 3000), keyring=aes_keyring())
    head = await reader.read(10)
    assert head + await reader.read() == data


@pytest.mark.asyncio
async def test_a_writer_left_on_an_error_writes_no_final_frame() -> None:
    sink = ListSink()
    with pytest.raises(RuntimeError):
        async with await busta.aio.encrypting_writer(sink, keyring=aes_keyring(), frame_length=FRAME) as writer:
            await writer.write(_plaintext(5 * FRAME))
            raise RuntimeError("the producer failed")
    with pytest.raises(TruncatedMessageError):
        busta.decrypt(sink.value, keyring=aes_keyring())


@pytest.mark.asyncio
async def test_a_signed_final_frame_is_held_back_until_its_signature_verifies() -> None:
    data = _plaintext(3 * FRAME + 5)
    message = bytearray(busta.encrypt(data, keyring=aes_keyring(), algorithm=SIGNED, frame_length=FRAME))
    message[-1] ^= 1  # the signature's last byte
    sink = ListSink()
    with pytest.raises(AuthenticationError):
        await busta.aio.decrypt_stream(chunks(bytes(message), 64), sink, keyring=AsyncAesKeyring())
    assert data.startswith(sink.value) and len(sink.value) <= 3 * FRAME  # never the final frame's 5 bytes


@pytest.mark.asyncio
async def test_truncation_raises_and_a_tampered_frame_releases_nothing_of_it() -> None:
    data = _plaintext(4 * FRAME)
    message = busta.encrypt(data, keyring=aes_keyring(), frame_length=FRAME)
    sink = ListSink()
    with pytest.raises(TruncatedMessageError):
        await busta.aio.decrypt_stream(chunks(message[:-30], 512), sink, keyring=aes_keyring())
    tampered = bytearray(message)
    tampered[len(message) - 2 * FRAME] ^= 1
    sink = ListSink()
    with pytest.raises(AuthenticationError):
        await busta.aio.decrypt_stream(chunks(bytes(tampered), 512), sink, keyring=aes_keyring())
    assert data.startswith(sink.value) and len(sink.value) < len(data) - FRAME


@pytest.mark.asyncio
async def test_sources_and_sinks_of_no_known_kind_are_refused() -> None:
    with pytest.raises(UsageError, match="async source"):
        await busta.aio.encrypt_stream(io.BytesIO(b"x"), ListSink(), keyring=aes_keyring())
    with pytest.raises(UsageError, match="async sink"):
        await busta.aio.encrypt_stream(chunks(b"x", 1), io.BytesIO(), keyring=aes_keyring())


@pytest.mark.asyncio
async def test_decrypt_stream_and_the_decrypting_writer_decompress_and_the_reader_refuses() -> None:
    data = b"log line 200 ok\n" * 400_000  # 6.4 MB that compresses well
    message = busta.encrypt(data, keyring=aes_keyring(), compression="zstd")
    written = ListSink()
    result = await busta.aio.encrypt_stream(chunks(data, 50_000), written, keyring=aes_keyring(), compression="zstd")
    assert result.plaintext_length == len(data) and len(written.value) < len(data) // 10
    assert busta.decrypt(written.value, keyring=aes_keyring()).plaintext == data
    sink = ListSink()
    result = await busta.aio.decrypt_stream(chunks(message, 1000), sink, keyring=AsyncAesKeyring())
    assert sink.value == data and result.plaintext_length == len(data)
    sink = ListSink()
    async with busta.aio.decrypting_writer(sink, keyring=aes_keyring()) as writer:
        await writer.write(message)
    assert sink.value == data
    small = busta.aio.Client(busta.Client(max_decompressed_bytes=1000))
    with pytest.raises(busta.errors.LimitExceededError):
        await small.decrypt_stream(chunks(message, 1000), ListSink(), keyring=aes_keyring())
    reader = busta.aio.decrypting_reader(chunks(message, 100), keyring=aes_keyring())
    with pytest.raises(UsageError, match="compressed"):
        await reader.read()


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [0, 1, FRAME + 1, 300_000])
async def test_the_encrypting_reader_and_decrypting_writer_are_the_other_two_directions(size: int) -> None:
    data = _plaintext(size)
    async with await busta.aio.encrypting_reader(chunks(data, 4000), keyring=aes_keyring(), frame_length=FRAME) as r:
        message = b"".join([piece async for piece in r])
    assert busta.decrypt(message, keyring=aes_keyring()).plaintext == data
    sink = ListSink()
    async with busta.aio.decrypting_writer(sink, keyring=AsyncAesKeyring()) as writer:
        for start in range(0, len(message), 3000):
            await writer.write(message[start : start + 3000])
    assert sink.value == data
    truncated = busta.aio.decrypting_writer(ListSink(), keyring=aes_keyring())
    await truncated.write(message[:-1])
    with pytest.raises(TruncatedMessageError):
        await truncated.close()


@pytest.mark.asyncio
async def test_stream_memory_stays_bounded_whatever_the_length() -> None:
    import tracemalloc

    size = 24 << 20

    async def produced() -> AsyncIterator[bytes]:
        piece = bytes(1 << 20)
        for _ in range(size >> 20):
            yield piece

    class Counting:
        def __init__(self) -> None:
            self.count = 0
            self.parts: list[bytes] = []

        async def write(self, data: memoryview) -> None:
            self.count += len(data)

    message_sink = Counting()
    tracemalloc.start()
    try:
        await busta.aio.encrypt_stream(produced(), message_sink, keyring=aes_keyring())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert message_sink.count > size
    assert peak < 12 << 20  # a few 2 MiB step buffers, not the 24 MiB stream
