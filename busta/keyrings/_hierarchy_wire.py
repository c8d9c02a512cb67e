"""The hierarchical keyring's encrypted data key, and the key derivation behind it.

Encrypted data key layout (the specification's AWS KMS hierarchical keyring)::

    provider id   = "aws-kms-hierarchy"
    provider info = the branch key id (UTF-8)
    ciphertext    = salt (16) | IV (12) | branch key version (16: the UUID's bytes)
                    | AES-256-GCM(derived key, IV, data key, AAD) | tag (16)

    derived key   = HMAC-SHA256(branch key, 00000001 | "aws-kms-hierarchy" | 00 | salt | 00000100)
                    (NIST SP 800-108 KDF in counter mode, one block of 256 bits)
    AAD           = "aws-kms-hierarchy" | branch key id (UTF-8) | version (16 bytes)
                    | the serialized encryption context of the message
"""

from __future__ import annotations

import hmac
import os
import uuid
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .._frozen import record
from ..errors import KeyringError
from ..format import EncryptedDataKey
from ._ddb_items import BranchKeyMaterials

__all__ = ["PROVIDER_ID", "WrappedKey", "derive_key", "parse", "unwrap", "wrap"]

PROVIDER_ID: Final = "aws-kms-hierarchy"
_LABEL: Final = PROVIDER_ID.encode("ascii")
SALT_BYTES: Final = 16
IV_BYTES: Final = 12
VERSION_BYTES: Final = 16
TAG_BYTES: Final = 16
_HEAD: Final = SALT_BYTES + IV_BYTES + VERSION_BYTES


def derive_key(branch_key: bytes, salt: bytes) -> bytes:
    """The 32-byte wrapping key of one data key: the KDF in counter mode, HMAC-SHA256, one block."""
    block = b"\x00\x00\x00\x01" + _LABEL + b"\x00" + salt + b"\x00\x00\x01\x00"
    return hmac.digest(branch_key, block, "sha256")


def _aad(branch_key_id: str, version: bytes, serialized_context: bytes) -> bytes:
    return _LABEL + branch_key_id.encode("utf-8") + version + serialized_context


def wrap(materials: BranchKeyMaterials, data_key: bytes, serialized_context: bytes) -> EncryptedDataKey:
    salt, iv = os.urandom(SALT_BYTES), os.urandom(IV_BYTES)
    version = materials.version_bytes
    aead = AESGCM(derive_key(materials.key.reveal(), salt))
    sealed = aead.encrypt(iv, data_key, _aad(materials.branch_key_id, version, serialized_context))
    return EncryptedDataKey(PROVIDER_ID, materials.branch_key_id.encode("utf-8"), salt + iv + version + sealed)


@record
class WrappedKey:
    """A hierarchical data key, parsed: the branch key version it names and its sealed parts."""

    salt: bytes
    iv: bytes
    version: str
    sealed: bytes  # encrypted data key | tag


def parse(edk: EncryptedDataKey, key_bytes: int) -> WrappedKey | str:
    """The parts of an untrusted ciphertext, or why it has the wrong shape."""
    ciphertext = edk.ciphertext
    if len(ciphertext) != _HEAD + key_bytes + TAG_BYTES:
        return f"hierarchical data key is {len(ciphertext)} bytes, not {_HEAD + key_bytes + TAG_BYTES}"
    version = str(uuid.UUID(bytes=bytes(ciphertext[SALT_BYTES + IV_BYTES : _HEAD])))
    return WrappedKey(
        ciphertext[:SALT_BYTES], ciphertext[SALT_BYTES : SALT_BYTES + IV_BYTES], version, ciphertext[_HEAD:]
    )


def unwrap(materials: BranchKeyMaterials, wrapped: WrappedKey, serialized_context: bytes) -> bytes:
    aead = AESGCM(derive_key(materials.key.reveal(), wrapped.salt))
    aad = _aad(materials.branch_key_id, materials.version_bytes, serialized_context)
    try:
        return aead.decrypt(wrapped.iv, wrapped.sealed, aad)
    except InvalidTag:
        raise KeyringError("hierarchical data key did not authenticate (wrong branch key or context)") from None
