"""Materials, and the keyring and crypto-materials-manager contracts."""

from .base import (
    CryptoMaterialsManager,
    DecryptionMaterials,
    DecryptionRequest,
    EncryptionMaterials,
    EncryptionRequest,
    Keyring,
    is_keyring,
    is_materials_manager,
)
from .default_cmm import DefaultCryptoMaterialsManager

__all__ = [
    "CryptoMaterialsManager",
    "DecryptionMaterials",
    "DecryptionRequest",
    "DefaultCryptoMaterialsManager",
    "EncryptionMaterials",
    "EncryptionRequest",
    "Keyring",
    "is_keyring",
    "is_materials_manager",
]
