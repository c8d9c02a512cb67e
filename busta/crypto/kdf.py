"""Deriving the message's encryption key (and commitment key) from its data key."""

from __future__ import annotations

import hmac
from typing import NamedTuple, NoReturn

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hmac import HMAC

from .._secrets import SecretBytes, refuse_pickling
from ..errors import AuthenticationError
from ..suites import COMMITMENT_BYTES, AlgorithmSuite

__all__ = ["DerivedKeys", "check_commitment", "derive_keys"]

_DERIVE_LABEL = b"DERIVEKEY"
_COMMIT_LABEL = b"COMMITKEY"

_HASH_BYTES = {"sha256": 32, "sha384": 48, "sha512": 64}
#: Each suite's two-byte id, as the KDF's info starts with it.
_SUITE_IDS = {suite.id: suite.id.to_bytes(2, "big") for suite in AlgorithmSuite}
# cryptography's HMAC is keyed once and copied for each expansion: about half the time of ``hmac.digest``,
# which looks its digest up by name on every call (three times per message).
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}


class DerivedKeys(NamedTuple):
    """The AEAD keyed for one message's header and body, and its commitment value (v2); a named tuple,
    made for every message."""

    aead: AESGCM
    commitment: bytes

    def __repr__(self) -> str:
        return "DerivedKeys(<redacted>)"

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)


def derive_keys(suite: AlgorithmSuite, data_key: SecretBytes, message_id: bytes) -> DerivedKeys:
    """Derive the encryption key per the suite's KDF (and the commitment key for committing suites).

    Every ESDK key is at most 32 bytes, within one block of its HKDF hash, so HKDF (RFC 5869) is
    written out here: Extract, then one Expand block per key, T(1) = HMAC(PRK, info | 0x01).
    """
    ikm = data_key.reveal()
    digest = suite.kdf_hash
    if digest is None:
        return DerivedKeys(AESGCM(ikm), b"")
    algorithm = _HASHES[digest]
    if not suite.committing:
        extract = HMAC(bytes(_HASH_BYTES[digest]), algorithm)  # HKDF-Extract, no salt = zeros
        extract.update(ikm)
        expand = HMAC(extract.finalize(), algorithm)
        expand.update(_SUITE_IDS[suite.id] + message_id + b"\x01")
        return DerivedKeys(AESGCM(expand.finalize()[: suite.key_bytes]), b"")
    extract = HMAC(message_id, algorithm)  # HKDF-Extract, salt = message id
    extract.update(ikm)
    expand = HMAC(extract.finalize(), algorithm)
    commit = expand.copy()
    expand.update(_SUITE_IDS[suite.id] + _DERIVE_LABEL + b"\x01")
    commit.update(_COMMIT_LABEL + b"\x01")
    return DerivedKeys(AESGCM(expand.finalize()[: suite.key_bytes]), commit.finalize()[:COMMITMENT_BYTES])


def check_commitment(expected: bytes, stored: bytes) -> None:
    """Compare commitment values in constant time."""
    if not hmac.compare_digest(expected, stored):
        raise AuthenticationError("key commitment does not match: wrong data key or altered header")
