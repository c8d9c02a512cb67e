"""Test-only keyrings."""

from __future__ import annotations

from collections.abc import Sequence

from busta import DecryptionMaterials, EncryptedDataKey, EncryptionMaterials, SecretBytes
from busta.errors import NoDecryptingKeyError


class KnownDataKeyKeyring:
    """Decrypt-only keyring that 'unwraps' any data key of ``provider_id`` to a known data key.

    The official vectors' test providers (null, test_counting) and the commitment
    vectors carry their plaintext data key; this keyring stands in for their providers.
    """

    def __init__(self, provider_id: str | None, data_key: bytes):
        self.provider_id = provider_id
        self.data_key = data_key

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        raise NotImplementedError("decrypt-only test keyring")

    def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        if any(self.provider_id in (None, edk.provider_id) for edk in encrypted_data_keys):
            return materials.with_data_key(SecretBytes(self.data_key))
        raise NoDecryptingKeyError("no data key for the test provider", [f"wanted {self.provider_id}"])
