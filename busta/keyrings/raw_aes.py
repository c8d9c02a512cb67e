"""The raw AES keyring: wraps data keys with a local AES-GCM key.

Encrypted data key layout (the ESDK raw AES keyring)::

    provider id   = namespace
    provider info = key name | UInt32 tag length in bits (128) | UInt32 IV length (12) | IV
    ciphertext    = AES-GCM(wrapping key, IV, data key, AAD = serialized encryption context) | tag
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from typing import NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .._secrets import SecretBytes, refuse_pickling
from ..context import serialize_context
from ..errors import KeyringError, UsageError
from ..format import EncryptedDataKey
from ..materials import DecryptionMaterials, EncryptionMaterials
from ..suites import IV_BYTES, TAG_BYTES
from ._common import check_names, new_data_key, unwrap_first

__all__ = ["RawAesKeyring"]

_TAG_IV = struct.Struct(">II")
_WRAPPING_KEY_BYTES = (16, 24, 32)


class RawAesKeyring:
    """Wraps data keys under a local AES-128/192/256-GCM key.

    ``namespace`` and ``name`` identify the key in messages (the provider id and
    key name); a message decrypts only with a keyring of the same namespace, name
    and key. Thread-safe: it holds no mutable state.
    """

    __slots__ = ("_aead", "_info_prefix", "_key", "name", "namespace")

    def __init__(self, namespace: str, name: str, key: bytes | SecretBytes):
        check_names("RawAesKeyring", namespace, name)
        secret = key if isinstance(key, SecretBytes) else SecretBytes(key)
        if len(secret) not in _WRAPPING_KEY_BYTES:
            raise UsageError(f"an AES wrapping key must be 16, 24 or 32 bytes, not {len(secret)}")
        self.namespace = namespace
        self.name = name
        self._key = secret
        self._aead = AESGCM(secret.reveal())
        self._info_prefix = name.encode("utf-8") + _TAG_IV.pack(TAG_BYTES * 8, IV_BYTES)

    def __repr__(self) -> str:
        key = getattr(self, "_key", None)  # absent if the constructor failed (tracebacks with locals call repr)
        bits = f"{len(key) * 8}-bit" if key is not None else "no"
        namespace, name = getattr(self, "namespace", None), getattr(self, "name", None)
        return f"RawAesKeyring(namespace={namespace!r}, name={name!r}, key=<{bits} redacted>)"

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        data_key = materials.data_key
        made = data_key is None
        if data_key is None:
            data_key = new_data_key(materials)
        iv = os.urandom(IV_BYTES)
        aad = serialize_context(materials.encryption_context)
        wrapped = self._aead.encrypt(iv, data_key.reveal(), aad)
        edk = EncryptedDataKey(self.namespace, self._info_prefix + iv, wrapped)
        # one step for a key made here (every default encryption): the materials are copied once, not twice
        return materials.with_data_key(data_key, edk) if made else materials.with_encrypted_data_key(edk)

    def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        aad = serialize_context(materials.encryption_context)

        def attempt(edk: EncryptedDataKey) -> bytes | str | None:
            if edk.provider_id != self.namespace or not edk.provider_info.startswith(self._info_prefix):
                return None
            iv = edk.provider_info[len(self._info_prefix) :]
            if len(iv) != IV_BYTES or len(edk.ciphertext) != materials.suite.key_bytes + TAG_BYTES:
                return "encrypted data key has the wrong shape"
            try:
                return self._aead.decrypt(iv, edk.ciphertext, aad)
            except InvalidTag:
                raise KeyringError("data key did not authenticate (wrong key or encryption context)") from None

        return unwrap_first(self, "raw AES keyring", materials, encrypted_data_keys, attempt)
