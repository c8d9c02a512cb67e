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
from .caching import CachingCryptoMaterialsManager, LruMaterialsCache
from .default_cmm import DefaultCryptoMaterialsManager
from .required import RequiredEncryptionContextCmm

__all__ = [
    "CachingCryptoMaterialsManager",
    "CryptoMaterialsManager",
    "DecryptionMaterials",
    "DecryptionRequest",
    "DefaultCryptoMaterialsManager",
    "EncryptionMaterials",
    "EncryptionRequest",
    "Keyring",
    "LruMaterialsCache",
    "RequiredEncryptionContextCmm",
    "is_keyring",
    "is_materials_manager",
]
