"""Algorithm suites, keyed by their two-byte wire id, and commitment policies.

This module is pure data: the names of hash functions and curves, not their
implementations (those live in :mod:`busta.crypto`).
"""

from __future__ import annotations

import enum

from ._frozen import field_names, record
from .errors import PolicyError, UsageError

__all__ = ["SUITES_BY_ID", "AlgorithmSuite", "CommitmentPolicy", "SuiteSpec"]


@record
class SuiteSpec:
    """What an algorithm suite is made of."""

    message_format: int  # 1 or 2
    key_bytes: int  # data key and encryption key length
    kdf_hash: str | None  # "sha256", "sha384", "sha512" or None (no KDF)
    curve: str | None  # "secp256r1", "secp384r1" or None (unsigned)
    committing: bool


#: The header IV length, tag length and v2 commitment length: the same for every suite.
IV_BYTES = 12
TAG_BYTES = 16
COMMITMENT_BYTES = 32
#: The attributes of a suite, each set once (below the class).
_FACTS = frozenset(field_names(SuiteSpec)) | {
    "id",
    "spec",
    "signed",
    "iv_bytes",
    "tag_bytes",
    "suite_data_bytes",
}


class AlgorithmSuite(enum.Enum):
    """The ESDK algorithm suites; the value is the wire id.

    Each member's facts are plain attributes, read-only, set once below the class (they are read
    several times on every message's path, where a property call per read would add up).
    """

    id: int  # the two-byte wire id (the value)
    spec: SuiteSpec
    message_format: int  # 1 or 2
    key_bytes: int  # data key and encryption key length
    kdf_hash: str | None  # "sha256", "sha384", "sha512" or None (no KDF)
    curve: str | None  # "secp256r1", "secp384r1" or None (unsigned)
    signed: bool
    committing: bool
    iv_bytes: int
    tag_bytes: int
    suite_data_bytes: int  # length of the v2 header's suite data (the commitment key)

    AES_128_GCM_IV12_TAG16_NO_KDF = 0x0014
    AES_192_GCM_IV12_TAG16_NO_KDF = 0x0046
    AES_256_GCM_IV12_TAG16_NO_KDF = 0x0078
    AES_128_GCM_IV12_TAG16_HKDF_SHA256 = 0x0114
    AES_192_GCM_IV12_TAG16_HKDF_SHA256 = 0x0146
    AES_256_GCM_IV12_TAG16_HKDF_SHA256 = 0x0178
    AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256 = 0x0214
    AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384 = 0x0346
    AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384 = 0x0378
    AES_256_GCM_HKDF_SHA512_COMMIT_KEY = 0x0478
    AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384 = 0x0578

    @classmethod
    def from_id(cls, suite_id: int) -> AlgorithmSuite:
        """Look a suite up by wire id; raises :class:`UsageError` for an unknown id."""
        suite = SUITES_BY_ID.get(suite_id) if isinstance(suite_id, int) else None
        if suite is None:
            shown = f"0x{suite_id:04x}" if isinstance(suite_id, int) else repr(suite_id)
            raise UsageError(f"unknown algorithm suite id {shown}")
        return suite

    def __setattr__(self, name: str, value: object) -> None:
        if name in _FACTS and name in self.__dict__:
            raise AttributeError(f"{name} of {self.name} is read-only")
        super().__setattr__(name, value)


_S = SuiteSpec
_SPECS: dict[int, SuiteSpec] = {
    0x0014: _S(1, 16, None, None, False),
    0x0046: _S(1, 24, None, None, False),
    0x0078: _S(1, 32, None, None, False),
    0x0114: _S(1, 16, "sha256", None, False),
    0x0146: _S(1, 24, "sha256", None, False),
    0x0178: _S(1, 32, "sha256", None, False),
    0x0214: _S(1, 16, "sha256", "secp256r1", False),
    0x0346: _S(1, 24, "sha384", "secp384r1", False),
    0x0378: _S(1, 32, "sha384", "secp384r1", False),
    0x0478: _S(2, 32, "sha512", None, True),
    0x0578: _S(2, 32, "sha512", "secp384r1", True),
}
for _suite in AlgorithmSuite:
    _spec = _SPECS[_suite.value]
    _suite.id, _suite.spec = _suite.value, _spec
    _suite.message_format, _suite.key_bytes, _suite.kdf_hash = _spec.message_format, _spec.key_bytes, _spec.kdf_hash
    _suite.curve, _suite.signed, _suite.committing = _spec.curve, _spec.curve is not None, _spec.committing
    _suite.iv_bytes, _suite.tag_bytes = IV_BYTES, TAG_BYTES
    _suite.suite_data_bytes = COMMITMENT_BYTES if _spec.committing else 0

#: Every suite by wire id: a dict lookup costs a tenth of the enum call ``AlgorithmSuite(suite_id)``.
SUITES_BY_ID: dict[int, AlgorithmSuite] = {suite.id: suite for suite in AlgorithmSuite}


class CommitmentPolicy(enum.Enum):
    """Which suites may be used to encrypt and which messages may be decrypted."""

    FORBID_ENCRYPT_ALLOW_DECRYPT = "forbid-encrypt-allow-decrypt"
    REQUIRE_ENCRYPT_ALLOW_DECRYPT = "require-encrypt-allow-decrypt"
    REQUIRE_ENCRYPT_REQUIRE_DECRYPT = "require-encrypt-require-decrypt"

    @property
    def default_suite(self) -> AlgorithmSuite:
        """The suite used for encryption when the caller names none."""
        if self is CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT:
            return AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384
        return AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384

    def check_encrypt(self, suite: AlgorithmSuite) -> None:
        """Raise :class:`PolicyError` unless ``suite`` may be used to encrypt."""
        if self is CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT and suite.committing:
            raise PolicyError(f"{self.name} forbids encrypting with the committing suite {suite.name}").remedied(
                f"commitment policy {self.value} forbids encrypting with the committing suite {suite.name}",
                "commitment_policy",
                CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT.value,
            )
        if self is not CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT and not suite.committing:
            raise PolicyError(
                f"{self.name} requires a committing suite; {suite.name} does not commit to its key"
            ).remedied(
                f"commitment policy {self.value} requires a committing suite; {suite.name} does not commit to its key",
                "commitment_policy",
                CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT.value,
            )

    def check_decrypt(self, suite: AlgorithmSuite) -> None:
        """Raise :class:`PolicyError` unless a message of ``suite`` may be decrypted."""
        if self is CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT and not suite.committing:
            accepting = CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
            raise PolicyError(
                f"{self.name} refuses to decrypt a message of the non-committing suite {suite.name}"
                f" (use a busta.Client(commitment_policy=CommitmentPolicy.{accepting.name}) to accept it)"
            ).remedied(
                f"commitment policy {self.value} refuses to decrypt a message of the non-committing suite"
                f" {suite.name}, a legacy message",
                "commitment_policy",
                accepting.value,
            )


DEFAULT_COMMITMENT_POLICY = CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
DEFAULT_SUITE = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
