"""Deriving the message's encryption key (and commitment key) from its data key."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import NoReturn

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

from .._secrets import SecretBytes, refuse_pickling
from ..errors import AuthenticationError
from ..suites import COMMITMENT_BYTES, AlgorithmSuite

__all__ = ["DerivedKeys", "derive_keys", "hash_algorithm"]

_DERIVE_LABEL = b"DERIVEKEY"
_COMMIT_LABEL = b"COMMITKEY"

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def hash_algorithm(name: str) -> hashes.HashAlgorithm:
    return _HASHES[name]()


@dataclass(frozen=True, slots=True, repr=False)
class DerivedKeys:
    """The AEAD keyed for one message's header and body, and its commitment value (v2)."""

    aead: AESGCM
    commitment: bytes

    def __repr__(self) -> str:
        return "DerivedKeys(<redacted>)"

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)


def derive_keys(suite: AlgorithmSuite, data_key: SecretBytes, message_id: bytes) -> DerivedKeys:
    """Derive the encryption key per the suite's KDF (and the commitment key for committing suites)."""
    ikm = data_key.reveal()
    if suite.kdf_hash is None:
        return DerivedKeys(AESGCM(ikm), b"")
    algorithm = hash_algorithm(suite.kdf_hash)
    if not suite.committing:
        info = suite.id.to_bytes(2, "big") + message_id
        key = HKDF(algorithm, suite.key_bytes, salt=None, info=info).derive(ikm)
        return DerivedKeys(AESGCM(key), b"")
    prk = hmac.new(message_id, ikm, suite.kdf_hash).digest()  # HKDF-Extract, salt = message id
    key = HKDFExpand(algorithm, suite.key_bytes, suite.id.to_bytes(2, "big") + _DERIVE_LABEL).derive(prk)
    commitment = HKDFExpand(hash_algorithm(suite.kdf_hash), COMMITMENT_BYTES, _COMMIT_LABEL).derive(prk)
    return DerivedKeys(AESGCM(key), commitment)


def check_commitment(expected: bytes, stored: bytes) -> None:
    """Compare commitment values in constant time."""
    if not hmac.compare_digest(expected, stored):
        raise AuthenticationError("key commitment does not match: wrong data key or altered header")
