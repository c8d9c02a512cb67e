"""The PKCS#11 keyring on SoftHSM (issue 5): interop with the raw keyrings and the official SDK,
key management, errors, secret hygiene, thread safety and lazy loading.

Every test makes its own token (unique label) and imports or generates its keys on it.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import pickle
import struct
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pkcs11 import Attribute, KeyType, ObjectClass

import busta
from busta import AlgorithmSuite, CommitmentPolicy, DecryptionMaterials, EncryptedDataKey, EncryptionMaterials
from busta._secrets import SecretBytes
from busta.errors import (
    BustaError,
    KeyringError,
    NoDecryptingKeyError,
    Pkcs11Error,
    UsageError,
)
from busta.keyrings import MultiKeyring, RawAesKeyring, RawRsaKeyring, RsaPadding
from busta.keyrings._pkcs11_token import call, generation, loaded_modules
from busta.keyrings.pkcs11 import DEFAULT_PIN_ENV, Pkcs11Keyring
from busta.keyrings.pkcs11_admin import (
    KeyInfo,
    SoftHsmToken,
    create_softhsm_token,
    generate_aes_key,
    list_keys,
    softhsm_module,
)
from tests.support.hsm import (
    OtherKeyKind,
    destroy_keys,
    generate_other_key,
    import_aes_key,
    import_rsa_key_pair,
    key_attributes,
    keyring_for,
    new_token,
    new_tokens,
    objects_labelled,
)
from tests.support.oracle import AesKeySpec, RsaKeySpec, official_decrypt, official_encrypt
from tests.support.threads import run_threads

NAMESPACE = "hsm-namespace"
AES_NAME = "hsm-key"
RSA_NAME = "hsm-rsa-key"
AES_LABEL = "issue-5-aes"
RSA_LABEL = "issue-5-rsa"
#: The AES-256 wrapping key imported into the token; the raw keyrings hold the same bytes.
KNOWN_AES_KEY = bytes.fromhex("6a1f8c3e5b2d7049e1c4a8f03b6d9e2750c8a1f4e7b3d6092c5f8a1e4b7d0c3f")
CONTEXT = {"purpose": "issue 5", "tenant": "acme"}
PLAINTEXT = bytes(range(256)) * 20  # 5120 bytes: several frames of 1024
FRAME = 1024
PIN_TEXT = "Pin-5ecret-77q"
WRONG_PIN_TEXT = "Wr0ng-pin-4711"

COMMITTING_UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
AES_SUITES = [
    AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,  # 0x0478
    AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,  # 0x0578
    AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA256,  # 0x0178, a v1 (non-committing) suite
]
TOKEN_DECRYPTABLE_PADDINGS = [RsaPadding.OAEP_SHA1, RsaPadding.PKCS1]
SHA2_OAEP_PADDINGS = [RsaPadding.OAEP_SHA256, RsaPadding.OAEP_SHA384, RsaPadding.OAEP_SHA512]


def suite_id(suite: AlgorithmSuite) -> str:
    return f"0x{suite.id:04x}"


def policy_for(suite: AlgorithmSuite) -> CommitmentPolicy:
    """The commitment policy that lets ``suite`` encrypt and decrypt."""
    if suite.committing:
        return CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    return CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT


def secret_forms(pin: str) -> list[str]:
    """The ways a PIN could leak into text: raw, hex, base64."""
    raw = pin.encode()
    return [
        pin,
        raw.hex(),
        raw.hex().upper(),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ]


def assert_no_secret(text: str, *pins: str) -> None:
    for pin in pins:
        for form in secret_forms(pin):
            assert form not in text, f"the PIN (as {form!r}) leaked into: {text!r}"


def error_text(exc: BaseException) -> str:
    """Everything an error shows: str, repr, the whole formatted chain and any nested errors."""
    parts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    parts += [repr(nested) for nested in getattr(exc, "errors", ())]
    return "\n".join(parts)


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def aes_token() -> SoftHsmToken:
    """A fresh token holding KNOWN_AES_KEY under AES_LABEL."""
    token = new_token()
    import_aes_key(token, AES_LABEL, KNOWN_AES_KEY)
    return token


@pytest.fixture
def hsm_aes_keyring(aes_token: SoftHsmToken) -> Pkcs11Keyring:
    return keyring_for(aes_token, AES_LABEL, namespace=NAMESPACE, name=AES_NAME)


@pytest.fixture
def raw_aes_keyring() -> RawAesKeyring:
    return RawAesKeyring(NAMESPACE, AES_NAME, KNOWN_AES_KEY)


@pytest.fixture
def rsa_token(rsa_private_key: rsa.RSAPrivateKey) -> SoftHsmToken:
    """A fresh token holding the known RSA-2048 key pair under RSA_LABEL."""
    token = new_token()
    import_rsa_key_pair(token, RSA_LABEL, rsa_private_key)
    return token


def hsm_rsa_keyring(token: SoftHsmToken, padding: RsaPadding) -> Pkcs11Keyring:
    # PKCS#1 v1.5 on a token is opt-in (issue 14, item 4): these tests read and write such messages on purpose.
    allow = padding is RsaPadding.PKCS1
    return keyring_for(
        token, RSA_LABEL, namespace=NAMESPACE, name=RSA_NAME, padding=padding, allow_pkcs1v15_unwrap=allow
    )


def rsa_spec(private_key: rsa.RSAPrivateKey, padding: RsaPadding) -> RsaKeySpec:
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return RsaKeySpec(NAMESPACE, RSA_NAME, pem, padding.name)


AES_SPEC = AesKeySpec(NAMESPACE, AES_NAME, KNOWN_AES_KEY)


# -- 1. AES on the token -------------------------------------------------------------------------


@pytest.mark.parametrize("suite", AES_SUITES, ids=suite_id)
def test_a_message_wrapped_on_the_token_decrypts_with_the_raw_aes_keyring_of_the_same_key(
    suite: AlgorithmSuite, hsm_aes_keyring: Pkcs11Keyring, raw_aes_keyring: RawAesKeyring
) -> None:
    policy = policy_for(suite)
    message = busta.Client(commitment_policy=policy).encrypt(
        PLAINTEXT, keyring=hsm_aes_keyring, algorithm=suite, frame_length=FRAME, encryption_context=CONTEXT
    )
    result = busta.Client(commitment_policy=policy).decrypt(message, keyring=raw_aes_keyring)
    assert result.plaintext == PLAINTEXT
    assert result.header.suite is suite
    assert CONTEXT.items() <= result.encryption_context.items()


@pytest.mark.parametrize("suite", AES_SUITES, ids=suite_id)
def test_a_message_wrapped_on_the_token_decrypts_with_the_official_sdk_raw_aes_keyring(
    suite: AlgorithmSuite, hsm_aes_keyring: Pkcs11Keyring
) -> None:
    policy = policy_for(suite)
    message = busta.Client(commitment_policy=policy).encrypt(
        PLAINTEXT, keyring=hsm_aes_keyring, algorithm=suite, frame_length=FRAME, encryption_context=CONTEXT
    )
    plaintext, stored_context = official_decrypt(message, keys=[AES_SPEC], commitment_policy=policy.name)
    assert plaintext == PLAINTEXT
    assert CONTEXT.items() <= stored_context.items()


@pytest.mark.parametrize("suite", AES_SUITES, ids=suite_id)
def test_a_message_from_the_raw_aes_keyring_unwraps_on_the_token(
    suite: AlgorithmSuite, hsm_aes_keyring: Pkcs11Keyring, raw_aes_keyring: RawAesKeyring
) -> None:
    policy = policy_for(suite)
    message = busta.Client(commitment_policy=policy).encrypt(
        PLAINTEXT, keyring=raw_aes_keyring, algorithm=suite, frame_length=FRAME, encryption_context=CONTEXT
    )
    assert busta.Client(commitment_policy=policy).decrypt(message, keyring=hsm_aes_keyring).plaintext == PLAINTEXT


@pytest.mark.parametrize("suite", AES_SUITES, ids=suite_id)
def test_a_message_from_the_official_sdk_raw_aes_keyring_unwraps_on_the_token(
    suite: AlgorithmSuite, hsm_aes_keyring: Pkcs11Keyring
) -> None:
    policy = policy_for(suite)
    message = official_encrypt(
        PLAINTEXT,
        keys=[AES_SPEC],
        suite_id=suite.id,
        frame_length=FRAME,
        encryption_context=CONTEXT,
        commitment_policy=policy.name,
    )
    result = busta.Client(commitment_policy=policy).decrypt(message, keyring=hsm_aes_keyring)
    assert result.plaintext == PLAINTEXT
    assert result.header.suite is suite


def edks_of(message: bytes, keyring: RawAesKeyring, policy: CommitmentPolicy) -> tuple[EncryptedDataKey, ...]:
    return busta.Client(commitment_policy=policy).decrypt(message, keyring=keyring).header.encrypted_data_keys


@pytest.mark.parametrize("suite", AES_SUITES, ids=suite_id)
def test_the_token_wraps_data_keys_in_the_raw_aes_layout(
    suite: AlgorithmSuite, hsm_aes_keyring: Pkcs11Keyring, raw_aes_keyring: RawAesKeyring
) -> None:
    policy = policy_for(suite)
    client = busta.Client(commitment_policy=policy)
    from_token = client.encrypt(b"layout", keyring=hsm_aes_keyring, algorithm=suite, encryption_context=CONTEXT)
    from_raw = client.encrypt(b"layout", keyring=raw_aes_keyring, algorithm=suite, encryption_context=CONTEXT)
    (token_edk,) = edks_of(from_token, raw_aes_keyring, policy)
    (raw_edk,) = edks_of(from_raw, raw_aes_keyring, policy)

    name = AES_NAME.encode()
    prefix = name + struct.pack(">II", 128, 12)
    assert token_edk.provider_id == NAMESPACE
    assert token_edk.provider_info.startswith(prefix)
    assert len(token_edk.provider_info) == len(prefix) + 12  # name | 128 | 12 | IV
    assert len(token_edk.ciphertext) == 32 + 16  # AES-256 data key | tag
    assert (raw_edk.provider_id, raw_edk.provider_info[: len(prefix)]) == (token_edk.provider_id, prefix)
    assert (len(raw_edk.provider_info), len(raw_edk.ciphertext)) == (
        len(token_edk.provider_info),
        len(token_edk.ciphertext),
    )


def test_the_token_binds_the_data_key_to_the_encryption_context(hsm_aes_keyring: Pkcs11Keyring) -> None:
    wrapped = hsm_aes_keyring.on_encrypt(EncryptionMaterials(suite=COMMITTING_UNSIGNED, encryption_context={"a": "1"}))
    assert wrapped.data_key is not None

    same = DecryptionMaterials(suite=COMMITTING_UNSIGNED, encryption_context={"a": "1"})
    unwrapped = hsm_aes_keyring.on_decrypt(same, wrapped.encrypted_data_keys)
    assert unwrapped.data_key == wrapped.data_key

    other = DecryptionMaterials(suite=COMMITTING_UNSIGNED, encryption_context={"a": "2"})
    with pytest.raises(NoDecryptingKeyError, match="did not authenticate") as refused:
        hsm_aes_keyring.on_decrypt(other, wrapped.encrypted_data_keys)
    (error,) = refused.value.errors
    assert error.__cause__ is None  # the token refused the tag; its error code is not passed on (issue 14)


def test_a_message_with_another_encryption_context_is_refused_by_the_token(
    hsm_aes_keyring: Pkcs11Keyring, raw_aes_keyring: RawAesKeyring
) -> None:
    # A message whose stored context was swapped cannot be unwrapped: the wrap's AAD no longer matches.
    wrapped = raw_aes_keyring.on_encrypt(EncryptionMaterials(suite=COMMITTING_UNSIGNED, encryption_context=CONTEXT))
    swapped = DecryptionMaterials(suite=COMMITTING_UNSIGNED, encryption_context={**CONTEXT, "tenant": "evil"})
    with pytest.raises(NoDecryptingKeyError, match="did not authenticate"):
        hsm_aes_keyring.on_decrypt(swapped, wrapped.encrypted_data_keys)


def test_every_wrap_on_the_token_uses_a_fresh_random_iv(hsm_aes_keyring: Pkcs11Keyring) -> None:
    materials = EncryptionMaterials(suite=COMMITTING_UNSIGNED, encryption_context=CONTEXT)
    once = hsm_aes_keyring.on_encrypt(materials)
    twice = hsm_aes_keyring.on_encrypt(once)  # the same data key wrapped a second time
    first, second = twice.encrypted_data_keys
    assert first.provider_info[-12:] != second.provider_info[-12:]
    assert first.ciphertext != second.ciphertext
    request = DecryptionMaterials(suite=COMMITTING_UNSIGNED, encryption_context=CONTEXT)
    for edk in (first, second):
        assert hsm_aes_keyring.on_decrypt(request, [edk]).data_key == once.data_key


# -- 2. RSA on the token -------------------------------------------------------------------------


@pytest.mark.parametrize("padding", TOKEN_DECRYPTABLE_PADDINGS, ids=lambda p: p.name)
def test_an_rsa_wrap_by_the_token_keyring_decrypts_with_the_raw_rsa_keyring(
    padding: RsaPadding, rsa_token: SoftHsmToken, rsa_private_key: rsa.RSAPrivateKey
) -> None:
    message = busta.encrypt(
        PLAINTEXT, keyring=hsm_rsa_keyring(rsa_token, padding), frame_length=FRAME, encryption_context=CONTEXT
    )
    raw = RawRsaKeyring(NAMESPACE, RSA_NAME, private_key=rsa_private_key, padding=padding)
    result = busta.decrypt(message, keyring=raw)
    assert result.plaintext == PLAINTEXT
    (edk,) = result.header.encrypted_data_keys
    assert (edk.provider_id, edk.provider_info, len(edk.ciphertext)) == (NAMESPACE, RSA_NAME.encode(), 256)


@pytest.mark.parametrize("padding", TOKEN_DECRYPTABLE_PADDINGS, ids=lambda p: p.name)
def test_an_rsa_wrap_by_the_raw_rsa_keyring_unwraps_on_the_token(
    padding: RsaPadding, rsa_token: SoftHsmToken, rsa_private_key: rsa.RSAPrivateKey
) -> None:
    raw = RawRsaKeyring(NAMESPACE, RSA_NAME, public_key=rsa_private_key.public_key(), padding=padding)
    message = busta.encrypt(PLAINTEXT, keyring=raw, frame_length=FRAME, encryption_context=CONTEXT)
    assert busta.decrypt(message, keyring=hsm_rsa_keyring(rsa_token, padding)).plaintext == PLAINTEXT


@pytest.mark.parametrize("padding", TOKEN_DECRYPTABLE_PADDINGS, ids=lambda p: p.name)
def test_rsa_messages_interoperate_with_the_official_sdk_raw_rsa_keyring(
    padding: RsaPadding, rsa_token: SoftHsmToken, rsa_private_key: rsa.RSAPrivateKey
) -> None:
    keyring = hsm_rsa_keyring(rsa_token, padding)
    spec = rsa_spec(rsa_private_key, padding)

    ours = busta.encrypt(PLAINTEXT, keyring=keyring, frame_length=FRAME, encryption_context=CONTEXT)
    plaintext, stored_context = official_decrypt(ours, keys=[spec])
    assert plaintext == PLAINTEXT
    assert CONTEXT.items() <= stored_context.items()

    theirs = official_encrypt(PLAINTEXT, keys=[spec], suite_id=0x0578, frame_length=FRAME, encryption_context=CONTEXT)
    assert busta.decrypt(theirs, keyring=keyring).plaintext == PLAINTEXT


@pytest.mark.parametrize("padding", SHA2_OAEP_PADDINGS, ids=lambda p: p.name)
def test_oaep_with_sha2_encrypts_with_the_public_key_but_softhsm_refuses_to_decrypt_it_clearly(
    padding: RsaPadding, rsa_token: SoftHsmToken, rsa_private_key: rsa.RSAPrivateKey
) -> None:
    # SoftHSM 2.6 answers CKR_ARGUMENTS_BAD to CKM_RSA_PKCS_OAEP with a SHA-2 hash.
    keyring = hsm_rsa_keyring(rsa_token, padding)
    message = busta.encrypt(PLAINTEXT, keyring=keyring, encryption_context=CONTEXT)
    raw = RawRsaKeyring(NAMESPACE, RSA_NAME, private_key=rsa_private_key, padding=padding)
    assert busta.decrypt(message, keyring=raw).plaintext == PLAINTEXT

    with pytest.raises(NoDecryptingKeyError) as refused:
        busta.decrypt(message, keyring=keyring)
    (reason,) = refused.value.reasons
    assert f"the token does not support {padding.name}" in reason
    (error,) = refused.value.errors
    assert type(error) is KeyringError
    assert isinstance(error.__cause__, Pkcs11Error)
    assert error.__cause__.code == "ArgumentsBad"


# -- 3. key management ---------------------------------------------------------------------------


def test_generate_aes_key_makes_a_sensitive_non_extractable_aes_256_key_that_wraps_and_unwraps() -> None:
    token = new_token()
    info = generate_aes_key(token.module, token.token_label, "generated", pin=token.pin)
    assert info == KeyInfo("generated", "aes", 256)

    attributes = key_attributes(
        token,
        "generated",
        [
            Attribute.CLASS,
            Attribute.KEY_TYPE,
            Attribute.VALUE_LEN,
            Attribute.TOKEN,
            Attribute.EXTRACTABLE,
            Attribute.SENSITIVE,
            Attribute.NEVER_EXTRACTABLE,
            Attribute.ALWAYS_SENSITIVE,
        ],
    )
    assert attributes == {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.AES,
        Attribute.VALUE_LEN: 32,
        Attribute.TOKEN: True,
        Attribute.EXTRACTABLE: False,
        Attribute.SENSITIVE: True,
        Attribute.NEVER_EXTRACTABLE: True,
        Attribute.ALWAYS_SENSITIVE: True,
    }
    (key,) = objects_labelled(token, "generated")
    with pytest.raises(Pkcs11Error) as refused:
        call("key value read", lambda: key[Attribute.VALUE])
    assert refused.value.code == "AttributeSensitive"

    keyring = keyring_for(token, "generated")
    assert busta.decrypt(busta.encrypt(PLAINTEXT, keyring=keyring), keyring=keyring).plaintext == PLAINTEXT


def test_generate_aes_key_refuses_a_label_already_taken_and_leaves_the_first_key_alone() -> None:
    token = new_token()
    generate_aes_key(token.module, token.token_label, "taken", pin=token.pin)
    keyring = keyring_for(token, "taken")
    message = busta.encrypt(PLAINTEXT, keyring=keyring)

    with pytest.raises(Pkcs11Error, match="already holds a key labelled 'taken'"):
        generate_aes_key(token.module, token.token_label, "taken", pin=token.pin)
    assert len(objects_labelled(token, "taken")) == 1
    assert busta.decrypt(message, keyring=keyring_for(token, "taken")).plaintext == PLAINTEXT


def test_list_keys_lists_labels_kinds_and_sizes_sorted_by_label(rsa_private_key: rsa.RSAPrivateKey) -> None:
    token = new_token()
    generate_aes_key(token.module, token.token_label, "b-aes-128", pin=token.pin, bits=128)
    generate_aes_key(token.module, token.token_label, "a-aes-256", pin=token.pin)
    import_rsa_key_pair(token, "c-rsa", rsa_private_key)

    keys = list_keys(token.module, token.token_label, pin=token.pin)
    assert [(key.label, key.kind) for key in keys] == [
        ("a-aes-256", "aes"),
        ("b-aes-128", "aes"),
        ("c-rsa", "rsa-private"),
        ("c-rsa", "rsa-public"),
    ]
    bits = {(key.label, key.kind): key.bits for key in keys}
    assert bits[("a-aes-256", "aes")] == 256
    assert bits[("b-aes-128", "aes")] == 128
    assert bits[("c-rsa", "rsa-public")] == 2048


def test_list_keys_of_a_fresh_token_is_empty() -> None:
    token = new_token()
    assert list_keys(token.module, token.token_label, pin=token.pin) == []


def test_create_softhsm_token_returns_a_usable_token_whose_repr_hides_the_pin() -> None:
    token = create_softhsm_token(f"busta-repr-{os.urandom(4).hex()}", pin=PIN_TEXT)
    assert isinstance(token, SoftHsmToken)
    assert token.module == softhsm_module()
    assert token.pin == SecretBytes(PIN_TEXT.encode())
    assert Path(token.config).is_file()
    assert token.token_label in repr(token)
    assert_no_secret(repr(token) + str(token), PIN_TEXT)
    assert list_keys(token.module, token.token_label, pin=PIN_TEXT) == []


def test_create_softhsm_token_picks_a_random_pin_and_keeps_every_token_in_one_directory() -> None:
    first, second = new_tokens(2)
    assert first.pin != second.pin
    assert len(first.pin) == 16
    assert first.config == second.config
    with pytest.raises(UsageError, match="reads its configuration once per process"):
        create_softhsm_token("busta-elsewhere", directory=str(Path(first.config).parent / "elsewhere"))


# -- 4. errors -----------------------------------------------------------------------------------


def test_a_wrong_pin_on_a_fresh_token_is_refused_and_the_right_pin_still_logs_in() -> None:
    fresh = new_token(pin=PIN_TEXT)
    with pytest.raises(Pkcs11Error, match=r"PIN .* was refused") as refused:
        keyring_for(fresh, AES_LABEL, pin=WRONG_PIN_TEXT)
    assert refused.value.code == "PinIncorrect"
    assert list_keys(fresh.module, fresh.token_label, pin=PIN_TEXT) == []


def test_a_missing_token_is_a_pkcs11_error() -> None:
    with pytest.raises(Pkcs11Error, match="no token labelled 'busta-no-such-token'") as refused:
        Pkcs11Keyring(
            NAMESPACE,
            AES_NAME,
            module=softhsm_module(),
            token_label="busta-no-such-token",
            key_label=AES_LABEL,
            pin=PIN_TEXT,
        )
    assert refused.value.code == "NoSuchToken"


def test_a_missing_key_label_is_a_pkcs11_error(aes_token: SoftHsmToken) -> None:
    with pytest.raises(Pkcs11Error, match="no key labelled 'absent'") as refused:
        keyring_for(aes_token, "absent")
    assert refused.value.code == "NoSuchKey"


@pytest.mark.parametrize("kind", ["missing", "not-a-library"])
def test_a_module_path_that_is_not_a_pkcs11_library_is_a_pkcs11_error(kind: str, tmp_path: Path) -> None:
    module = tmp_path / "libnothing.so"
    if kind == "not-a-library":
        module.write_bytes(b"this is not a shared object")
    with pytest.raises(Pkcs11Error, match="PKCS#11 module"):
        Pkcs11Keyring(NAMESPACE, AES_NAME, module=str(module), token_label="t", key_label=AES_LABEL, pin=PIN_TEXT)
    assert str(module) not in loaded_modules()


@pytest.mark.parametrize("kind", ["generic-secret", "des3", "ec"])
def test_a_key_that_is_neither_aes_nor_rsa_is_refused_at_construction(kind: OtherKeyKind) -> None:
    token = new_token()
    generate_other_key(token, "other", kind)
    with pytest.raises(Pkcs11Error, match=r"key 'other' on token .* is not AES or RSA") as refused:
        keyring_for(token, "other")
    assert {"generic-secret": "GENERIC_SECRET", "des3": "DES3", "ec": "EC"}[kind] in str(refused.value)


def test_the_pin_comes_from_the_environment_when_none_is_given(
    monkeypatch: pytest.MonkeyPatch, aes_token: SoftHsmToken
) -> None:
    monkeypatch.setenv(DEFAULT_PIN_ENV, aes_token.pin.reveal().decode())
    keyring = Pkcs11Keyring(
        NAMESPACE, AES_NAME, module=aes_token.module, token_label=aes_token.token_label, key_label=AES_LABEL
    )
    assert busta.decrypt(busta.encrypt(PLAINTEXT, keyring=keyring), keyring=keyring).plaintext == PLAINTEXT
    assert [key.label for key in list_keys(aes_token.module, aes_token.token_label)] == [AES_LABEL]


def test_the_pin_comes_from_a_named_environment_variable(
    monkeypatch: pytest.MonkeyPatch, aes_token: SoftHsmToken
) -> None:
    monkeypatch.delenv(DEFAULT_PIN_ENV, raising=False)
    monkeypatch.setenv("MY_HSM_PIN", aes_token.pin.reveal().decode())
    keyring = Pkcs11Keyring(
        NAMESPACE,
        AES_NAME,
        module=aes_token.module,
        token_label=aes_token.token_label,
        key_label=AES_LABEL,
        pin_env="MY_HSM_PIN",
    )
    message = busta.encrypt(PLAINTEXT, keyring=keyring)
    assert busta.decrypt(message, keyring=RawAesKeyring(NAMESPACE, AES_NAME, KNOWN_AES_KEY)).plaintext == PLAINTEXT


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_no_pin_and_no_environment_variable_is_a_usage_error(
    value: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = new_token()
    if value is None:
        monkeypatch.delenv(DEFAULT_PIN_ENV, raising=False)
    else:
        monkeypatch.setenv(DEFAULT_PIN_ENV, value)
    with pytest.raises(UsageError, match=DEFAULT_PIN_ENV):
        Pkcs11Keyring(NAMESPACE, AES_NAME, module=token.module, token_label=token.token_label, key_label=AES_LABEL)
    with pytest.raises(UsageError, match=DEFAULT_PIN_ENV):
        list_keys(token.module, token.token_label)
    with pytest.raises(UsageError, match=DEFAULT_PIN_ENV):
        generate_aes_key(token.module, token.token_label, "never")


def test_a_second_keyring_with_another_pin_for_a_logged_in_token_is_refused(
    hsm_aes_keyring: Pkcs11Keyring, aes_token: SoftHsmToken, raw_aes_keyring: RawAesKeyring
) -> None:
    with pytest.raises(Pkcs11Error, match="already logged in with a different PIN") as refused:
        keyring_for(aes_token, AES_LABEL, pin=WRONG_PIN_TEXT)
    assert refused.value.code == "PinIncorrect"
    # the first keyring is untouched
    message = busta.encrypt(PLAINTEXT, keyring=hsm_aes_keyring)
    assert busta.decrypt(message, keyring=raw_aes_keyring).plaintext == PLAINTEXT


@pytest.fixture
def keyring_whose_key_was_removed(aes_token: SoftHsmToken, hsm_aes_keyring: Pkcs11Keyring) -> Pkcs11Keyring:
    destroy_keys(aes_token, AES_LABEL)
    assert objects_labelled(aes_token, AES_LABEL) == []
    return hsm_aes_keyring


def test_a_failing_encrypt_stream_writes_nothing(keyring_whose_key_was_removed: Pkcs11Keyring) -> None:
    sink = io.BytesIO()
    with pytest.raises(Pkcs11Error, match="AES-GCM wrap failed"):
        busta.encrypt_stream(io.BytesIO(PLAINTEXT), sink, keyring=keyring_whose_key_was_removed)
    assert sink.getvalue() == b""


def test_a_failing_encrypting_writer_writes_nothing(keyring_whose_key_was_removed: Pkcs11Keyring) -> None:
    sink = io.BytesIO()
    with (
        pytest.raises(Pkcs11Error, match="AES-GCM wrap failed"),
        busta.encrypting_writer(sink, keyring=keyring_whose_key_was_removed) as writer,
    ):
        writer.write(PLAINTEXT)
    assert sink.getvalue() == b""


def test_a_failing_token_child_of_a_multi_keyring_writes_nothing(
    keyring_whose_key_was_removed: Pkcs11Keyring,
) -> None:
    multi = MultiKeyring(
        generator=RawAesKeyring("local", "generator", os.urandom(32)), children=[keyring_whose_key_was_removed]
    )
    sink = io.BytesIO()
    with pytest.raises(KeyringError):
        busta.encrypt_stream(io.BytesIO(PLAINTEXT), sink, keyring=multi)
    assert sink.getvalue() == b""


def test_a_keyring_whose_key_was_removed_cannot_decrypt(
    keyring_whose_key_was_removed: Pkcs11Keyring, raw_aes_keyring: RawAesKeyring
) -> None:
    message = busta.encrypt(PLAINTEXT, keyring=raw_aes_keyring)
    with pytest.raises(NoDecryptingKeyError):
        busta.decrypt(message, keyring=keyring_whose_key_was_removed)


# -- 5. secret hygiene ---------------------------------------------------------------------------


def collect_errors(token: SoftHsmToken, fresh: SoftHsmToken, tmp_path: Path) -> Iterator[BustaError]:
    """Provoke every PKCS#11 error a PIN could show up in (``token`` logged in, ``fresh`` not)."""
    foreign = busta.encrypt(b"x", keyring=RawAesKeyring(NAMESPACE, AES_NAME, os.urandom(32)))
    attempts: list[tuple[str, Callable[[], object]]] = [
        ("was refused", lambda: keyring_for(fresh, AES_LABEL, pin=WRONG_PIN_TEXT)),
        ("different PIN", lambda: keyring_for(token, AES_LABEL, pin=WRONG_PIN_TEXT)),
        ("no key labelled", lambda: keyring_for(token, "absent")),
        (
            "no token labelled",
            lambda: Pkcs11Keyring(
                NAMESPACE, AES_NAME, module=token.module, token_label="busta-absent", key_label="k", pin=PIN_TEXT
            ),
        ),
        (
            "no PKCS#11 module",
            lambda: Pkcs11Keyring(
                NAMESPACE, AES_NAME, module=str(tmp_path / "none.so"), token_label="t", key_label="k", pin=PIN_TEXT
            ),
        ),
        ("already holds a key", lambda: generate_aes_key(token.module, token.token_label, AES_LABEL, pin=PIN_TEXT)),
        ("did not authenticate", lambda: busta.decrypt(foreign, keyring=keyring_for(token, AES_LABEL)).plaintext),
    ]
    for expected, attempt in attempts:
        with pytest.raises(BustaError, match=expected) as raised:
            attempt()
        yield raised.value


def test_the_pin_never_appears_in_a_repr_or_an_error(tmp_path: Path) -> None:
    token, fresh = new_tokens(2, pin=PIN_TEXT)
    import_aes_key(token, AES_LABEL, KNOWN_AES_KEY)
    keyring = keyring_for(token, AES_LABEL, pin=PIN_TEXT)
    assert_no_secret(repr(keyring) + str(keyring) + repr(token) + str(token), PIN_TEXT)
    errors = list(collect_errors(token, fresh, tmp_path))
    assert len(errors) == 7
    for error in errors:
        assert_no_secret(error_text(error), PIN_TEXT, WRONG_PIN_TEXT)


def test_the_pin_never_appears_in_debug_logs_of_a_round_trip(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    token = new_token(pin=PIN_TEXT)
    monkeypatch.setenv(DEFAULT_PIN_ENV, PIN_TEXT)
    generate_aes_key(token.module, token.token_label, "logged")
    keyring = Pkcs11Keyring(NAMESPACE, AES_NAME, module=token.module, token_label=token.token_label, key_label="logged")
    message = busta.encrypt(PLAINTEXT, keyring=keyring, encryption_context=CONTEXT)
    assert busta.decrypt(message, keyring=keyring).plaintext == PLAINTEXT
    list_keys(token.module, token.token_label)

    assert "unwrapped a data key" in caplog.text  # DEBUG records were captured
    logged = caplog.text + "".join(repr(record.args) + repr(record.__dict__) for record in caplog.records)
    assert_no_secret(logged, PIN_TEXT)


def test_the_keyring_and_the_token_refuse_pickling(hsm_aes_keyring: Pkcs11Keyring, aes_token: SoftHsmToken) -> None:
    with pytest.raises(UsageError, match="cannot be pickled"):
        pickle.dumps(hsm_aes_keyring)
    with pytest.raises(UsageError, match="cannot be pickled"):
        pickle.dumps(aes_token)


# -- re-initialization: a token made later must not disturb live keyrings --------------------------


def test_a_keyring_keeps_its_own_keys_after_a_newer_token_reinitializes_the_module(
    rsa_private_key: rsa.RSAPrivateKey,
) -> None:
    first = new_token()
    import_aes_key(first, AES_LABEL, KNOWN_AES_KEY)
    import_rsa_key_pair(first, RSA_LABEL, rsa_private_key)
    aes = keyring_for(first, AES_LABEL, namespace=NAMESPACE, name=AES_NAME)
    rsa_keyring = hsm_rsa_keyring(first, RsaPadding.OAEP_SHA1)
    before = busta.encrypt(PLAINTEXT, keyring=aes)
    reinitializations = generation(first.module)

    second = new_token()  # made after the module was loaded: opening it re-initializes the module
    other_key = os.urandom(32)
    import_aes_key(second, AES_LABEL, other_key)
    newer = keyring_for(second, AES_LABEL, namespace=NAMESPACE, name=AES_NAME)
    assert generation(first.module) > reinitializations

    after = busta.encrypt(PLAINTEXT, keyring=aes)
    assert busta.decrypt(after, keyring=RawAesKeyring(NAMESPACE, AES_NAME, KNOWN_AES_KEY)).plaintext == PLAINTEXT
    with pytest.raises(NoDecryptingKeyError):
        busta.decrypt(after, keyring=RawAesKeyring(NAMESPACE, AES_NAME, other_key))
    assert busta.decrypt(before, keyring=aes).plaintext == PLAINTEXT
    raw_rsa = RawRsaKeyring(NAMESPACE, RSA_NAME, public_key=rsa_private_key.public_key(), padding=RsaPadding.OAEP_SHA1)
    assert busta.decrypt(busta.encrypt(PLAINTEXT, keyring=raw_rsa), keyring=rsa_keyring).plaintext == PLAINTEXT
    newest = busta.encrypt(PLAINTEXT, keyring=newer)
    assert busta.decrypt(newest, keyring=RawAesKeyring(NAMESPACE, AES_NAME, other_key)).plaintext == PLAINTEXT


def test_looking_up_a_missing_token_does_not_break_live_keyrings(
    hsm_aes_keyring: Pkcs11Keyring, raw_aes_keyring: RawAesKeyring
) -> None:
    reinitializations = generation(hsm_aes_keyring.module)
    with pytest.raises(Pkcs11Error, match="no token labelled"):
        Pkcs11Keyring(
            NAMESPACE, AES_NAME, module=hsm_aes_keyring.module, token_label="busta-typo", key_label="k", pin="1"
        )
    assert generation(hsm_aes_keyring.module) > reinitializations
    message = busta.encrypt(PLAINTEXT, keyring=hsm_aes_keyring)
    assert busta.decrypt(message, keyring=raw_aes_keyring).plaintext == PLAINTEXT
    assert busta.decrypt(message, keyring=hsm_aes_keyring).plaintext == PLAINTEXT


# -- 6. thread safety ----------------------------------------------------------------------------

ROUND_TRIP_SECONDS = 3.0


def test_one_token_keyring_shared_by_16_threads_round_trips_every_message(
    hsm_aes_keyring: Pkcs11Keyring, raw_aes_keyring: RawAesKeyring
) -> None:
    deadline = time.monotonic() + ROUND_TRIP_SECONDS

    def round_trips(index: int) -> int:
        done = 0
        while done < 50 and time.monotonic() < deadline:
            plaintext = f"thread {index} message {done} ".encode() + os.urandom(64)
            context = {"thread": str(index), "n": str(done)}
            message = busta.encrypt(
                plaintext, keyring=hsm_aes_keyring, encryption_context=context, algorithm=COMMITTING_UNSIGNED
            )
            assert busta.decrypt(message, keyring=hsm_aes_keyring, encryption_context=context).plaintext == plaintext
            assert busta.decrypt(message, keyring=raw_aes_keyring).plaintext == plaintext  # wrapped with the right key
            done += 1
        return done

    counts = run_threads(16, round_trips)
    assert all(count >= 1 for count in counts)


def test_a_multi_keyring_of_two_token_keyrings_round_trips_under_8_threads(
    rsa_private_key: rsa.RSAPrivateKey,
) -> None:
    aes_token, rsa_token = new_tokens(2)  # both made before any session is opened
    import_aes_key(aes_token, AES_LABEL, KNOWN_AES_KEY)
    import_rsa_key_pair(rsa_token, RSA_LABEL, rsa_private_key)
    aes = keyring_for(aes_token, AES_LABEL, namespace=NAMESPACE, name=AES_NAME)
    rsa_keyring = hsm_rsa_keyring(rsa_token, RsaPadding.OAEP_SHA1)
    assert aes.performs_io and rsa_keyring.performs_io
    multi = MultiKeyring(generator=aes, children=[rsa_keyring])
    raw_aes = RawAesKeyring(NAMESPACE, AES_NAME, KNOWN_AES_KEY)
    raw_rsa = RawRsaKeyring(NAMESPACE, RSA_NAME, private_key=rsa_private_key, padding=RsaPadding.OAEP_SHA1)
    deadline = time.monotonic() + ROUND_TRIP_SECONDS

    def round_trips(index: int) -> int:
        done = 0
        while done < 25 and time.monotonic() < deadline:
            plaintext = f"thread {index} message {done} ".encode() + os.urandom(64)
            message = busta.encrypt(plaintext, keyring=multi, algorithm=COMMITTING_UNSIGNED)
            result = busta.decrypt(message, keyring=multi)
            assert result.plaintext == plaintext
            aes_edk, rsa_edk = result.header.encrypted_data_keys
            assert aes_edk.provider_info.startswith(AES_NAME.encode() + struct.pack(">II", 128, 12))
            assert rsa_edk.provider_info == RSA_NAME.encode()
            assert busta.decrypt(message, keyring=raw_aes).plaintext == plaintext
            assert busta.decrypt(message, keyring=raw_rsa).plaintext == plaintext
            assert busta.decrypt(message, keyring=rsa_keyring).plaintext == plaintext
            done += 1
        return done

    counts = run_threads(8, round_trips)
    assert all(count >= 1 for count in counts)


def test_shared_keyrings_keep_working_while_new_tokens_reinitialize_the_module(
    hsm_aes_keyring: Pkcs11Keyring, raw_aes_keyring: RawAesKeyring
) -> None:
    started, stop = threading.Event(), threading.Event()
    maker_failures: list[BaseException] = []

    def round_trips(index: int) -> int:
        done = 0
        while not stop.is_set() and done < 500:
            plaintext = f"thread {index} message {done} ".encode()
            message = busta.encrypt(plaintext, keyring=hsm_aes_keyring, algorithm=COMMITTING_UNSIGNED)
            assert busta.decrypt(message, keyring=raw_aes_keyring).plaintext == plaintext
            assert busta.decrypt(message, keyring=hsm_aes_keyring).plaintext == plaintext
            done += 1
            started.set()
        return done

    def make_tokens() -> None:
        try:
            assert started.wait(10)
            for _ in range(5):
                token = new_token()
                generate_aes_key(token.module, token.token_label, "meanwhile", pin=token.pin)
        except BaseException as exc:
            maker_failures.append(exc)
        finally:
            stop.set()

    reinitializations = generation(hsm_aes_keyring.module)
    maker = threading.Thread(target=make_tokens, daemon=True)
    maker.start()
    counts = run_threads(4, round_trips)
    maker.join(30)
    assert not maker.is_alive()
    assert maker_failures == []
    assert generation(hsm_aes_keyring.module) >= reinitializations + 5
    assert all(count >= 1 for count in counts)


# -- 7. lazy loading -----------------------------------------------------------------------------


def test_import_busta_does_not_import_pkcs11_until_the_keyring_is_asked_for() -> None:
    code = (
        "import sys, busta\n"
        "assert 'pkcs11' not in sys.modules, 'pkcs11 imported by import busta'\n"
        "assert 'busta.keyrings.pkcs11' not in sys.modules\n"
        "keyring_class = busta.keyrings.Pkcs11Keyring\n"
        "assert 'pkcs11' in sys.modules\n"
        "from busta.keyrings.pkcs11 import Pkcs11Keyring\n"
        "assert keyring_class is Pkcs11Keyring\n"
        "print('lazy ok')\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "lazy ok"


@pytest.mark.parametrize("bad_pin", [b"\xffPin-5ecret", 1234], ids=["not-utf8", "int"])
def test_a_pin_that_is_not_text_is_refused_without_showing_it(aes_token: SoftHsmToken, bad_pin: object) -> None:
    with pytest.raises(UsageError) as caught:
        keyring_for(aes_token, AES_LABEL, pin=bad_pin)  # type: ignore[arg-type]
    assert "5ecret" not in error_text(caught.value)


def test_two_paths_to_the_same_module_share_one_loaded_library(aes_token: SoftHsmToken, tmp_path: Path) -> None:
    link = tmp_path / "libsofthsm2-link.so"
    link.symlink_to(aes_token.module)
    via_link = Pkcs11Keyring(
        NAMESPACE, AES_NAME, module=str(link), token_label=aes_token.token_label, key_label=AES_LABEL, pin=aes_token.pin
    )
    direct = keyring_for(aes_token, AES_LABEL, namespace=NAMESPACE, name=AES_NAME)
    assert busta.decrypt(busta.encrypt(b"x", keyring=via_link), keyring=direct).plaintext == b"x"
