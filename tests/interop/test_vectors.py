"""The official ESDK test vectors (../shared/vectors) decrypt, or fail, as published."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

import busta
from busta import CommitmentPolicy
from busta.errors import BustaError
from busta.keyrings import MultiKeyring, RawAesKeyring, RawRsaKeyring, RsaPadding

from ..support.keyrings import KnownDataKeyKeyring
from ..support.vectors import (
    CommitmentCase,
    LegacyCase,
    MasterKeyDesc,
    OracleCase,
    load_commitment,
    load_decrypt_oracle,
    load_legacy,
)

ALLOW_V1 = CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT

LEGACY = [c for c in load_legacy() if c.raw_decryptable]
ORACLE = [c for c in load_decrypt_oracle() if not c.kms_only]
COMMITMENT = load_commitment()

_RSA_PADDING = {("PKCS1", None): RsaPadding.PKCS1, ("OAEP-MGF1", "SHA-1"): RsaPadding.OAEP_SHA1}


def _keyring(key: MasterKeyDesc) -> busta.Keyring:
    assert key.key_name is not None
    if key.encryption_algorithm == "aes":
        assert key.key_bytes is not None
        return RawAesKeyring(key.provider_id, key.key_name, key.key_bytes)
    assert key.pem is not None
    private = load_pem_private_key(key.pem, password=None)
    padding = _RSA_PADDING[(key.padding_algorithm or "", key.padding_hash)]
    return RawRsaKeyring(key.provider_id, key.key_name, private_key=private, padding=padding)  # type: ignore[arg-type]


def test_the_expected_number_of_vectors_is_run() -> None:
    assert (len(LEGACY), len(ORACLE), len(COMMITMENT)) == (900, 18, 46)


@pytest.mark.parametrize("case", LEGACY, ids=lambda c: c.name)
def test_legacy_raw_key_vector_decrypts(case: LegacyCase) -> None:
    keyrings = [_keyring(k) for k in case.raw_keys]
    keyring = keyrings[0] if len(keyrings) == 1 else MultiKeyring(children=keyrings)
    result = busta.Client(commitment_policy=ALLOW_V1).decrypt(case.ciphertext, keyring=keyring)
    assert result.plaintext == case.plaintext
    assert result.header.suite.id == case.suite_id
    assert result.header.frame_length == case.frame_length


@pytest.mark.parametrize("case", ORACLE, ids=lambda c: c.name)
def test_decrypt_oracle_vector_decrypts(case: OracleCase) -> None:
    assert case.known_data_key is not None
    keyring = KnownDataKeyKeyring(case.provider_id, case.known_data_key)
    assert (
        busta.Client(commitment_policy=ALLOW_V1).decrypt(case.ciphertext, keyring=keyring).plaintext == case.plaintext
    )


@pytest.mark.parametrize("case", COMMITMENT, ids=lambda c: c.name)
def test_commitment_vector(case: CommitmentCase) -> None:
    keyring = KnownDataKeyKeyring(None, case.decrypted_dek)
    if not case.status:
        with pytest.raises(BustaError):
            busta.decrypt(case.ciphertext, keyring=keyring)
        return
    result = busta.decrypt(case.ciphertext, keyring=keyring)
    assert result.plaintext == case.plaintext
    assert result.header.suite.id == case.suite_id
    if case.commitment is not None:
        assert result.header.suite_data == case.commitment
    if case.message_id is not None:
        assert result.header.message_id == case.message_id
    assert result.header.encryption_context == case.encryption_context


# Every test here runs against the serial and the parallel engine.
pytestmark = pytest.mark.usefixtures("engine_mode")
