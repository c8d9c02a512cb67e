"""Async materials managers and the async multi-keyring."""

from __future__ import annotations

import asyncio
import time

import pytest

import busta
import busta.aio
from busta import AlgorithmSuite, CommitmentPolicy
from busta.errors import EncryptionContextError, KeyringError, NoDecryptingKeyError, UsageError
from busta.materials import DecryptionRequest, EncryptionRequest, LruMaterialsCache

from .support import AsyncAesKeyring, ThreadRecordingKeyring, aes_keyring

POLICY = CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY


def _request(length: int = 1024) -> EncryptionRequest:
    return EncryptionRequest({"tenant": "a"}, POLICY, UNSIGNED, length)


@pytest.mark.asyncio
async def test_a_thousand_concurrent_misses_make_one_underlying_call() -> None:
    keyring = AsyncAesKeyring(delay=0.05)
    cmm = busta.aio.AsyncCachingCryptoMaterialsManager(keyring, max_age=60)
    results = await asyncio.gather(*(cmm.get_encryption_materials(_request()) for _ in range(1000)))
    assert keyring.calls == 1
    assert len({id(materials) for materials in results}) == 1
    context = {"tenant": "a"}
    message = await busta.aio.encrypt(b"x" * 10, materials_manager=cmm, algorithm=UNSIGNED, encryption_context=context)
    assert keyring.calls == 1
    decrypting = busta.aio.AsyncCachingCryptoMaterialsManager(keyring, max_age=60)
    outs = await asyncio.gather(*(busta.aio.decrypt(message, materials_manager=decrypting) for _ in range(1000)))
    assert keyring.calls == 2 and {out.plaintext for out in outs} == {b"x" * 10}


@pytest.mark.asyncio
async def test_single_flight_survives_a_failing_leader_and_a_cancelled_waiter() -> None:
    keyring = AsyncAesKeyring(delay=0.05, fail=KeyringError("down"))
    cmm = busta.aio.AsyncCachingCryptoMaterialsManager(keyring, max_age=60)
    results = await asyncio.gather(
        *(cmm.get_encryption_materials(_request()) for _ in range(20)), return_exceptions=True
    )
    assert all(isinstance(result, KeyringError) for result in results)
    assert keyring.calls == 20  # each waiter became the leader in turn, one call at a time
    keyring.fail, keyring.calls = None, 0
    leader = asyncio.ensure_future(cmm.get_encryption_materials(_request()))
    waiter = asyncio.ensure_future(cmm.get_encryption_materials(_request()))
    await asyncio.sleep(0.01)
    leader.cancel()  # the first caller goes away: the call it started goes on for the other
    await waiter
    assert keyring.calls == 1 and leader.cancelled()


@pytest.mark.asyncio
async def test_the_caching_rules_are_the_sync_ones() -> None:
    keyring = AsyncAesKeyring()
    shared = LruMaterialsCache()
    cmm = busta.aio.AsyncCachingCryptoMaterialsManager(keyring, max_age=60, max_messages=2, cache=shared)
    for _ in range(5):
        await cmm.get_encryption_materials(_request())
    assert keyring.calls == 3  # 2 messages per entry
    await cmm.get_encryption_materials(EncryptionRequest({"tenant": "a"}, POLICY, UNSIGNED, None))
    assert keyring.calls == 4  # unknown length: bypassed
    aged = busta.aio.AsyncCachingCryptoMaterialsManager(keyring, max_age=0.01)
    await aged.get_encryption_materials(_request())
    time.sleep(0.02)
    await aged.get_encryption_materials(_request())
    assert keyring.calls == 6
    with pytest.raises(UsageError):
        busta.aio.AsyncCachingCryptoMaterialsManager(keyring, max_age=0)
    with pytest.raises(UsageError):
        busta.aio.AsyncCachingCryptoMaterialsManager(object(), max_age=1)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_the_required_context_manager_is_the_sync_one_awaited() -> None:
    for underlying in (AsyncAesKeyring(), aes_keyring()):
        cmm = busta.aio.AsyncRequiredEncryptionContextCmm(underlying, required_keys=["tenant"])
        with pytest.raises(EncryptionContextError):
            await busta.aio.encrypt(b"x", materials_manager=cmm, encryption_context={"other": "1"})
        message = await busta.aio.encrypt(b"x", materials_manager=cmm, encryption_context={"tenant": "t"})
        assert b"tenant" not in message  # required pairs are authenticated, not stored
        with pytest.raises(EncryptionContextError):
            await busta.aio.decrypt(message, materials_manager=cmm)
        out = await busta.aio.decrypt(message, materials_manager=cmm, encryption_context={"tenant": "t"})
        assert out.plaintext == b"x"
        sync = busta.materials.RequiredEncryptionContextCmm(aes_keyring(), required_keys=["tenant"])
        assert busta.decrypt(message, materials_manager=sync, encryption_context={"tenant": "t"}).plaintext == b"x"
    with pytest.raises(UsageError):
        busta.aio.AsyncRequiredEncryptionContextCmm(aes_keyring(), required_keys="tenant")


@pytest.mark.asyncio
async def test_the_multi_keyring_calls_its_children_concurrently() -> None:
    children = [AsyncAesKeyring(aes_keyring(f"child-{i}"), delay=0.2) for i in range(5)]
    multi = busta.aio.AsyncMultiKeyring(AsyncAesKeyring(), children)
    started = time.monotonic()
    message = await busta.aio.encrypt(b"x", keyring=multi)
    assert time.monotonic() - started < 0.2 * 5 / 2  # five 0.2 s children at once, not one after another
    header = busta.decrypt(message, keyring=aes_keyring()).header
    names = [edk.provider_info[: len(b"child-0")] for edk in header.encrypted_data_keys[1:]]
    assert names == [f"child-{i}".encode() for i in range(5)]  # stored in the children's order
    for i in range(5):  # each child alone decrypts it, with sync busta too
        assert busta.decrypt(message, keyring=aes_keyring(f"child-{i}")).plaintext == b"x"
    slow = busta.aio.AsyncMultiKeyring(
        AsyncAesKeyring(aes_keyring("nobody"), delay=0.0), [AsyncAesKeyring(delay=5), children[3]]
    )
    started = time.monotonic()
    assert (await busta.aio.decrypt(message, keyring=slow)).plaintext == b"x"
    assert time.monotonic() - started < 1  # the first to unwrap wins; the 5 s one is cancelled


@pytest.mark.asyncio
async def test_the_multi_keyring_reports_every_failure_in_the_error_tree() -> None:
    message = busta.encrypt(b"x", keyring=aes_keyring())
    multi = busta.aio.AsyncMultiKeyring(
        AsyncAesKeyring(aes_keyring("a")),
        [ThreadRecordingKeyring(aes_keyring("b")), AsyncAesKeyring(fail=KeyringError("kms down"))],
    )
    with pytest.raises(NoDecryptingKeyError) as caught:
        await busta.aio.decrypt(message, keyring=multi)
    assert len(caught.value.reasons) == 3 and "kms down" in caught.value.reasons[2]
    failing = busta.aio.AsyncMultiKeyring(AsyncAesKeyring(), [AsyncAesKeyring(fail=KeyringError("no wrap"))])
    with pytest.raises(KeyringError, match="no wrap"):  # not an ExceptionGroup
        await busta.aio.encrypt(b"x", keyring=failing)
    with pytest.raises(UsageError):
        busta.aio.AsyncMultiKeyring()
    with pytest.raises(UsageError):
        busta.aio.AsyncMultiKeyring(object())  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_a_sync_materials_manager_request_reaches_it_unchanged() -> None:
    seen: list[object] = []

    class Recording:
        def get_encryption_materials(self, request: EncryptionRequest) -> busta.EncryptionMaterials:
            seen.append(request)
            return busta.materials.DefaultCryptoMaterialsManager(aes_keyring()).get_encryption_materials(request)

        def decrypt_materials(self, request: DecryptionRequest) -> busta.DecryptionMaterials:
            seen.append(request)
            return busta.materials.DefaultCryptoMaterialsManager(aes_keyring()).decrypt_materials(request)

    message = await busta.aio.encrypt(b"abc", materials_manager=Recording(), encryption_context={"a": "b"})
    assert (await busta.aio.decrypt(message, materials_manager=Recording())).plaintext == b"abc"
    assert isinstance(seen[0], EncryptionRequest) and seen[0].plaintext_length == 3
    assert isinstance(seen[1], DecryptionRequest)


@pytest.mark.asyncio
async def test_the_async_default_manager_checks_its_keyrings_answers() -> None:
    class NoKey:
        async def on_encrypt(self, materials: busta.EncryptionMaterials) -> busta.EncryptionMaterials:
            return materials

        async def on_decrypt(self, materials: busta.DecryptionMaterials, edks: object) -> busta.DecryptionMaterials:
            return materials

    with pytest.raises(KeyringError, match="no data key"):
        await busta.aio.encrypt(b"x", keyring=NoKey())
    message = busta.encrypt(b"x", keyring=aes_keyring())
    with pytest.raises(KeyringError, match="no data key"):
        await busta.aio.decrypt(message, keyring=NoKey())
    cmm = busta.aio.AsyncDefaultCryptoMaterialsManager(AsyncAesKeyring())
    with pytest.raises(UsageError):
        await cmm.get_encryption_materials("not a request")  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        busta.aio.AsyncDefaultCryptoMaterialsManager(object())  # type: ignore[arg-type]
