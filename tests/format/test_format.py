"""The pure wire layer: headers and contexts parse strictly and fail with the field and offset."""

from __future__ import annotations

import base64

import pytest

import busta
from busta import AlgorithmSuite, CommitmentPolicy
from busta.context import deserialize_context, serialize_context, validate_for_encrypt
from busta.errors import (
    EncryptionContextError,
    LimitExceededError,
    MalformedMessageError,
    NoDecryptingKeyError,
)
from busta.format import parse_header
from busta.keyrings import RawAesKeyring

V1 = AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA256
FORBID = CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT
ALLOW = CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT


def _v1_message(keyring: RawAesKeyring, context: dict[str, str] | None = None) -> bytes:
    return busta.Client(commitment_policy=FORBID).encrypt(
        b"hello", keyring=keyring, algorithm=V1, encryption_context=context
    )


def test_context_serializes_sorted_by_utf8_key_bytes() -> None:
    encoded = serialize_context({"b": "2", "a": "1", "é": "3"})
    assert (
        encoded == bytes.fromhex("0003") + b"\x00\x01a\x00\x011" + b"\x00\x01b\x00\x012" + b"\x00\x02\xc3\xa9\x00\x013"
    )
    assert deserialize_context(encoded) == {"a": "1", "b": "2", "é": "3"}


def test_an_empty_context_serializes_to_nothing() -> None:
    assert serialize_context({}) == b""
    assert deserialize_context(b"") == {}


def test_the_legacy_empty_context_form_reads_as_empty() -> None:
    assert deserialize_context(b"\x00\x00") == {}


@pytest.mark.parametrize(
    ("encoded", "field"),
    [
        (b"\x00\x01\x00\x01a\x00\x011\x00", "encryption context"),  # bytes after the last pair
        (b"\x00\x02\x00\x01a\x00\x011\x00\x01a\x00\x012", "encryption context key"),  # duplicate key
        (b"\x00\x01\x00\x05ab", "encryption context key"),  # key overruns
        (b"\x00\x01\x00\x01\xff\x00\x00", "encryption context"),  # not UTF-8
    ],
)
def test_malformed_contexts_are_rejected_with_the_field(encoded: bytes, field: str) -> None:
    with pytest.raises(MalformedMessageError) as info:
        deserialize_context(encoded)
    assert info.value.field == field


def test_unsorted_context_keys_are_accepted_as_other_sdks_may_write_them() -> None:
    assert deserialize_context(b"\x00\x02\x00\x01b\x00\x012\x00\x01a\x00\x011") == {"a": "1", "b": "2"}


@pytest.mark.parametrize("bad", [{"aws-crypto-x": "1"}, {"k": 1}, {1: "v"}, ["k"]])
def test_encrypt_refuses_reserved_or_non_text_context(bad: object) -> None:
    with pytest.raises(EncryptionContextError):
        validate_for_encrypt(bad)  # type: ignore[arg-type]


def test_a_context_too_large_for_its_length_field_is_refused(aes_keyring: RawAesKeyring) -> None:
    with pytest.raises(LimitExceededError):
        busta.encrypt(b"", keyring=aes_keyring, encryption_context={"k": "v" * 70_000})


def test_base64_input_is_named_in_the_error(aes_keyring: RawAesKeyring) -> None:
    message = base64.b64encode(_v1_message(aes_keyring))
    assert message.startswith(b"AY")
    with pytest.raises(MalformedMessageError, match="base64"):
        busta.Client(commitment_policy=ALLOW).decrypt(message, keyring=aes_keyring)


def _corrupt(message: bytes, offset: int, value: int) -> bytes:
    return message[:offset] + bytes([value]) + message[offset + 1 :]


@pytest.mark.parametrize(
    ("offset", "value", "field"),
    [
        (0, 0x03, "version"),
        (1, 0x81, "type"),
        (2, 0x99, "algorithm suite"),
    ],
)
def test_bad_v1_header_fields_are_named(aes_keyring: RawAesKeyring, offset: int, value: int, field: str) -> None:
    with pytest.raises(MalformedMessageError) as info:
        parse_header(_corrupt(_v1_message(aes_keyring), offset, value))
    assert info.value.field == field
    assert info.value.offset == offset


def test_v1_reserved_bytes_and_iv_length_are_checked(aes_keyring: RawAesKeyring) -> None:
    message = _v1_message(aes_keyring)
    parsed = parse_header(message)
    assert parsed is not None
    content_type_at = len(parsed.raw) - 10  # content type, reserved(4), IV length(1), frame length(4)
    with pytest.raises(MalformedMessageError) as info:
        parse_header(_corrupt(message, content_type_at + 2, 1))
    assert info.value.field == "reserved"
    with pytest.raises(MalformedMessageError) as info:
        parse_header(_corrupt(message, content_type_at + 5, 16))
    assert info.value.field == "IV length"
    with pytest.raises(MalformedMessageError) as info:
        parse_header(_corrupt(message, content_type_at, 7))
    assert info.value.field == "content type"


def test_a_suite_in_the_wrong_header_version_is_rejected(aes_keyring: RawAesKeyring) -> None:
    message = _corrupt(_corrupt(_v1_message(aes_keyring), 2, 0x04), 3, 0x78)
    with pytest.raises(MalformedMessageError, match="version 1"):
        parse_header(message)


def test_every_proper_prefix_of_a_header_asks_for_more(aes_keyring: RawAesKeyring) -> None:
    message = busta.encrypt(b"x", keyring=aes_keyring, encryption_context={"a": "b"})
    parsed = parse_header(message)
    assert parsed is not None
    for n in range(parsed.length):
        assert parse_header(message[:n]) is None
    assert parse_header(message[: parsed.length]) == parsed


def test_the_data_key_count_limit_applies_before_any_keyring_runs(aes_key: bytes) -> None:
    calls = []

    class Spy(RawAesKeyring):
        def on_decrypt(self, materials, encrypted_data_keys):  # type: ignore[no-untyped-def]
            calls.append(1)
            return super().on_decrypt(materials, encrypted_data_keys)

    keyrings = [RawAesKeyring("ns", f"k{i}", aes_key) for i in range(3)]
    message = busta.encrypt(b"x", keyring=busta.keyrings.MultiKeyring(keyrings[0], keyrings[1:]))
    with pytest.raises(LimitExceededError, match="encrypted data key count"):
        busta.Client(max_encrypted_data_keys=2).decrypt(message, keyring=Spy("ns", "k0", aes_key))
    assert calls == []
    assert busta.Client(max_encrypted_data_keys=3).decrypt(message, keyring=Spy("ns", "k0", aes_key)).plaintext == b"x"


def test_the_data_key_count_limit_applies_on_encrypt(aes_key: bytes) -> None:
    keyrings = [RawAesKeyring("ns", f"k{i}", aes_key) for i in range(3)]
    with pytest.raises(LimitExceededError):
        busta.Client(max_encrypted_data_keys=2).encrypt(
            b"x", keyring=busta.keyrings.MultiKeyring(keyrings[0], keyrings[1:])
        )


def test_a_header_that_claims_huge_lengths_fails_fast_at_the_header_limit() -> None:
    # A v2 header claiming 65535 data keys, each 3 x 65535 bytes: the parser gives up at MAX_HEADER_BYTES.
    start = b"\x02\x04\x78" + bytes(32) + b"\x00\x00" + b"\xff\xff"
    edk = b"\xff\xff" + b"a" * 65535
    data = start + edk * 17
    with pytest.raises(LimitExceededError, match="header size"):
        parse_header(data, max_header_bytes=1 << 20)


def test_zero_encrypted_data_keys_are_rejected() -> None:
    header = b"\x02\x04\x78" + bytes(32) + b"\x00\x00" + b"\x00\x00"
    with pytest.raises(MalformedMessageError) as info:
        parse_header(header)
    assert info.value.field == "data key count"


def test_a_wrong_key_reports_every_keyring_reason(aes_keyring: RawAesKeyring, aes_key: bytes) -> None:
    message = busta.encrypt(b"x", keyring=aes_keyring)
    other = RawAesKeyring("other-namespace", "k", aes_key)
    with pytest.raises(NoDecryptingKeyError) as info:
        busta.decrypt(message, keyring=busta.keyrings.MultiKeyring(children=[other]))
    assert len(info.value.reasons) == 1
    assert "other-namespace" in info.value.reasons[0]
