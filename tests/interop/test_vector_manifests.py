"""Prove the vector loader (tests/support/vectors.py) against the official vector files."""

from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tests.support import vectors
from tests.support.vectors import (
    SUITE_DATA_KEY_LENGTH,
    load_commitment,
    load_decrypt_oracle,
    load_legacy,
)


def _v1_edks_and_frame_length(
    message: bytes,
) -> tuple[list[tuple[bytes, bytes, bytes]], int]:
    """Minimal v1 header walk: (provider id, provider info, ciphertext) list and frame length."""
    offset = 20  # version, type, suite id, message id
    (ec_len,) = struct.unpack_from(">H", message, offset)
    offset += 2 + ec_len
    (count,) = struct.unpack_from(">H", message, offset)
    offset += 2
    edks: list[tuple[bytes, bytes, bytes]] = []
    for _ in range(count):
        fields: list[bytes] = []
        for _ in range(3):
            (length,) = struct.unpack_from(">H", message, offset)
            fields.append(message[offset + 2 : offset + 2 + length])
            offset += 2 + length
        edks.append((fields[0], fields[1], fields[2]))
    offset += 1 + 4 + 1  # content type, reserved, IV length
    (frame_length,) = struct.unpack_from(">I", message, offset)
    return edks, frame_length


def test_vectors_folder_is_present() -> None:
    path = vectors.vectors_dir()
    assert path == (Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors").resolve()


def test_missing_folder_fails_clearly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(vectors, "VECTORS_DIR", tmp_path / "no-such-vectors")
    with pytest.raises(vectors.VectorsMissingError, match="test vectors not found"):
        vectors.vectors_dir()


def test_legacy_counts() -> None:
    cases = load_legacy()
    assert len(cases) == 1260
    assert len({c.name for c in cases}) == 1260
    assert sum(c.raw_decryptable for c in cases) == 900
    assert sum(c.kms_only for c in cases) == 360
    assert Counter(c.suite_id for c in cases) == {s: 140 for s in SUITE_DATA_KEY_LENGTH if s < 0x400}
    assert Counter(c.frame_length for c in cases) == {
        0: 252,
        512: 252,
        4096: 252,
        10240: 252,
        20480: 252,
    }
    # 360 raw-decryptable cases carry a second, undecryptable ephemeral key.
    assert sum(c.raw_decryptable and any(not mk.decryptable for mk in c.master_keys) for c in cases) == 360
    assert load_legacy()[0] is cases[0]  # cached


def test_legacy_key_material_matches_suite() -> None:
    for case in load_legacy():
        assert int(case.algorithm, 16) == case.suite_id == int.from_bytes(case.ciphertext[2:4], "big")
        if not case.raw_decryptable:
            assert all(mk.type == "aws-kms" for mk in case.master_keys), case.name
            continue
        assert case.plaintext and len(case.plaintext) == 10240
        for mk in case.raw_keys:
            assert mk.provider_id == vectors.STATIC_PROVIDER_ID
            if mk.encryption_algorithm == "aes":
                assert mk.key_bytes is not None and mk.pem is None
                assert len(mk.key_bytes) == case.data_key_length, case.name
                assert mk.key_bits == 8 * case.data_key_length
                assert mk.key_name == f"AES.{mk.key_bits}.."
            else:
                assert mk.encryption_algorithm == "rsa"
                assert mk.pem is not None and mk.key_bytes is None
                assert mk.pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
                assert mk.key_name in ("RSA.2048.PKCS1.", "RSA.2048.OAEP-MGF1.SHA-1")


def test_legacy_rsa_pem_loads() -> None:
    pems = {mk.pem for c in load_legacy() for mk in c.raw_keys if mk.pem is not None}
    assert len(pems) == 1
    key = load_pem_private_key(pems.pop(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048


def test_legacy_key_names_and_frame_length_match_messages() -> None:
    for case in load_legacy():
        edks, frame_length = _v1_edks_and_frame_length(case.ciphertext)
        assert frame_length == case.frame_length, case.name
        stored = Counter((pid.decode(), info) for pid, info, _ in edks)
        for mk in case.master_keys:
            if mk.type == "aws-kms":
                assert any(pid == mk.provider_id for pid, _ in stored), case.name
                continue
            name = mk.key_name_bytes
            assert name is not None
            if mk.encryption_algorithm == "aes":
                # key name · UInt32 tag bits (128) · UInt32 IV length (12) · 12-byte IV
                matches = [info for pid, info in stored if pid == mk.provider_id and info[: len(name)] == name]
                assert len(matches) == 1, case.name
                assert matches[0][len(name) : len(name) + 8] == bytes.fromhex("000000800000000c")
                assert len(matches[0]) == len(name) + 8 + 12
            else:
                assert (mk.provider_id, name) in stored, case.name


def test_commitment_counts_and_fields() -> None:
    cases = load_commitment()
    assert len(cases) == 46
    assert len({c.name for c in cases}) == 46
    assert Counter(c.keyring_type for c in cases) == {"static": 2, "aws-kms": 44}
    assert [c.index for c in cases if not c.status] == [2, 12, 13, 20, 21]
    for case in cases:
        assert case.ciphertext[0] == 0x02 and case.suite_id in (0x0478, 0x0578)
        assert case.message_id == case.ciphertext[3:35]
        assert case.commitment is not None and len(case.commitment) == 32
        assert len(case.decrypted_dek) == 32
        if case.status:
            assert case.exception is None and case.plaintext is not None
            assert case.plaintext == b"".join(case.plaintext_frames)
        else:
            assert case.exception is not None
        if case.header is not None:
            assert case.ciphertext.startswith(case.header)
        if case.footer is not None:
            assert case.ciphertext.endswith(case.footer)


def test_decrypt_oracle_counts_and_edks() -> None:
    cases = load_decrypt_oracle()
    assert len(cases) == 27
    assert len({c.name for c in cases}) == 27
    assert sum(not c.kms_only for c in cases) == 18
    assert Counter(c.key_type for c in cases) == {
        None: 9,
        "test_counting": 9,
        "aws-kms": 9,
    }
    for case in cases:
        assert case.suite_id == int.from_bytes(case.ciphertext[2:4], "big")
        assert len(case.plaintext) == 64
        edks, _ = _v1_edks_and_frame_length(case.ciphertext)
        assert [pid.decode() for pid, _, _ in edks] == [case.provider_id]
        _, info, edk_ciphertext = edks[0]
        if case.key_type is None:
            assert (info, edk_ciphertext) == (vectors.NULL_PROVIDER_INFO, b"")
            assert case.known_data_key == bytes(SUITE_DATA_KEY_LENGTH[case.suite_id])
        elif case.key_type == "test_counting":
            assert info == vectors.COUNTING_PROVIDER_INFO
            assert edk_ciphertext == vectors.COUNTING_EDK_CIPHERTEXT
            assert case.known_data_key is not None and case.known_data_key[:3] == b"\x01\x02\x03"
        else:
            assert info.startswith(b"arn:aws:kms:") and case.known_data_key is None
