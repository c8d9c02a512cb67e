"""Messages busta.aio writes decrypt with sync busta and with the official aws-encryption-sdk, and the reverse."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import busta
import busta.aio
from busta import AlgorithmSuite

from ..support.oracle import AesKeySpec, official_decrypt, official_encrypt
from .support import AES_KEY, AsyncAesKeyring, aes_keyring

SPEC = AesKeySpec("aio-namespace", "aio-aes-256", AES_KEY)
SUITES = [
    AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
]
CONTEXT = {"purpose": "aio interop", "Tenant": "Ünïcödé"}
DATA = bytes(i * 13 % 256 for i in range(150_001))


class _Sink:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    async def write(self, data: bytes) -> None:
        self.parts.append(bytes(data))


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 10_000):
        yield data[start : start + 10_000]


@pytest.mark.asyncio
@pytest.mark.parametrize("suite", SUITES, ids=lambda suite: f"{suite.id:04x}")
async def test_async_writes_decrypt_with_sync_busta_and_the_official_sdk(suite: AlgorithmSuite) -> None:
    one_shot = await busta.aio.encrypt(
        DATA, keyring=AsyncAesKeyring(), algorithm=suite, encryption_context=CONTEXT, frame_length=4096
    )
    sink = _Sink()
    await busta.aio.encrypt_stream(
        _chunks(DATA), sink, keyring=aes_keyring(), algorithm=suite, encryption_context=CONTEXT, frame_length=4096
    )
    for message in (one_shot, b"".join(sink.parts)):
        assert busta.decrypt(message, keyring=aes_keyring()).plaintext == DATA
        plaintext, context = official_decrypt(message, keys=[SPEC])
        assert plaintext == DATA and context["purpose"] == CONTEXT["purpose"]


@pytest.mark.asyncio
@pytest.mark.parametrize("suite", SUITES, ids=lambda suite: f"{suite.id:04x}")
@pytest.mark.parametrize("frame_length", [0, 4096])
async def test_official_and_sync_messages_decrypt_with_busta_aio(suite: AlgorithmSuite, frame_length: int) -> None:
    official = official_encrypt(
        DATA, keys=[SPEC], suite_id=suite.id, frame_length=frame_length, encryption_context=CONTEXT
    )
    sync = busta.encrypt(DATA, keyring=aes_keyring(), algorithm=suite, encryption_context=CONTEXT)
    for message in (official, sync):
        result = await busta.aio.decrypt(
            message, keyring=AsyncAesKeyring(), encryption_context={"purpose": "aio interop"}
        )
        assert result.plaintext == DATA
        sink = _Sink()
        await busta.aio.decrypt_stream(_chunks(message), sink, keyring=aes_keyring())
        assert b"".join(sink.parts) == DATA
