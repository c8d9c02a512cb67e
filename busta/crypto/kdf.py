"""Deriving the message's encryption key (and commitment key) from its data key."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import NoReturn

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .._secrets import SecretBytes, refuse_pickling
from ..errors import AuthenticationError
from ..suites import COMMITMENT_BYTES, AlgorithmSuite

__all__ = ["DerivedKeys", "check_commitment", "derive_keys"]

_DERIVE_LABEL = b"DERIVEKEY"
_COMMIT_LABEL = b"COMMITKEY"

_HASH_BYTES = {"sha256": 32, "sha384": 48, "sha512": 64}


@dataclass(frozen=True, slots=True, repr=False)
class DerivedKeys:
    """The AEAD keyed for one message's header and body, and its commitment value (v2)."""

    aead: AESGCM
    commitment: bytes

    def __repr__(self) -> str:
        return "DerivedKeys(<redacted>)"

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)


def _hkdf_expand_one_block(digest: str, prk: bytes, info: bytes, length: int) -> bytes:
    """HKDF-Expand (RFC 5869) for outputs no longer than one hash block: T(1) = HMAC(PRK, info | 0x01)."""
    return hmac.digest(prk, info + b"\x01", digest)[:length]


def derive_keys(suite: AlgorithmSuite, data_key: SecretBytes, message_id: bytes) -> DerivedKeys:
    """Derive the encryption key per the suite's KDF (and the commitment key for committing suites).

    Every ESDK key is at most 32 bytes, within one block of its HKDF hash, so
    HKDF is written out here with ``hmac.digest`` (one C call per step).
    """
    ikm = data_key.reveal()
    digest = suite.kdf_hash
    if digest is None:
        return DerivedKeys(AESGCM(ikm), b"")
    suite_id = suite.id.to_bytes(2, "big")
    if not suite.committing:
        prk = hmac.digest(bytes(_HASH_BYTES[digest]), ikm, digest)  # HKDF-Extract, no salt = zeros
        key = _hkdf_expand_one_block(digest, prk, suite_id + message_id, suite.key_bytes)
        return DerivedKeys(AESGCM(key), b"")
    prk = hmac.digest(message_id, ikm, digest)  # HKDF-Extract, salt = message id
    key = _hkdf_expand_one_block(digest, prk, suite_id + _DERIVE_LABEL, suite.key_bytes)
    commitment = _hkdf_expand_one_block(digest, prk, _COMMIT_LABEL, COMMITMENT_BYTES)
    return DerivedKeys(AESGCM(key), commitment)


def check_commitment(expected: bytes, stored: bytes) -> None:
    """Compare commitment values in constant time."""
    if not hmac.compare_digest(expected, stored):
        raise AuthenticationError("key commitment does not match: wrong data key or altered header")
