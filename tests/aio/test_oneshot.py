"""``await busta.aio.encrypt / decrypt``: the sync calls' bytes, plaintext and errors."""

from __future__ import annotations

import dataclasses

import pytest

import busta
import busta.aio
import busta.streaming.header
from busta import AlgorithmSuite, CommitmentPolicy, EncryptionMaterials
from busta.errors import AuthenticationError, NoDecryptingKeyError, UsageError
from busta.materials import DefaultCryptoMaterialsManager, EncryptionRequest

from .support import AsyncAesKeyring, AsyncFixedMaterialsCmm, FixedMaterialsCmm, aes_keyring

UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
SIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
PLAINTEXT = bytes(range(256)) * 1000  # 256,000 bytes: above the inline threshold, so frame work goes to a thread
MESSAGE_ID = bytes(range(32))


class _FixedId:
    """Stands in for ``os`` in busta.streaming.header: every message gets MESSAGE_ID."""

    @staticmethod
    def urandom(n: int) -> bytes:
        return MESSAGE_ID[:n]


def _fixed_materials() -> EncryptionMaterials:
    request = EncryptionRequest({"tenant": "a"}, CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT, UNSIGNED)
    return DefaultCryptoMaterialsManager(aes_keyring()).get_encryption_materials(request)


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, len(PLAINTEXT)])
async def test_an_unsigned_message_is_byte_identical_to_sync_given_the_same_materials(
    size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(busta.streaming.header, "os", _FixedId)
    materials = _fixed_materials()
    data = PLAINTEXT[:size]
    sync = busta.encrypt(data, materials_manager=FixedMaterialsCmm(materials, aes_keyring()), frame_length=4096)
    for cmm in (FixedMaterialsCmm(materials, aes_keyring()), AsyncFixedMaterialsCmm(materials, aes_keyring())):
        assert await busta.aio.encrypt(data, materials_manager=cmm, frame_length=4096) == sync


@pytest.mark.asyncio
@pytest.mark.parametrize("keyring", [aes_keyring(), AsyncAesKeyring()], ids=["sync-keyring", "async-keyring"])
async def test_signed_messages_decrypt_identically_both_ways(keyring: object) -> None:
    message = await busta.aio.encrypt(PLAINTEXT, keyring=keyring, algorithm=SIGNED, encryption_context={"k": "v"})  # type: ignore[arg-type]
    sync = busta.decrypt(message, keyring=aes_keyring())
    result = await busta.aio.decrypt(busta.encrypt(PLAINTEXT, keyring=aes_keyring()), keyring=keyring)  # type: ignore[arg-type]
    assert sync.plaintext == result.plaintext == PLAINTEXT
    assert sync.encryption_context["k"] == "v"
    again = await busta.aio.decrypt(message, keyring=keyring)  # type: ignore[arg-type]
    assert again.header == sync.header and again.encryption_context == sync.encryption_context


@pytest.mark.asyncio
async def test_compression_is_the_sync_compression() -> None:
    message = await busta.aio.encrypt(PLAINTEXT, keyring=AsyncAesKeyring(), compression="zstd")
    assert len(message) < len(PLAINTEXT) // 10
    assert busta.decrypt(message, keyring=aes_keyring()).plaintext == PLAINTEXT
    assert (await busta.aio.decrypt(message, keyring=AsyncAesKeyring())).plaintext == PLAINTEXT


@pytest.mark.asyncio
async def test_errors_are_the_sync_errors() -> None:
    message = busta.encrypt(b"secret", keyring=aes_keyring())
    with pytest.raises(UsageError):
        await busta.aio.encrypt(b"x")  # neither keyring= nor materials_manager=
    with pytest.raises(UsageError):
        await busta.aio.encrypt(b"x", keyring=object())  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        await busta.aio.encrypt("text", keyring=aes_keyring())  # type: ignore[arg-type]
    with pytest.raises(NoDecryptingKeyError):
        await busta.aio.decrypt(message, keyring=AsyncAesKeyring(aes_keyring("another-key")))
    tampered = bytearray(message)
    tampered[-1] ^= 1
    with pytest.raises(AuthenticationError):
        await busta.aio.decrypt(bytes(tampered), keyring=AsyncAesKeyring())
    with pytest.raises(busta.errors.TruncatedMessageError):
        await busta.aio.decrypt(message[:-10], keyring=AsyncAesKeyring())


@pytest.mark.asyncio
async def test_a_client_carries_the_sync_clients_settings() -> None:
    legacy = AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384
    with pytest.raises(busta.errors.PolicyError):
        await busta.aio.encrypt(b"x", keyring=aes_keyring(), algorithm=legacy)
    allowing = busta.aio.Client(busta.Client(commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT))
    message = await allowing.encrypt(b"x", keyring=aes_keyring(), algorithm=legacy)
    refusing = busta.aio.Client(dataclasses.replace(allowing.sdk, refuse_signed=True))
    with pytest.raises(busta.errors.SignedMessageError):
        await refusing.decrypt(message, keyring=aes_keyring())
    assert (await allowing.decrypt(message, keyring=aes_keyring())).plaintext == b"x"
    with pytest.raises(UsageError):
        busta.aio.Client(object())  # type: ignore[arg-type]


class _HalfAsync:
    async def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        return materials

    def on_decrypt(self, materials: object, edks: object) -> object:
        return materials


@pytest.mark.asyncio
async def test_a_keyring_half_async_half_sync_is_refused_at_the_call() -> None:
    with pytest.raises(UsageError, match="mixes async and sync"):
        await busta.aio.encrypt(b"x", keyring=_HalfAsync())  # type: ignore[arg-type]
