"""Materials, and the keyring and crypto-materials-manager contracts.

The caching materials manager and its cache load on first use (``busta.materials.caching``: a
twentieth of ``import busta``, for what few messages use).
"""

from typing import TYPE_CHECKING, Any

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
from .required import RequiredEncryptionContextCmm

if TYPE_CHECKING:
    from .caching import CachingCryptoMaterialsManager, LruMaterialsCache

#: The names loaded on first use, with the module that has them.
_LAZY: dict[str, str] = {
    "CachingCryptoMaterialsManager": "busta.materials.caching",
    "LruMaterialsCache": "busta.materials.caching",
}

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


def __getattr__(name: str) -> Any:
    """A name of ``_LAZY``, its module imported now."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib  # noqa: PLC0415

    return getattr(importlib.import_module(module), name)
