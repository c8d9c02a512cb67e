"""What an async keyring and an async materials manager are: the sync protocols, with coroutines."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Protocol, TypeGuard, runtime_checkable

from ..format import EncryptedDataKey
from ..materials import DecryptionMaterials, DecryptionRequest, EncryptionMaterials, EncryptionRequest

__all__ = ["AsyncCryptoMaterialsManager", "AsyncKeyring", "is_async_keyring", "is_async_materials_manager"]


@runtime_checkable
class AsyncKeyring(Protocol):
    """:class:`busta.materials.Keyring`, awaited: the same contract, methods of the same names."""

    async def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials: ...

    async def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials: ...


@runtime_checkable
class AsyncCryptoMaterialsManager(Protocol):
    """:class:`busta.materials.CryptoMaterialsManager`, awaited."""

    async def get_encryption_materials(self, request: EncryptionRequest) -> EncryptionMaterials: ...

    async def decrypt_materials(self, request: DecryptionRequest) -> DecryptionMaterials: ...


def is_async_keyring(obj: object) -> TypeGuard[AsyncKeyring]:
    """True if ``obj`` has both keyring methods and they are coroutine functions."""
    return all(inspect.iscoroutinefunction(getattr(obj, name, None)) for name in ("on_encrypt", "on_decrypt"))


def is_async_materials_manager(obj: object) -> TypeGuard[AsyncCryptoMaterialsManager]:
    """True if ``obj`` has both materials-manager methods and they are coroutine functions."""
    names = ("get_encryption_materials", "decrypt_materials")
    return all(inspect.iscoroutinefunction(getattr(obj, name, None)) for name in names)
