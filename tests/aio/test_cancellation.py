"""Cancelling a decrypt releases no unauthenticated plaintext, leaves nothing behind and fails the decryptor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import busta
import busta.aio
from busta import AlgorithmSuite
from busta.errors import UsageError

from .support import AsyncAesKeyring, aes_keyring

SIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
FRAME = 4096
DATA = bytes(i % 253 for i in range(20 * FRAME + 7))


class _Sink:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    async def write(self, data: bytes) -> None:
        self.parts.append(bytes(data))


async def _trickle(data: bytes, step: int, stall_at: int, stalled: asyncio.Event) -> AsyncIterator[bytes]:
    """``data`` in steps; it stalls forever once ``stall_at`` bytes went out."""
    sent = 0
    while sent < len(data):
        if sent >= stall_at:
            stalled.set()
            await asyncio.Event().wait()
        yield data[sent : sent + step]
        sent += step


@pytest.mark.asyncio
@pytest.mark.parametrize("stall_at", [0, 100, 5 * FRAME, len(DATA) - 50])
async def test_a_cancelled_stream_decrypt_released_only_authenticated_frames(stall_at: int) -> None:
    message = busta.encrypt(DATA, keyring=aes_keyring(), algorithm=SIGNED, frame_length=FRAME)
    stalled, sink = asyncio.Event(), _Sink()
    task = asyncio.ensure_future(
        busta.aio.decrypt_stream(_trickle(message, 1000, stall_at, stalled), sink, keyring=AsyncAesKeyring())
    )
    await stalled.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    released = b"".join(sink.parts)
    assert DATA.startswith(released)
    assert len(released) % FRAME == 0  # whole frames only, and never the signed final frame
    assert len(released) <= max(0, stall_at - 100) and len(released) < len(DATA)


@pytest.mark.asyncio
async def test_a_decrypt_cancelled_while_its_keyring_is_awaited_releases_nothing() -> None:
    message = busta.encrypt(DATA, keyring=aes_keyring(), frame_length=FRAME)
    keyring = AsyncAesKeyring(delay=10)
    sink = _Sink()

    async def whole() -> AsyncIterator[bytes]:
        yield message

    task = asyncio.ensure_future(busta.aio.decrypt_stream(whole(), sink, keyring=keyring))
    one_shot = asyncio.ensure_future(busta.aio.decrypt(message, keyring=keyring))
    await asyncio.sleep(0.05)
    task.cancel()
    one_shot.cancel()
    for cancelled in (task, one_shot):
        with pytest.raises(asyncio.CancelledError):
            await cancelled
    assert sink.parts == [] and keyring.calls == 2


@pytest.mark.asyncio
async def test_a_decryptor_whose_call_was_cancelled_stays_failed() -> None:
    message = busta.encrypt(DATA, keyring=aes_keyring(), frame_length=FRAME)
    decryptor = busta.aio.start_decryption(keyring=AsyncAesKeyring(delay=10))
    call = asyncio.ensure_future(decryptor.update(message))
    await asyncio.sleep(0.05)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    with pytest.raises(UsageError, match="cancelled"):
        await decryptor.update(b"")
    with pytest.raises(UsageError, match="cancelled"):
        decryptor.finalize()


@pytest.mark.asyncio
async def test_two_tasks_on_one_decryptor_are_refused() -> None:
    message = busta.encrypt(DATA, keyring=aes_keyring(), frame_length=FRAME)
    decryptor = busta.aio.start_decryption(keyring=AsyncAesKeyring(delay=0.1))
    first = asyncio.ensure_future(decryptor.update(message[:1000]))  # the header ends: its keyring is awaited
    await asyncio.sleep(0.01)
    with pytest.raises(UsageError, match="another task"):
        await decryptor.update(message[1000:])
    assert DATA.startswith(await first)  # the call in progress ends; the decryptor stays failed after it
    with pytest.raises(UsageError, match="another task"):
        await decryptor.update(message[1000:])
