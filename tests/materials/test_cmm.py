"""Materials managers (issue 6): the caching CMM, the required-encryption-context CMM, and
thread safety of every keyring and CMM busta ships.

Caching is observed through a counting wrapper around the real keyrings: a call that reaches
the keyring is a cache miss, and messages that share a data key share their encrypted data
keys byte for byte. The KMS tests run against a real moto server process on 127.0.0.1 and
count KMS calls with botocore event hooks; the default client cache is replaced by one that
fails the test, so no request can leave the machine.
"""

from __future__ import annotations

import base64
import copy
import io
import math
import os
import pickle
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import busta
from busta import (
    AlgorithmSuite,
    CachingCryptoMaterialsManager,
    CommitmentPolicy,
    DecryptionMaterials,
    DefaultCryptoMaterialsManager,
    EncryptedDataKey,
    EncryptionMaterials,
    EncryptionRequest,
    Keyring,
    LruMaterialsCache,
    RequiredEncryptionContextCmm,
    SecretBytes,
)
from busta.errors import (
    AuthenticationError,
    EncryptionContextError,
    KeyringError,
    LimitExceededError,
    NoDecryptingKeyError,
    UsageError,
)
from busta.format import parse_header
from busta.keyrings import (
    AwsKmsDiscoveryKeyring,
    AwsKmsKeyring,
    DiscoveryFilter,
    MultiKeyring,
    RawAesKeyring,
    RawRsaKeyring,
    aws_kms,
)
from busta.materials import caching

from ..support.hsm import import_aes_key, keyring_for, new_token
from ..support.kms_fixtures import WEST, KmsKeys, kms_keys, moto_server
from ..support.moto_server import MotoServer
from ..support.oracle import (
    AesKeySpec,
    official_decrypt_required_ec,
    official_encrypt_required_ec,
)
from ..support.threads import run_threads

__all__ = ["kms_keys", "moto_server"]  # fixtures, imported for pytest to find

NAMESPACE = "issue-6"
KEY_NAME = "wrapping-key"
WRAPPING_KEY = bytes.fromhex("3c9e1f7a5b2d8046c1e4a7f03b9d6e2851c7a0f4e3b6d9022c5f8a1e4b7d0c3e")
CONTEXT = {"purpose": "issue 6", "department": "billing"}
PLAINTEXT = b"sixteen byte msg"
MAX_AGE = 600.0

V2_UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY  # 0x0478
V2_SIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384  # 0x0578
V1_UNSIGNED = AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA256  # 0x0178
V1_SIGNED = AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384  # 0x0378
NO_KDF_SUITES = [
    AlgorithmSuite.AES_128_GCM_IV12_TAG16_NO_KDF,  # 0x0014
    AlgorithmSuite.AES_192_GCM_IV12_TAG16_NO_KDF,  # 0x0046
    AlgorithmSuite.AES_256_GCM_IV12_TAG16_NO_KDF,  # 0x0078
]


def suite_id(suite: AlgorithmSuite) -> str:
    return f"0x{suite.id:04x}"


def policy_for(suite: AlgorithmSuite) -> CommitmentPolicy:
    """The commitment policy that lets ``suite`` encrypt (and decrypt)."""
    if suite.committing:
        return CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    return CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT


# --------------------------------------------------------------------------- harness


class CountingKeyring:
    """Wraps a keyring and counts the calls that reach it; ``delay`` makes each call that slow."""

    def __init__(self, inner: Keyring, *, delay: float = 0.0) -> None:
        self.inner = inner
        self.delay = delay
        self.encrypt_calls = 0
        self.decrypt_calls = 0
        self._lock = threading.Lock()

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        with self._lock:
            self.encrypt_calls += 1
        if self.delay:
            time.sleep(self.delay)
        return self.inner.on_encrypt(materials)

    def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        with self._lock:
            self.decrypt_calls += 1
        if self.delay:
            time.sleep(self.delay)
        return self.inner.on_decrypt(materials, encrypted_data_keys)


class FailingOnceKeyring(CountingKeyring):
    """A counting keyring whose first ``on_encrypt`` fails."""

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        result = super().on_encrypt(materials)
        if self.encrypt_calls == 1:
            raise KeyringError("the first call fails")
        return result


class ContextBlindKeyring:
    """Test keyring that wraps data keys WITHOUT binding them to the encryption context.

    With it, only the message header can notice a wrong or missing required pair.
    """

    PROVIDER_ID = "context-blind"

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        if materials.data_key is None:
            materials = materials.with_data_key(SecretBytes(os.urandom(materials.suite.key_bytes)))
        assert materials.data_key is not None
        iv = os.urandom(12)
        wrapped = self._aead.encrypt(iv, materials.data_key.reveal(), None)
        return materials.with_encrypted_data_key(EncryptedDataKey(self.PROVIDER_ID, iv, wrapped))

    def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        for edk in encrypted_data_keys:
            if edk.provider_id == self.PROVIDER_ID:
                return materials.with_data_key(SecretBytes(self._aead.decrypt(edk.provider_info, edk.ciphertext, None)))
        raise NoDecryptingKeyError("no context-blind data key", ["no data key of this provider"])


class FakeClock:
    """Stands in for the ``time`` module of busta.materials.caching."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def aes_keyring(name: str = KEY_NAME, key: bytes = WRAPPING_KEY) -> RawAesKeyring:
    return RawAesKeyring(NAMESPACE, name, key)


def counting(delay: float = 0.0) -> CountingKeyring:
    return CountingKeyring(aes_keyring(), delay=delay)


def caching_cmm(keyring: Keyring | busta.CryptoMaterialsManager, **options: Any) -> CachingCryptoMaterialsManager:
    options.setdefault("max_age", MAX_AGE)
    return CachingCryptoMaterialsManager(keyring, **options)


def encrypt_with(
    cmm: busta.CryptoMaterialsManager,
    plaintext: bytes = PLAINTEXT,
    *,
    context: Mapping[str, str] = CONTEXT,
    suite: AlgorithmSuite = V2_UNSIGNED,
) -> bytes:
    return busta.Client(commitment_policy=policy_for(suite)).encrypt(
        plaintext, materials_manager=cmm, encryption_context=context, algorithm=suite
    )


def edk_ciphertexts(message: bytes) -> tuple[bytes, ...]:
    """The wrapped data keys of a message: equal exactly when two messages share a cached data key."""
    parsed = parse_header(message)
    assert parsed is not None
    return tuple(edk.ciphertext for edk in parsed.header.encrypted_data_keys)


def stored_context(message: bytes) -> dict[str, str]:
    parsed = parse_header(message)
    assert parsed is not None
    return dict(parsed.header.encryption_context)


def key_groups(messages: Sequence[bytes]) -> list[int]:
    """Number each message by the data key it uses, in order of first use: [0, 0, 1, 1, 2, ...]."""
    seen: dict[tuple[bytes, ...], int] = {}
    return [seen.setdefault(edk_ciphertexts(message), len(seen)) for message in messages]


def decrypts_with_plain_keyring(message: bytes, plaintext: bytes, suite: AlgorithmSuite = V2_UNSIGNED) -> bool:
    policy = (
        CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
        if not suite.committing
        else CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    return busta.Client(commitment_policy=policy).decrypt(message, keyring=aes_keyring()).plaintext == plaintext


@pytest.fixture(autouse=True)
def no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """A KMS keyring made without ``client=`` would reach real AWS: fail instead."""

    def refuse(region: str) -> Any:
        raise AssertionError(f"a keyring asked the default client cache for {region}: it would leave 127.0.0.1")

    monkeypatch.setattr(aws_kms, "_default_clients", refuse)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(caching, "time", fake)
    return fake


# =========================================================================== 1. caching semantics

# -- limits ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("max_messages", [1, 3, 10])
def test_max_messages_n_makes_a_new_data_key_every_n_messages(max_messages: int) -> None:
    keyring = counting()
    cmm = caching_cmm(keyring, max_messages=max_messages)
    count = 25
    messages = [encrypt_with(cmm, b"message %d" % i) for i in range(count)]

    assert keyring.encrypt_calls == math.ceil(count / max_messages)
    assert key_groups(messages) == [i // max_messages for i in range(count)]
    assert all(decrypts_with_plain_keyring(m, b"message %d" % i) for i, m in enumerate(messages))


def test_an_entry_serves_messages_until_their_bytes_would_exceed_max_bytes() -> None:
    keyring = counting()
    cmm = caching_cmm(keyring, max_bytes=100)
    sizes = [40, 40, 40, 20, 50, 50, 1]  # 40+40 | 40+20 (+50 > 100) | 50+50 (= 100 is allowed) | 1
    plaintexts = [bytes([i]) * size for i, size in enumerate(sizes)]
    messages = [encrypt_with(cmm, plaintext) for plaintext in plaintexts]

    assert key_groups(messages) == [0, 0, 1, 1, 2, 2, 3]
    assert keyring.encrypt_calls == 4
    assert all(decrypts_with_plain_keyring(m, p) for m, p in zip(messages, plaintexts, strict=True))


def test_a_message_larger_than_max_bytes_bypasses_the_cache() -> None:
    keyring = counting()
    cmm = caching_cmm(keyring, max_bytes=100)
    messages = [encrypt_with(cmm, b"x" * 101) for _ in range(3)]

    assert keyring.encrypt_calls == 3
    assert len(cmm.cache) == 0
    assert key_groups(messages) == [0, 1, 2]
    assert all(decrypts_with_plain_keyring(m, b"x" * 101) for m in messages)

    encrypt_with(cmm, b"x" * 100)  # at the limit: cached
    assert len(cmm.cache) == 1


def _via_encrypting_writer(cmm: CachingCryptoMaterialsManager) -> bytes:
    sink = io.BytesIO()
    writer = busta.encrypting_writer(sink, materials_manager=cmm, encryption_context=CONTEXT, algorithm=V2_UNSIGNED)
    writer.write(PLAINTEXT)
    writer.close()
    return sink.getvalue()


def _via_encrypt_stream(cmm: CachingCryptoMaterialsManager) -> bytes:
    sink = io.BytesIO()
    busta.encrypt_stream(
        io.BytesIO(PLAINTEXT), sink, materials_manager=cmm, encryption_context=CONTEXT, algorithm=V2_UNSIGNED
    )
    return sink.getvalue()


def _via_encrypting_reader(cmm: CachingCryptoMaterialsManager) -> bytes:
    reader = busta.encrypting_reader(
        io.BytesIO(PLAINTEXT), materials_manager=cmm, encryption_context=CONTEXT, algorithm=V2_UNSIGNED
    )
    return reader.read()


def _via_start_encryption(cmm: CachingCryptoMaterialsManager) -> bytes:
    encryptor = busta.start_encryption(materials_manager=cmm, encryption_context=CONTEXT, algorithm=V2_UNSIGNED)
    return encryptor.update(PLAINTEXT) + encryptor.finalize()


UNKNOWN_SIZE_ENCRYPTS: dict[str, Callable[[CachingCryptoMaterialsManager], bytes]] = {
    "encrypting_writer": _via_encrypting_writer,
    "encrypt_stream": _via_encrypt_stream,
    "encrypting_reader": _via_encrypting_reader,
    "start_encryption": _via_start_encryption,
}


@pytest.mark.parametrize("how", list(UNKNOWN_SIZE_ENCRYPTS))
def test_messages_of_unknown_size_bypass_the_cache(how: str) -> None:
    keyring = counting()
    cmm = caching_cmm(keyring)
    messages = [UNKNOWN_SIZE_ENCRYPTS[how](cmm) for _ in range(3)]

    assert keyring.encrypt_calls == 3
    assert len(cmm.cache) == 0
    assert key_groups(messages) == [0, 1, 2]
    assert all(decrypts_with_plain_keyring(m, PLAINTEXT) for m in messages)


def test_a_streaming_encryption_told_its_plaintext_length_uses_the_cache() -> None:
    keyring = counting()
    cmm = caching_cmm(keyring)
    messages = []
    for _ in range(3):
        encryptor = busta.start_encryption(
            materials_manager=cmm, encryption_context=CONTEXT, algorithm=V2_UNSIGNED, plaintext_length=len(PLAINTEXT)
        )
        messages.append(encryptor.update(PLAINTEXT) + encryptor.finalize())

    assert keyring.encrypt_calls == 1
    assert key_groups(messages) == [0, 0, 0]


def test_an_encryption_entry_is_not_used_at_or_after_max_age(clock: FakeClock) -> None:
    keyring = counting()
    cmm = caching_cmm(keyring, max_age=10)
    first = encrypt_with(cmm)
    clock.now += 9.9
    second = encrypt_with(cmm)
    assert keyring.encrypt_calls == 1

    clock.now += 0.1  # 10 s old: expired
    third = encrypt_with(cmm)
    clock.now += 9.9
    fourth = encrypt_with(cmm)

    assert keyring.encrypt_calls == 2
    assert key_groups([first, second, third, fourth]) == [0, 0, 1, 1]


def test_a_decryption_entry_is_not_used_at_or_after_max_age(clock: FakeClock) -> None:
    message = busta.encrypt(PLAINTEXT, keyring=aes_keyring(), encryption_context=CONTEXT, algorithm=V2_UNSIGNED)
    keyring = counting()
    cmm = caching_cmm(keyring, max_age=10)
    assert busta.decrypt(message, materials_manager=cmm).plaintext == PLAINTEXT
    clock.now += 9.9
    assert busta.decrypt(message, materials_manager=cmm).plaintext == PLAINTEXT
    assert keyring.decrypt_calls == 1

    clock.now += 0.1
    assert busta.decrypt(message, materials_manager=cmm).plaintext == PLAINTEXT
    assert keyring.decrypt_calls == 2


def test_entries_expire_in_real_time_with_a_small_max_age() -> None:
    keyring = counting()
    cmm = caching_cmm(keyring, max_age=0.2)
    first, second = encrypt_with(cmm), encrypt_with(cmm)
    time.sleep(0.25)
    third = encrypt_with(cmm)

    assert keyring.encrypt_calls == 2
    assert key_groups([first, second, third]) == [0, 0, 1]


# -- what an entry is keyed by --------------------------------------------------------------------


def test_two_caching_managers_sharing_a_cache_do_not_share_entries_by_default() -> None:
    shared = LruMaterialsCache()
    keyring_a, keyring_b = counting(), counting()
    cmm_a = caching_cmm(keyring_a, cache=shared)
    cmm_b = caching_cmm(keyring_b, cache=shared)
    a, b = encrypt_with(cmm_a), encrypt_with(cmm_b)

    assert (keyring_a.encrypt_calls, keyring_b.encrypt_calls) == (1, 1)
    assert edk_ciphertexts(a) != edk_ciphertexts(b)
    assert len(shared) == 2


def test_two_caching_managers_with_the_same_partition_id_share_entries() -> None:
    shared = LruMaterialsCache()
    keyring_a, keyring_b, keyring_c = counting(), counting(), counting()
    cmm_a = caching_cmm(keyring_a, cache=shared, partition_id="tenant-pool")
    cmm_b = caching_cmm(keyring_b, cache=shared, partition_id="tenant-pool")
    cmm_c = caching_cmm(keyring_c, cache=shared, partition_id="another-pool")
    a, b, c = encrypt_with(cmm_a), encrypt_with(cmm_b), encrypt_with(cmm_c)

    assert (keyring_a.encrypt_calls, keyring_b.encrypt_calls, keyring_c.encrypt_calls) == (1, 0, 1)
    assert edk_ciphertexts(a) == edk_ciphertexts(b) != edk_ciphertexts(c)
    assert len(shared) == 2


def test_encryption_entries_are_keyed_by_algorithm_suite() -> None:
    keyring = counting()
    cmm = caching_cmm(keyring)
    suites = [V2_UNSIGNED, V2_SIGNED, V1_UNSIGNED, V2_UNSIGNED, V2_SIGNED, V1_UNSIGNED]
    messages = [encrypt_with(cmm, suite=suite) for suite in suites]

    assert keyring.encrypt_calls == 3
    assert key_groups(messages) == [0, 1, 2, 0, 1, 2]
    for message, suite in zip(messages, suites, strict=True):
        assert decrypts_with_plain_keyring(message, PLAINTEXT, suite)


def test_encryption_entries_are_keyed_by_encryption_context_in_any_order() -> None:
    keyring = counting()
    cmm = caching_cmm(keyring)
    contexts = [{"a": "1"}, {"a": "2"}, {}, {"a": "1", "b": "2"}, {"b": "2", "a": "1"}, {"a": "1"}, {"a": "2"}]
    messages = [encrypt_with(cmm, context=context) for context in contexts]

    assert keyring.encrypt_calls == 4
    assert key_groups(messages) == [0, 1, 2, 3, 3, 0, 1]
    for message, context in zip(messages, contexts, strict=True):
        assert stored_context(message) == context


@pytest.mark.parametrize("suite", NO_KDF_SUITES, ids=suite_id)
def test_suites_without_a_kdf_are_never_cached_on_encrypt_or_decrypt(suite: AlgorithmSuite) -> None:
    keyring = counting()
    cmm = caching_cmm(keyring)
    policy = CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT
    messages = [
        busta.Client(commitment_policy=policy).encrypt(
            PLAINTEXT, materials_manager=cmm, encryption_context=CONTEXT, algorithm=suite
        )
        for _ in range(3)
    ]
    assert keyring.encrypt_calls == 3
    assert len(cmm.cache) == 0
    assert key_groups(messages) == [0, 1, 2]

    for _ in range(2):
        assert busta.Client(commitment_policy=policy).decrypt(messages[0], materials_manager=cmm).plaintext == PLAINTEXT
    assert keyring.decrypt_calls == 2
    assert len(cmm.cache) == 0


# -- decrypt caching ------------------------------------------------------------------------------


def test_decrypting_one_message_twice_unwraps_its_data_key_once() -> None:
    message = busta.encrypt(PLAINTEXT, keyring=aes_keyring(), encryption_context=CONTEXT, algorithm=V2_UNSIGNED)
    keyring = counting()
    cmm = caching_cmm(keyring)

    assert busta.decrypt(message, materials_manager=cmm).plaintext == PLAINTEXT
    assert busta.decrypt(message, materials_manager=cmm).plaintext == PLAINTEXT
    assert keyring.decrypt_calls == 1
    assert len(cmm.cache) == 1


def test_messages_with_different_encrypted_data_keys_get_different_decrypt_entries() -> None:
    plain = aes_keyring()
    first, second = (
        busta.encrypt(PLAINTEXT, keyring=plain, encryption_context=CONTEXT, algorithm=V2_UNSIGNED) for _ in range(2)
    )
    assert edk_ciphertexts(first) != edk_ciphertexts(second)
    keyring = counting()
    cmm = caching_cmm(keyring)

    for message in (first, second, first, second):
        assert busta.decrypt(message, materials_manager=cmm).plaintext == PLAINTEXT
    assert keyring.decrypt_calls == 2
    assert len(cmm.cache) == 2


def test_messages_that_share_a_cached_data_key_share_one_decrypt_entry() -> None:
    encrypting = caching_cmm(aes_keyring())
    messages = [encrypt_with(encrypting, b"m%d" % i) for i in range(5)]
    keyring = counting()
    cmm = caching_cmm(keyring)

    assert [busta.decrypt(m, materials_manager=cmm).plaintext for m in messages] == [b"m%d" % i for i in range(5)]
    assert keyring.decrypt_calls == 1


def test_an_underlying_failure_is_raised_and_not_cached() -> None:
    keyring = FailingOnceKeyring(aes_keyring())
    cmm = caching_cmm(keyring)
    with pytest.raises(KeyringError, match="the first call fails"):
        encrypt_with(cmm)
    assert len(cmm.cache) == 0

    first, second = encrypt_with(cmm), encrypt_with(cmm)
    assert keyring.encrypt_calls == 2
    assert key_groups([first, second]) == [0, 0]


# -- the LRU cache ---------------------------------------------------------------------------------


def test_the_lru_cache_evicts_the_least_recently_used_entry_beyond_its_capacity() -> None:
    keyring = counting()
    cmm = caching_cmm(keyring, cache=LruMaterialsCache(capacity=2))
    a, b, c = {"entry": "a"}, {"entry": "b"}, {"entry": "c"}
    for context in (a, b, a):  # a is now more recently used than b
        encrypt_with(cmm, context=context)
    assert keyring.encrypt_calls == 2

    encrypt_with(cmm, context=c)  # evicts b
    assert keyring.encrypt_calls == 3 and len(cmm.cache) == 2
    encrypt_with(cmm, context=a)
    assert keyring.encrypt_calls == 3  # a survived
    encrypt_with(cmm, context=b)
    assert keyring.encrypt_calls == 4  # b did not
    assert len(cmm.cache) == 2


@pytest.mark.parametrize("capacity", [0, -1, True, 1.5, "10"])
def test_an_lru_cache_needs_an_integer_capacity_of_at_least_one(capacity: Any) -> None:
    with pytest.raises(UsageError):
        LruMaterialsCache(capacity=capacity)


def _secret_forms(secret: bytes) -> list[str]:
    return [secret.hex(), secret.hex().upper(), base64.b64encode(secret).decode(), repr(secret)[2:-1]]


def test_reprs_of_the_cache_and_the_managers_show_no_key_bytes() -> None:
    cmm = caching_cmm(aes_keyring())
    request = EncryptionRequest(CONTEXT, CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT, V2_SIGNED, 16)
    data_key = cmm.get_encryption_materials(request).data_key
    assert data_key is not None
    required = RequiredEncryptionContextCmm(cmm, required_keys=["purpose"])
    texts = [repr(cmm.cache), str(cmm.cache), repr(cmm), str(cmm), repr(required), repr(data_key)]

    assert repr(cmm.cache) == "LruMaterialsCache(capacity=1000, entries=1)"
    for text in texts:
        for form in _secret_forms(WRAPPING_KEY) + _secret_forms(data_key.reveal()):
            assert form not in text


@pytest.mark.parametrize("copier", [pickle.dumps, copy.deepcopy, copy.copy], ids=lambda f: f.__name__)
def test_the_cache_and_the_caching_manager_refuse_pickling_and_copying(copier: Callable[[Any], Any]) -> None:
    cmm = caching_cmm(aes_keyring())
    encrypt_with(cmm)
    for holder in (cmm.cache, cmm):
        with pytest.raises(UsageError, match="cannot be pickled"):
            copier(holder)


# -- argument validation -----------------------------------------------------------------------------

BAD_CACHING_ARGUMENTS: dict[str, dict[str, Any]] = {
    "max_age-zero": {"max_age": 0},
    "max_age-negative": {"max_age": -1.0},
    "max_age-nan": {"max_age": float("nan")},
    "max_age-bool": {"max_age": True},
    "max_age-string": {"max_age": "60"},
    "max_messages-zero": {"max_messages": 0},
    "max_messages-negative": {"max_messages": -5},
    "max_messages-above-2^32": {"max_messages": 2**32 + 1},
    "max_messages-float": {"max_messages": 10.0},
    "max_messages-bool": {"max_messages": True},
    "max_bytes-zero": {"max_bytes": 0},
    "max_bytes-above-2^63-1": {"max_bytes": 2**63},
    "partition_id-not-a-string": {"partition_id": 5},
    "cache-not-a-cache": {"cache": "not a cache"},
}


@pytest.mark.parametrize("arguments", list(BAD_CACHING_ARGUMENTS.values()), ids=list(BAD_CACHING_ARGUMENTS))
def test_bad_caching_manager_arguments_are_usage_errors(arguments: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        CachingCryptoMaterialsManager(aes_keyring(), **{"max_age": MAX_AGE, **arguments})


@pytest.mark.parametrize("underlying", [object(), "keyring", None, 42], ids=["object", "string", "None", "int"])
def test_a_caching_manager_needs_a_keyring_or_a_materials_manager(underlying: Any) -> None:
    with pytest.raises(UsageError, match="keyring or a materials manager"):
        CachingCryptoMaterialsManager(underlying, max_age=MAX_AGE)


def test_the_caching_limits_at_their_largest_are_accepted() -> None:
    cmm = caching_cmm(aes_keyring(), max_messages=2**32, max_bytes=2**63 - 1)
    assert decrypts_with_plain_keyring(encrypt_with(cmm), PLAINTEXT)


def test_max_encrypted_data_keys_is_enforced_on_a_cache_hit_too() -> None:
    two_keys = MultiKeyring(generator=aes_keyring(), children=[aes_keyring("second", os.urandom(32))])
    cmm = caching_cmm(two_keys)
    encrypt_with(cmm)  # caches materials with two encrypted data keys

    with pytest.raises(LimitExceededError):
        busta.Client(max_encrypted_data_keys=1).encrypt(
            PLAINTEXT, materials_manager=cmm, encryption_context=CONTEXT, algorithm=V2_UNSIGNED
        )


# -- messages made through the cache are ordinary messages ------------------------------------------


def _footer_length(message: bytes) -> int:
    """Length of the signature footer (UInt16 length + DER ECDSA signature) of a signed message."""
    for length in range(64, 120):
        if int.from_bytes(message[-length - 2 : -length], "big") == length and message[-length] == 0x30:
            return length + 2
    raise AssertionError("no signature footer found")


@pytest.mark.parametrize("suite", [V2_UNSIGNED, V2_SIGNED, V1_UNSIGNED, V1_SIGNED], ids=suite_id)
def test_messages_encrypted_through_the_cache_decrypt_with_the_plain_keyring(suite: AlgorithmSuite) -> None:
    keyring = counting()
    cmm = caching_cmm(keyring)
    plaintexts = [b"message %d " % i * (i + 1) for i in range(6)]
    messages = [encrypt_with(cmm, p, suite=suite) for p in plaintexts]

    assert keyring.encrypt_calls == 1
    assert key_groups(messages) == [0] * 6
    for message, plaintext in zip(messages, plaintexts, strict=True):
        assert decrypts_with_plain_keyring(message, plaintext, suite)
    if suite.signed:  # one cached signing key, yet each message carries and verifies its own signature
        assert len({stored_context(m)["aws-crypto-public-key"] for m in messages}) == 1
        first, second = messages[0], messages[1]
        swapped = first[: -_footer_length(first)] + second[-_footer_length(second) :]
        with pytest.raises(AuthenticationError):
            decrypts_with_plain_keyring(swapped, plaintexts[0], suite)


# =========================================================================== 2. single flight


def test_concurrent_encryption_misses_on_one_entry_make_one_underlying_call() -> None:
    keyring = counting(delay=0.2)
    cmm = caching_cmm(keyring)
    began = time.monotonic()
    messages = run_threads(16, lambda i: encrypt_with(cmm, b"thread %d" % i))
    elapsed = time.monotonic() - began

    assert keyring.encrypt_calls == 1
    assert key_groups(messages) == [0] * 16
    assert elapsed < 16 * 0.2 / 2, "the threads waited for each other in turn"
    assert all(decrypts_with_plain_keyring(m, b"thread %d" % i) for i, m in enumerate(messages))


def test_concurrent_decryption_misses_on_one_entry_make_one_underlying_call() -> None:
    message = busta.encrypt(PLAINTEXT, keyring=aes_keyring(), encryption_context=CONTEXT, algorithm=V2_UNSIGNED)
    keyring = counting(delay=0.2)
    cmm = caching_cmm(keyring)
    plaintexts = run_threads(16, lambda i: busta.decrypt(message, materials_manager=cmm).plaintext)

    assert keyring.decrypt_calls == 1
    assert plaintexts == [PLAINTEXT] * 16


def test_16_threads_of_200_messages_with_max_messages_50_renew_keys_without_storms_or_overuse() -> None:
    threads, per_thread, limit = 16, 200, 50
    keyring = counting()
    cmm = caching_cmm(keyring, max_messages=limit)

    def work(index: int) -> list[tuple[bytes, bytes]]:
        out = []
        for n in range(per_thread):
            plaintext = b"thread %d message %d" % (index, n)
            out.append((plaintext, encrypt_with(cmm, plaintext)))
        return out

    results = [pair for batch in run_threads(threads, work) for pair in batch]
    total = threads * per_thread

    assert math.ceil(total / limit) <= keyring.encrypt_calls <= total / limit + threads
    uses = Counter(edk_ciphertexts(message) for _, message in results)
    assert max(uses.values()) <= limit, "a data key protected more than max_messages messages"
    assert len(uses) == keyring.encrypt_calls
    plain = aes_keyring()
    assert all(busta.decrypt(message, keyring=plain).plaintext == plaintext for plaintext, message in results)


# =========================================================================== 3. KMS: the proof


@dataclass
class KmsCallCounter:
    """Counts the calls a boto3 KMS client makes, per operation, via botocore's before-call hook."""

    client: Any
    counts: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.client.meta.events.register("before-call.kms", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.counts[str(model.name)] += 1


def test_10000_messages_through_a_caching_manager_make_10_generate_data_key_calls(
    moto_server: MotoServer, kms_keys: KmsKeys
) -> None:
    client = moto_server.client("kms", WEST)
    generate_calls: list[str] = []
    client.meta.events.register("before-call.kms.GenerateDataKey", lambda **_: generate_calls.append("call"))
    counter = KmsCallCounter(client)
    keyring = AwsKmsKeyring(kms_keys.single_arn, client=client)
    cmm = CachingCryptoMaterialsManager(keyring, max_age=600, max_messages=1000)
    context = {"purpose": "issue 6 proof"}

    messages = [
        busta.encrypt(b"msg %012d" % i, materials_manager=cmm, encryption_context=context, algorithm=V2_UNSIGNED)
        for i in range(10_000)
    ]

    assert len(generate_calls) == 10
    assert dict(counter.counts) == {"GenerateDataKey": 10}
    assert sorted(Counter(edk_ciphertexts(m) for m in messages).values()) == [1000] * 10
    plain = AwsKmsKeyring(kms_keys.single_arn, client=moto_server.client("kms", WEST))
    for i in [*range(0, 10_000, 997), 9_999]:
        assert busta.decrypt(messages[i], keyring=plain, encryption_context=context).plaintext == b"msg %012d" % i


# =========================================================================== 4. required encryption context

REQUIRED_CONTEXT = {"tenant": "acme", "purpose": "issue 6", "region": "eu"}
REQUIRED_KEYS = ["tenant", "region"]
REQUIRED_PAIRS = {"tenant": "acme", "region": "eu"}
STORED_PAIRS = {"purpose": "issue 6"}
BODY = bytes(range(256)) * 6  # several 512-byte frames
FRAME = 512


def required_cmm(keyring: Keyring | None = None) -> RequiredEncryptionContextCmm:
    return RequiredEncryptionContextCmm(keyring or aes_keyring(), required_keys=REQUIRED_KEYS)


def encrypt_required(keyring: Keyring | None = None, suite: AlgorithmSuite = V2_UNSIGNED) -> bytes:
    return busta.Client(commitment_policy=policy_for(suite)).encrypt(
        BODY,
        materials_manager=required_cmm(keyring),
        encryption_context=REQUIRED_CONTEXT,
        algorithm=suite,
        frame_length=FRAME,
    )


@pytest.mark.parametrize(
    "context",
    [{"purpose": "issue 6", "region": "eu"}, {"tenant": "acme"}, {}, None],
    ids=["lacks-tenant", "lacks-region", "empty", "none"],
)
def test_encryption_refuses_a_context_missing_a_required_key(context: dict[str, str] | None) -> None:
    keyring = counting()
    with pytest.raises(EncryptionContextError, match="required encryption context"):
        busta.encrypt(BODY, materials_manager=required_cmm(keyring), encryption_context=context)
    assert keyring.encrypt_calls == 0


@pytest.mark.parametrize("suite", [V2_UNSIGNED, V2_SIGNED, V1_UNSIGNED], ids=suite_id)
def test_required_pairs_are_authenticated_but_not_stored_in_the_header(suite: AlgorithmSuite) -> None:
    message = encrypt_required(suite=suite)
    policy = (
        CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        if suite.committing
        else CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
    )
    result = busta.Client(commitment_policy=policy).decrypt(
        message, keyring=aes_keyring(), encryption_context=REQUIRED_PAIRS
    )

    assert result.plaintext == BODY
    stored = {k: v for k, v in result.header.encryption_context.items() if k != "aws-crypto-public-key"}
    assert stored == STORED_PAIRS
    assert stored_context(message).keys() == result.header.encryption_context.keys()
    assert {k: result.encryption_context[k] for k in REQUIRED_CONTEXT} == REQUIRED_CONTEXT


WRONG_REPRODUCTIONS: dict[str, dict[str, str] | None] = {
    "none": None,
    "stored-pairs-only": STORED_PAIRS,
    "lacks-region": {"tenant": "acme"},
    "wrong-tenant": {"tenant": "evil", "region": "eu"},
    "wrong-region": {"tenant": "acme", "region": "us"},
}


@pytest.mark.parametrize("reproduced", list(WRONG_REPRODUCTIONS.values()), ids=list(WRONG_REPRODUCTIONS))
def test_the_keyring_refuses_a_message_without_its_exact_required_pairs(reproduced: dict[str, str] | None) -> None:
    message = encrypt_required()
    with pytest.raises(NoDecryptingKeyError):  # the raw AES keyring binds the whole context to the data key
        busta.decrypt(message, keyring=aes_keyring(), encryption_context=reproduced)


@pytest.mark.parametrize("reproduced", list(WRONG_REPRODUCTIONS.values()), ids=list(WRONG_REPRODUCTIONS))
def test_the_header_authenticates_the_required_pairs_even_with_a_context_blind_keyring(
    reproduced: dict[str, str] | None,
) -> None:
    blind = ContextBlindKeyring(WRAPPING_KEY)
    message = encrypt_required(blind)
    assert busta.decrypt(message, keyring=blind, encryption_context=REQUIRED_PAIRS).plaintext == BODY
    with pytest.raises(AuthenticationError):
        busta.decrypt(message, keyring=blind, encryption_context=reproduced)


@pytest.mark.parametrize(
    "reproduced",
    [None, STORED_PAIRS, {"tenant": "acme"}, {"region": "eu"}],
    ids=["none", "stored", "lacks-region", "lacks-tenant"],
)
def test_the_required_manager_refuses_a_reproduced_context_missing_a_required_key(
    reproduced: dict[str, str] | None,
) -> None:
    message = encrypt_required()
    keyring = counting()
    with pytest.raises(EncryptionContextError, match="required encryption context"):
        busta.decrypt(message, materials_manager=required_cmm(keyring), encryption_context=reproduced)
    assert keyring.decrypt_calls == 0


def test_the_required_manager_decrypts_with_the_required_pairs_and_refuses_wrong_values() -> None:
    message = encrypt_required()
    assert busta.decrypt(message, materials_manager=required_cmm(), encryption_context=REQUIRED_PAIRS).plaintext == BODY
    assert (
        busta.decrypt(message, materials_manager=required_cmm(), encryption_context=REQUIRED_CONTEXT).plaintext == BODY
    )
    with pytest.raises(NoDecryptingKeyError):
        busta.decrypt(message, materials_manager=required_cmm(), encryption_context={**REQUIRED_PAIRS, "tenant": "x"})
    with pytest.raises(EncryptionContextError):  # a reproduced stored pair must match the header
        busta.decrypt(
            message, materials_manager=required_cmm(), encryption_context={**REQUIRED_PAIRS, "purpose": "other"}
        )


AES_SPEC = AesKeySpec(NAMESPACE, KEY_NAME, WRAPPING_KEY)
INTEROP_SUITES = [V2_UNSIGNED, V2_SIGNED, V1_UNSIGNED]


def _official_policy(suite: AlgorithmSuite, encrypting: bool) -> str:
    if suite.committing:
        return "REQUIRE_ENCRYPT_REQUIRE_DECRYPT"
    return "FORBID_ENCRYPT_ALLOW_DECRYPT" if encrypting else "REQUIRE_ENCRYPT_ALLOW_DECRYPT"


@pytest.mark.parametrize("suite", INTEROP_SUITES, ids=suite_id)
def test_a_message_from_the_official_required_context_manager_decrypts_with_the_required_pairs(
    suite: AlgorithmSuite,
) -> None:
    message = official_encrypt_required_ec(
        BODY,
        keys=[AES_SPEC],
        suite_id=suite.id,
        frame_length=FRAME,
        encryption_context=REQUIRED_CONTEXT,
        required_keys=REQUIRED_KEYS,
        commitment_policy=_official_policy(suite, encrypting=True),
    )
    policy = (
        CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        if suite.committing
        else CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
    )

    for manager in (DefaultCryptoMaterialsManager(aes_keyring()), required_cmm()):
        result = busta.Client(commitment_policy=policy).decrypt(
            message, materials_manager=manager, encryption_context=REQUIRED_PAIRS
        )
        assert result.plaintext == BODY
        assert result.header.suite is suite
        assert not set(REQUIRED_KEYS) & set(result.header.encryption_context)
    with pytest.raises(NoDecryptingKeyError):
        busta.Client(commitment_policy=policy).decrypt(message, keyring=aes_keyring(), encryption_context=STORED_PAIRS)


@pytest.mark.parametrize("suite", INTEROP_SUITES, ids=suite_id)
def test_a_message_from_the_required_manager_decrypts_with_the_official_required_context_manager(
    suite: AlgorithmSuite,
) -> None:
    message = encrypt_required(suite=suite)
    plaintext, stored = official_decrypt_required_ec(
        message,
        keys=[AES_SPEC],
        encryption_context=REQUIRED_PAIRS,
        required_keys=REQUIRED_KEYS,
        commitment_policy=_official_policy(suite, encrypting=False),
    )

    assert plaintext == BODY
    assert {k: v for k, v in stored.items() if k != "aws-crypto-public-key"} == STORED_PAIRS


def test_the_required_manager_composes_with_caching() -> None:
    keyring = counting()
    cmm = caching_cmm(RequiredEncryptionContextCmm(keyring, required_keys=REQUIRED_KEYS))
    messages = [
        busta.encrypt(b"m%d" % i, materials_manager=cmm, encryption_context=REQUIRED_CONTEXT, algorithm=V2_SIGNED)
        for i in range(4)
    ]
    assert keyring.encrypt_calls == 1
    assert key_groups(messages) == [0] * 4
    for i, message in enumerate(messages):
        assert not set(REQUIRED_KEYS) & set(stored_context(message))
        assert busta.decrypt(message, keyring=aes_keyring(), encryption_context=REQUIRED_PAIRS).plaintext == b"m%d" % i
        assert busta.decrypt(message, materials_manager=cmm, encryption_context=REQUIRED_PAIRS).plaintext == b"m%d" % i
    assert keyring.decrypt_calls == 1  # one decrypt entry serves the four messages

    with pytest.raises(EncryptionContextError):
        busta.encrypt(b"m", materials_manager=cmm, encryption_context=STORED_PAIRS)
    with pytest.raises(EncryptionContextError):
        busta.decrypt(messages[0], materials_manager=cmm, encryption_context={"tenant": "acme"})


BAD_REQUIRED_KEYS: dict[str, Any] = {
    "empty": [],
    "one-string-not-a-list": "tenant",
    "empty-key": [""],
    "not-a-string": [5],
    "reserved-prefix": ["aws-crypto-public-key"],
}


@pytest.mark.parametrize("required_keys", list(BAD_REQUIRED_KEYS.values()), ids=list(BAD_REQUIRED_KEYS))
def test_bad_required_keys_are_usage_errors(required_keys: Any) -> None:
    with pytest.raises(UsageError):
        RequiredEncryptionContextCmm(aes_keyring(), required_keys=required_keys)


def test_the_required_manager_needs_a_keyring_or_a_materials_manager() -> None:
    with pytest.raises(UsageError):
        RequiredEncryptionContextCmm(object(), required_keys=["tenant"])  # type: ignore[arg-type]


# =========================================================================== 5. thread safety

STRESS_THREADS = 16
STRESS_SECONDS = 1.5
STRESS_ROUND_TRIPS = 40


@dataclass
class Subject:
    """A keyring or CMM under stress: how to encrypt and decrypt with it, and extra checks."""

    encrypt: dict[str, Any]
    decrypt: dict[str, Any]
    suite: AlgorithmSuite = V2_UNSIGNED
    shared_contexts: int = 0  # >0: contexts cycle through this many values (so cache entries are shared)
    required: Mapping[str, str] = field(default_factory=dict)  # pairs added to each context, not stored
    cross_check: Callable[[bytes, bytes, dict[str, str]], None] | None = None
    after: Callable[[list[tuple[bytes, bytes]]], None] | None = None


def _raw_aes_cross_check(message: bytes, plaintext: bytes, context: dict[str, str]) -> None:
    assert busta.decrypt(message, keyring=aes_keyring(), encryption_context=context).plaintext == plaintext


def _caching_subject() -> Subject:
    keyring = counting()
    cmm = caching_cmm(keyring, max_messages=7)

    def after(results: list[tuple[bytes, bytes]]) -> None:
        uses = Counter(edk_ciphertexts(message) for _, message in results)
        assert max(uses.values()) <= 7, "a data key protected more than max_messages messages"
        assert keyring.encrypt_calls >= len(results) / 7

    return Subject({"materials_manager": cmm}, {"materials_manager": cmm}, shared_contexts=2, after=after)


def _required_subject() -> Subject:
    cmm = RequiredEncryptionContextCmm(aes_keyring(), required_keys=["tenant"])

    def check(message: bytes, plaintext: bytes, context: dict[str, str]) -> None:
        assert "tenant" not in stored_context(message)
        _raw_aes_cross_check(message, plaintext, context)

    return Subject(
        {"materials_manager": cmm}, {"materials_manager": cmm}, required={"tenant": "acme"}, cross_check=check
    )


def _make_subject(name: str, request: pytest.FixtureRequest) -> Subject:
    if name == "RawAesKeyring":
        return Subject({"keyring": aes_keyring()}, {"keyring": aes_keyring()})
    if name == "RawRsaKeyring":
        private_key: rsa.RSAPrivateKey = request.getfixturevalue("rsa_private_key")
        keyring = RawRsaKeyring(NAMESPACE, "rsa-key", private_key=private_key)
        return Subject({"keyring": keyring}, {"keyring": keyring})
    if name == "MultiKeyring":
        private_key = request.getfixturevalue("rsa_private_key")
        rsa_keyring = RawRsaKeyring(NAMESPACE, "rsa-key", private_key=private_key)
        multi = MultiKeyring(generator=aes_keyring(), children=[rsa_keyring])

        def check(message: bytes, plaintext: bytes, context: dict[str, str]) -> None:
            _raw_aes_cross_check(message, plaintext, context)
            assert busta.decrypt(message, keyring=rsa_keyring).plaintext == plaintext

        return Subject({"keyring": multi}, {"keyring": multi}, cross_check=check)
    if name == "DefaultCryptoMaterialsManager":
        cmm = DefaultCryptoMaterialsManager(aes_keyring())
        return Subject({"materials_manager": cmm}, {"materials_manager": cmm}, suite=V2_SIGNED)
    if name == "CachingCryptoMaterialsManager":
        return _caching_subject()
    if name == "RequiredEncryptionContextCmm":
        return _required_subject()
    if name in ("AwsKmsKeyring", "AwsKmsDiscoveryKeyring"):
        server: MotoServer = request.getfixturevalue("moto_server")
        keys: KmsKeys = request.getfixturevalue("kms_keys")
        client = server.client("kms", WEST)
        strict = AwsKmsKeyring(keys.single_arn, client=client)
        if name == "AwsKmsKeyring":
            return Subject({"keyring": strict}, {"keyring": strict})
        discovery = AwsKmsDiscoveryKeyring(
            client=client, discovery_filter=DiscoveryFilter(keys.partition, (keys.account_id,))
        )
        return Subject({"keyring": strict}, {"keyring": discovery})
    if name == "Pkcs11Keyring":
        token = new_token()
        import_aes_key(token, "issue-6-aes", WRAPPING_KEY)
        hsm = keyring_for(token, "issue-6-aes", namespace=NAMESPACE, name=KEY_NAME)
        return Subject({"keyring": hsm}, {"keyring": hsm}, cross_check=_raw_aes_cross_check)
    raise AssertionError(name)


STRESS_SUBJECTS = [
    "RawAesKeyring",
    "RawRsaKeyring",
    "MultiKeyring",
    "DefaultCryptoMaterialsManager",
    "CachingCryptoMaterialsManager",
    "RequiredEncryptionContextCmm",
    "AwsKmsKeyring",
    "AwsKmsDiscoveryKeyring",
    "Pkcs11Keyring",
]


@pytest.mark.parametrize("name", STRESS_SUBJECTS)
def test_one_keyring_or_manager_shared_by_16_threads_round_trips_every_message(
    name: str, request: pytest.FixtureRequest
) -> None:
    subject = _make_subject(name, request)
    deadline = time.monotonic() + STRESS_SECONDS

    def round_trips(index: int) -> list[tuple[bytes, bytes]]:
        done: list[tuple[bytes, bytes]] = []
        while len(done) < STRESS_ROUND_TRIPS and time.monotonic() < deadline:
            n = len(done)
            plaintext = b"%s thread %d message %d " % (name.encode(), index, n) + os.urandom(n % 50)
            if subject.shared_contexts:
                context = {"shard": str(n % subject.shared_contexts)}
            else:
                context = {"thread": str(index), "message": str(n)}
            context.update(subject.required)
            message = busta.encrypt(plaintext, encryption_context=context, algorithm=subject.suite, **subject.encrypt)
            result = busta.decrypt(message, encryption_context=context, **subject.decrypt)
            assert result.plaintext == plaintext
            assert {k: result.encryption_context[k] for k in context} == context
            if subject.cross_check is not None:
                subject.cross_check(message, plaintext, context)
            done.append((plaintext, message))
        return done

    per_thread = run_threads(STRESS_THREADS, round_trips)

    assert all(len(done) >= 1 for done in per_thread), "a thread made no round trip in time"
    results = [pair for done in per_thread for pair in done]
    assert len({message for _, message in results}) == len(results)
    if subject.after is not None:
        subject.after(results)
