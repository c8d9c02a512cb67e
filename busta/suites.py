"""Algorithm suites, keyed by their two-byte wire id, and commitment policies.

This module is pure data: the names of hash functions and curves, not their
implementations (those live in :mod:`busta.crypto`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .errors import PolicyError, UsageError

__all__ = ["AlgorithmSuite", "CommitmentPolicy", "SuiteSpec"]


@dataclass(frozen=True, slots=True)
class SuiteSpec:
    """What an algorithm suite is made of."""

    message_format: int  # 1 or 2
    key_bytes: int  # data key and encryption key length
    kdf_hash: str | None  # "sha256", "sha384", "sha512" or None (no KDF)
    curve: str | None  # "secp256r1", "secp384r1" or None (unsigned)
    committing: bool


class AlgorithmSuite(enum.Enum):
    """The ESDK algorithm suites; the value is the wire id."""

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
        try:
            return cls(suite_id)
        except ValueError:
            raise UsageError(f"unknown algorithm suite id 0x{suite_id:04x}") from None

    @property
    def id(self) -> int:
        """The two-byte wire id."""
        return self.value

    @property
    def spec(self) -> SuiteSpec:
        return _SPECS[self._value_]

    @property
    def message_format(self) -> int:
        return _SPECS[self._value_].message_format

    @property
    def key_bytes(self) -> int:
        return _SPECS[self._value_].key_bytes

    @property
    def kdf_hash(self) -> str | None:
        return _SPECS[self._value_].kdf_hash

    @property
    def curve(self) -> str | None:
        return _SPECS[self._value_].curve

    @property
    def signed(self) -> bool:
        return _SPECS[self._value_].curve is not None

    @property
    def committing(self) -> bool:
        return _SPECS[self._value_].committing

    @property
    def iv_bytes(self) -> int:
        return IV_BYTES

    @property
    def tag_bytes(self) -> int:
        return TAG_BYTES

    @property
    def suite_data_bytes(self) -> int:
        """Length of the v2 header's suite data (the commitment key)."""
        return COMMITMENT_BYTES if self.committing else 0


IV_BYTES = 12
TAG_BYTES = 16
COMMITMENT_BYTES = 32

_S = SuiteSpec
_SPECS: dict[int, SuiteSpec] = {  # keyed by wire id: int hashing is cheaper than enum hashing
    AlgorithmSuite.AES_128_GCM_IV12_TAG16_NO_KDF.value: _S(1, 16, None, None, False),
    AlgorithmSuite.AES_192_GCM_IV12_TAG16_NO_KDF.value: _S(1, 24, None, None, False),
    AlgorithmSuite.AES_256_GCM_IV12_TAG16_NO_KDF.value: _S(1, 32, None, None, False),
    AlgorithmSuite.AES_128_GCM_IV12_TAG16_HKDF_SHA256.value: _S(1, 16, "sha256", None, False),
    AlgorithmSuite.AES_192_GCM_IV12_TAG16_HKDF_SHA256.value: _S(1, 24, "sha256", None, False),
    AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA256.value: _S(1, 32, "sha256", None, False),
    AlgorithmSuite.AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256.value: _S(1, 16, "sha256", "secp256r1", False),
    AlgorithmSuite.AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384.value: _S(1, 24, "sha384", "secp384r1", False),
    AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384.value: _S(1, 32, "sha384", "secp384r1", False),
    AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY.value: _S(2, 32, "sha512", None, True),
    AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384.value: _S(2, 32, "sha512", "secp384r1", True),
}


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
