"""Keyrings and materials managers for the S3 transfers' worker thread: a sync one as it is, an
async one (:class:`~busta.aio.AsyncKeyring`, :class:`~busta.aio.AsyncCryptoMaterialsManager`)
awaited on the event loop through the bridge. The inverse of :mod:`busta.aio._offload`, which
runs a sync keyring in a thread for code on the loop: here the code runs in a thread and the
async keyring on the loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..format import EncryptedDataKey
from ..materials import DecryptionMaterials, DecryptionRequest, EncryptionMaterials, EncryptionRequest
from ._protocols import AsyncCryptoMaterialsManager, AsyncKeyring, is_async_keyring, is_async_materials_manager
from ._s3_bridge import Bridge

__all__ = ["for_thread"]


class _KeyringOnLoop:
    """An async keyring as the sync one the worker thread calls."""

    def __init__(self, keyring: AsyncKeyring, bridge: Bridge) -> None:
        self._keyring, self._bridge = keyring, bridge

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        return self._bridge.run(lambda: self._keyring.on_encrypt(materials))

    def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        return self._bridge.run(lambda: self._keyring.on_decrypt(materials, encrypted_data_keys))


class _ManagerOnLoop:
    """An async materials manager as the sync one the worker thread calls."""

    def __init__(self, manager: AsyncCryptoMaterialsManager, bridge: Bridge) -> None:
        self._manager, self._bridge = manager, bridge

    def get_encryption_materials(self, request: EncryptionRequest) -> EncryptionMaterials:
        return self._bridge.run(lambda: self._manager.get_encryption_materials(request))

    def decrypt_materials(self, request: DecryptionRequest) -> DecryptionMaterials:
        return self._bridge.run(lambda: self._manager.decrypt_materials(request))


def for_thread(keyring: Any, materials_manager: Any, bridge: Bridge) -> tuple[Any, Any]:
    """``keyring`` and ``materials_manager`` as the sync API takes them, in the worker thread."""
    if is_async_keyring(keyring):
        keyring = _KeyringOnLoop(keyring, bridge)
    if is_async_materials_manager(materials_manager):
        materials_manager = _ManagerOnLoop(materials_manager, bridge)
    return keyring, materials_manager
