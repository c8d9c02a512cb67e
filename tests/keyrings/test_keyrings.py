"""Raw AES, raw RSA and multi-keyrings: layouts, failures, and what they refuse."""

from __future__ import annotations

import os
import struct
import threading
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

import busta
from busta import AlgorithmSuite, EncryptionMaterials
from busta.errors import KeyringError, NoDecryptingKeyError, UsageError
from busta.keyrings import MultiKeyring, RawAesKeyring, RawRsaKeyring, RsaPadding

UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY


def test_raw_aes_data_keys_use_the_esdk_layout(aes_keyring: RawAesKeyring) -> None:
    message = busta.encrypt(b"x", keyring=aes_keyring, algorithm=UNSIGNED)
    (edk,) = busta.decrypt(message, keyring=aes_keyring).header.encrypted_data_keys
    assert edk.provider_id == "test-namespace"
    name = b"test-key"
    assert edk.provider_info[: len(name)] == name
    assert struct.unpack(">II", edk.provider_info[len(name) : len(name) + 8]) == (128, 12)
    assert len(edk.provider_info) == len(name) + 8 + 12
    assert len(edk.ciphertext) == 32 + 16


@pytest.mark.parametrize("size", [16, 24, 32])
def test_raw_aes_accepts_128_192_and_256_bit_wrapping_keys(size: int) -> None:
    keyring = RawAesKeyring("ns", "k", os.urandom(size))
    assert busta.decrypt(busta.encrypt(b"data", keyring=keyring), keyring=keyring).plaintext == b"data"


@pytest.mark.parametrize("size", [0, 15, 31, 33])
def test_raw_aes_refuses_other_key_sizes(size: int) -> None:
    with pytest.raises(UsageError):
        RawAesKeyring("ns", "k", os.urandom(size))


@pytest.mark.parametrize(("namespace", "name"), [("", "k"), ("ns", ""), ("aws-kms", "k")])
def test_raw_keyrings_refuse_empty_or_reserved_names(namespace: str, name: str) -> None:
    with pytest.raises(UsageError):
        RawAesKeyring(namespace, name, os.urandom(32))


def test_the_raw_aes_data_key_is_bound_to_the_encryption_context(aes_keyring: RawAesKeyring) -> None:
    materials = aes_keyring.on_encrypt(EncryptionMaterials(suite=UNSIGNED, encryption_context={"a": "1"}))
    other = busta.DecryptionMaterials(suite=UNSIGNED, encryption_context={"a": "2"})
    with pytest.raises(NoDecryptingKeyError, match="did not authenticate"):
        aes_keyring.on_decrypt(other, materials.encrypted_data_keys)


def test_a_same_named_keyring_with_another_key_cannot_decrypt(aes_keyring: RawAesKeyring) -> None:
    message = busta.encrypt(b"x", keyring=aes_keyring)
    impostor = RawAesKeyring(aes_keyring.namespace, aes_keyring.name, os.urandom(32))
    with pytest.raises(NoDecryptingKeyError):
        busta.decrypt(message, keyring=impostor)


@pytest.mark.parametrize("padding", list(RsaPadding), ids=lambda p: p.name)
def test_raw_rsa_round_trips_with_every_padding(rsa_private_key: rsa.RSAPrivateKey, padding: RsaPadding) -> None:
    keyring = RawRsaKeyring("ns", "rsa", private_key=rsa_private_key, padding=padding)
    message = busta.encrypt(b"data", keyring=keyring)
    (edk,) = busta.decrypt(message, keyring=keyring).header.encrypted_data_keys
    assert (edk.provider_id, edk.provider_info, len(edk.ciphertext)) == ("ns", b"rsa", 256)
    assert busta.decrypt(message, keyring=keyring).plaintext == b"data"


def test_a_public_key_alone_encrypts_but_cannot_decrypt(rsa_private_key: rsa.RSAPrivateKey) -> None:
    public_only = RawRsaKeyring("ns", "rsa", public_key=rsa_private_key.public_key())
    message = busta.encrypt(b"data", keyring=public_only)
    with pytest.raises(NoDecryptingKeyError, match="no private key"):
        busta.decrypt(message, keyring=public_only)
    private = RawRsaKeyring("ns", "rsa", private_key=rsa_private_key)
    assert busta.decrypt(message, keyring=private).plaintext == b"data"


def test_rsa_padding_must_match(rsa_private_key: rsa.RSAPrivateKey) -> None:
    message = busta.encrypt(b"d", keyring=RawRsaKeyring("ns", "rsa", private_key=rsa_private_key))
    wrong = RawRsaKeyring("ns", "rsa", private_key=rsa_private_key, padding=RsaPadding.OAEP_SHA1)
    with pytest.raises(NoDecryptingKeyError):
        busta.decrypt(message, keyring=wrong)


def test_raw_rsa_refuses_missing_or_wrong_keys() -> None:
    with pytest.raises(UsageError):
        RawRsaKeyring("ns", "rsa")
    with pytest.raises(UsageError):
        RawRsaKeyring("ns", "rsa", private_key=b"not a key")  # type: ignore[arg-type]


def test_multi_keyring_wraps_once_per_keyring_and_each_decrypts(
    aes_keyring: RawAesKeyring, rsa_private_key: rsa.RSAPrivateKey
) -> None:
    rsa_keyring = RawRsaKeyring("ns", "rsa", private_key=rsa_private_key)
    second_aes = RawAesKeyring("ns", "aes-2", os.urandom(16))
    multi = MultiKeyring(generator=aes_keyring, children=[rsa_keyring, second_aes])
    message = busta.encrypt(b"data", keyring=multi)
    header = busta.decrypt(message, keyring=multi).header
    assert [e.provider_id for e in header.encrypted_data_keys] == ["test-namespace", "ns", "ns"]
    for keyring in (aes_keyring, rsa_keyring, second_aes):
        assert busta.decrypt(message, keyring=keyring).plaintext == b"data"


def test_multi_keyring_without_generator_cannot_encrypt(aes_keyring: RawAesKeyring) -> None:
    with pytest.raises(KeyringError, match="without a generator"):
        busta.encrypt(b"x", keyring=MultiKeyring(children=[aes_keyring]))


def test_multi_keyring_collects_every_failure(aes_keyring: RawAesKeyring) -> None:
    message = busta.encrypt(b"x", keyring=aes_keyring)
    strangers = [RawAesKeyring("ns", f"stranger-{i}", os.urandom(32)) for i in range(3)]
    with pytest.raises(NoDecryptingKeyError) as info:
        busta.decrypt(message, keyring=MultiKeyring(strangers[0], strangers[1:]))
    assert [f"stranger-{i}" in r for i, r in enumerate(info.value.reasons)] == [True, True, True]


def test_multi_keyring_needs_keyrings() -> None:
    with pytest.raises(UsageError):
        MultiKeyring()
    with pytest.raises(UsageError):
        MultiKeyring(children=[object()])  # type: ignore[list-item]


def test_multi_keyring_skips_a_failing_keyring_and_uses_the_next(aes_keyring: RawAesKeyring) -> None:
    message = busta.encrypt(b"x", keyring=aes_keyring)
    stranger = RawAesKeyring("ns", "stranger", os.urandom(32))
    assert busta.decrypt(message, keyring=MultiKeyring(stranger, [aes_keyring])).plaintext == b"x"


class _SlowIoKeyring(RawAesKeyring):
    """A raw AES keyring that says it performs I/O, so multi-keyrings call it concurrently."""

    performs_io = True


def test_nested_multi_keyrings_of_io_keyrings_do_not_deadlock_under_load(aes_key: bytes) -> None:
    def io_keyring(name: str) -> _SlowIoKeyring:
        return _SlowIoKeyring("ns", name, aes_key)

    inner = MultiKeyring(children=[io_keyring("a"), io_keyring("b")])
    outer = MultiKeyring(generator=RawAesKeyring("ns", "gen", aes_key), children=[io_keyring("c"), inner])
    done: list[bytes] = []

    def work() -> None:
        message = busta.encrypt(b"x", keyring=outer, algorithm=UNSIGNED)
        done.append(busta.decrypt(message, keyring=MultiKeyring(children=[io_keyring("b"), inner])).plaintext)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(64)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert done == [b"x"] * 64


def test_a_multi_keyring_of_io_keyrings_called_at_once_collects_every_failure_or_uses_the_one_that_unwraps(
    aes_key: bytes,
) -> None:
    message = busta.encrypt(b"x", keyring=_SlowIoKeyring("ns", "right", aes_key))
    strangers = [_SlowIoKeyring("ns", f"stranger-{i}", os.urandom(32)) for i in range(3)]
    with pytest.raises(NoDecryptingKeyError) as info:
        busta.decrypt(message, keyring=MultiKeyring(children=strangers))
    # called concurrently: the reasons come in the order the keyrings finished
    assert sorted(
        next(n for n in ("stranger-0", "stranger-1", "stranger-2") if n in r) for r in info.value.reasons
    ) == [
        "stranger-0",
        "stranger-1",
        "stranger-2",
    ]
    right = _SlowIoKeyring("ns", "right", aes_key)
    assert busta.decrypt(message, keyring=MultiKeyring(children=[*strangers, right])).plaintext == b"x"
