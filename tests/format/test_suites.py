"""Algorithm suites: each member's facts, read as plain attributes, and lookup by wire id."""

from __future__ import annotations

import pickle

import pytest

from busta.errors import UsageError
from busta.suites import COMMITMENT_BYTES, IV_BYTES, SUITES_BY_ID, TAG_BYTES, AlgorithmSuite

#: The ESDK's suite table (wire id: message format, key bytes, KDF hash, curve, committing).
TABLE = {
    0x0014: (1, 16, None, None, False),
    0x0046: (1, 24, None, None, False),
    0x0078: (1, 32, None, None, False),
    0x0114: (1, 16, "sha256", None, False),
    0x0146: (1, 24, "sha256", None, False),
    0x0178: (1, 32, "sha256", None, False),
    0x0214: (1, 16, "sha256", "secp256r1", False),
    0x0346: (1, 24, "sha384", "secp384r1", False),
    0x0378: (1, 32, "sha384", "secp384r1", False),
    0x0478: (2, 32, "sha512", None, True),
    0x0578: (2, 32, "sha512", "secp384r1", True),
}


@pytest.mark.parametrize("suite_id", sorted(TABLE), ids=lambda i: f"0x{i:04x}")
def test_every_suite_carries_the_facts_of_the_esdk_table(suite_id: int) -> None:
    suite = AlgorithmSuite(suite_id)
    message_format, key_bytes, kdf_hash, curve, committing = TABLE[suite_id]
    assert (suite.id, suite.value) == (suite_id, suite_id)
    assert (suite.message_format, suite.key_bytes, suite.kdf_hash, suite.curve) == (
        message_format,
        key_bytes,
        kdf_hash,
        curve,
    )
    assert suite.signed is (curve is not None)
    assert suite.committing is committing
    assert (suite.iv_bytes, suite.tag_bytes) == (IV_BYTES, TAG_BYTES)
    assert suite.suite_data_bytes == (COMMITMENT_BYTES if committing else 0)
    assert suite.spec.key_bytes == key_bytes
    assert AlgorithmSuite.from_id(suite_id) is SUITES_BY_ID[suite_id] is suite
    assert pickle.loads(pickle.dumps(suite)) is suite


def test_the_table_names_every_suite() -> None:
    assert sorted(s.id for s in AlgorithmSuite) == sorted(TABLE) == sorted(SUITES_BY_ID)


@pytest.mark.parametrize("fact", ["id", "signed", "committing", "key_bytes", "kdf_hash", "suite_data_bytes"])
def test_a_suites_facts_are_read_only(fact: str) -> None:
    suite = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
    before = getattr(suite, fact)
    with pytest.raises(AttributeError, match="read-only"):
        setattr(suite, fact, 0)
    assert getattr(suite, fact) == before


@pytest.mark.parametrize("bad", [0x0001, 0xFFFF, -1, "0x0478", None, 4.0])
def test_an_unknown_id_is_a_usage_error_naming_it(bad: object) -> None:
    with pytest.raises(UsageError, match="unknown algorithm suite id"):
        AlgorithmSuite.from_id(bad)  # type: ignore[arg-type]
