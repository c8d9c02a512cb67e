"""Async test keyrings and materials managers for tests/aio."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from busta import DecryptionMaterials, EncryptedDataKey, EncryptionMaterials
from busta.keyrings import RawAesKeyring
from busta.materials import DecryptionRequest, EncryptionRequest

AES_KEY = bytes(range(0x40, 0x60))


def aes_keyring(name: str = "aio-aes-256") -> RawAesKeyring:
    return RawAesKeyring("aio-namespace", name, AES_KEY)


@dataclass
class AsyncAesKeyring:
    """A raw AES keyring behind coroutines, sleeping ``delay`` seconds per call and counting calls."""

    inner: RawAesKeyring = field(default_factory=aes_keyring)
    delay: float = 0.0
    calls: int = 0
    fail: BaseException | None = None

    async def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return self.inner.on_encrypt(materials)

    async def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return self.inner.on_decrypt(materials, encrypted_data_keys)


@dataclass
class ThreadRecordingKeyring:
    """A sync keyring that records the thread of each call."""

    inner: RawAesKeyring = field(default_factory=aes_keyring)
    threads: list[int] = field(default_factory=list)

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        self.threads.append(threading.get_ident())
        return self.inner.on_encrypt(materials)

    def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        self.threads.append(threading.get_ident())
        return self.inner.on_decrypt(materials, encrypted_data_keys)


class FixedMaterialsCmm:
    """A sync materials manager that returns the same encryption materials every time."""

    def __init__(self, materials: EncryptionMaterials, keyring: RawAesKeyring):
        self.materials = materials
        self.keyring = keyring

    def get_encryption_materials(self, request: EncryptionRequest) -> EncryptionMaterials:
        return self.materials

    def decrypt_materials(self, request: DecryptionRequest) -> DecryptionMaterials:
        raise NotImplementedError


class AsyncFixedMaterialsCmm(FixedMaterialsCmm):
    """The same, awaited."""

    async def get_encryption_materials(self, request: EncryptionRequest) -> EncryptionMaterials:  # type: ignore[override]
        await asyncio.sleep(0)
        return self.materials

    async def decrypt_materials(self, request: DecryptionRequest) -> DecryptionMaterials:  # type: ignore[override]
        raise NotImplementedError
