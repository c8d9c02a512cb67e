"""Keeping the event loop free: blocking calls and large frame work run in a thread, never on the loop.

``off_loop`` runs a sync callable in the loop's default executor (``asyncio.to_thread``); ``frame_work``
does the same for engine work on more than :data:`~busta.limits.AIO_INLINE_BYTES` bytes and runs
smaller work inline, where a thread hand-off would cost more than the work. The sync keyrings and
materials managers that ``busta.aio`` accepts are wrapped here so that each of their calls is one
``off_loop`` call.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Sequence
from typing import ParamSpec, TypeVar

from .._arguments import materials_manager_for
from ..errors import UsageError
from ..format import EncryptedDataKey
from ..limits import AIO_INLINE_BYTES
from ..materials import (
    CryptoMaterialsManager,
    DecryptionMaterials,
    DecryptionRequest,
    EncryptionMaterials,
    EncryptionRequest,
    Keyring,
    is_keyring,
    is_materials_manager,
)
from ._protocols import AsyncCryptoMaterialsManager, AsyncKeyring, is_async_keyring, is_async_materials_manager

__all__ = [
    "AnyKeyring",
    "AnyMaterialsManager",
    "ThreadedKeyring",
    "ThreadedMaterialsManager",
    "as_async_keyring",
    "as_async_materials_manager",
    "async_materials_manager_for",
    "frame_work",
    "off_loop",
]

_P = ParamSpec("_P")
_T = TypeVar("_T")

AnyKeyring = Keyring | AsyncKeyring
AnyMaterialsManager = CryptoMaterialsManager | AsyncCryptoMaterialsManager


async def off_loop(call: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """``call(*args, **kwargs)`` in the loop's default executor: for anything that may block."""
    return await asyncio.to_thread(call, *args, **kwargs)


async def frame_work(size: int, call: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Engine work on ``size`` bytes: inline up to :data:`AIO_INLINE_BYTES`, else :func:`off_loop`."""
    if size <= AIO_INLINE_BYTES:
        return call(*args, **kwargs)
    return await asyncio.to_thread(call, *args, **kwargs)


class ThreadedKeyring:
    """A sync keyring as an async one: each call runs in a thread (:func:`off_loop`)."""

    __slots__ = ("keyring",)

    def __init__(self, keyring: Keyring):
        self.keyring = keyring

    def __repr__(self) -> str:
        return f"ThreadedKeyring({self.keyring!r})"

    async def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        return await off_loop(self.keyring.on_encrypt, materials)

    async def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        return await off_loop(self.keyring.on_decrypt, materials, encrypted_data_keys)


class ThreadedMaterialsManager:
    """A sync materials manager as an async one: each call runs in a thread (:func:`off_loop`)."""

    __slots__ = ("materials_manager",)

    def __init__(self, materials_manager: CryptoMaterialsManager):
        self.materials_manager = materials_manager

    def __repr__(self) -> str:
        return f"ThreadedMaterialsManager({self.materials_manager!r})"

    async def get_encryption_materials(self, request: EncryptionRequest) -> EncryptionMaterials:
        return await off_loop(self.materials_manager.get_encryption_materials, request)

    async def decrypt_materials(self, request: DecryptionRequest) -> DecryptionMaterials:
        return await off_loop(self.materials_manager.decrypt_materials, request)


def as_async_keyring(keyring: object, who: str = "busta.aio") -> AsyncKeyring:
    """``keyring`` if it is async, a :class:`ThreadedKeyring` around it if it is sync; else UsageError."""
    _refuse_half_async(keyring, who)
    if is_async_keyring(keyring):
        return keyring
    if is_keyring(keyring):
        return ThreadedKeyring(keyring)
    raise UsageError(f"{who} needs a keyring (sync or async), not {type(keyring).__name__}")


def as_async_materials_manager(underlying: object, who: str = "busta.aio") -> AsyncCryptoMaterialsManager:
    """An async materials manager for a keyring or materials manager, sync or async.

    A sync keyring or manager runs whole in a thread (the default manager around a sync keyring
    included); an async keyring gets :class:`~busta.aio.AsyncDefaultCryptoMaterialsManager`.
    """
    _refuse_half_async(underlying, who)
    if is_async_materials_manager(underlying):
        return underlying
    if is_async_keyring(underlying):
        from ._materials import AsyncDefaultCryptoMaterialsManager  # noqa: PLC0415 - it imports this module

        return AsyncDefaultCryptoMaterialsManager(underlying)
    if is_materials_manager(underlying) or is_keyring(underlying):
        return ThreadedMaterialsManager(materials_manager_for(*_split(underlying)))
    raise UsageError(f"{who} needs a keyring or a materials manager (sync or async), not {type(underlying).__name__}")


def _refuse_half_async(obj: object, who: str) -> None:
    """:class:`UsageError` for an object some of whose keyring or manager methods are coroutines and some not."""
    for names in (("on_encrypt", "on_decrypt"), ("get_encryption_materials", "decrypt_materials")):
        kinds = {inspect.iscoroutinefunction(getattr(obj, name, None)) for name in names if hasattr(obj, name)}
        if len(kinds) > 1:
            raise UsageError(f"{who}: {type(obj).__name__} mixes async and sync {' / '.join(names)}")


def _split(underlying: Keyring | CryptoMaterialsManager) -> tuple[Keyring | None, CryptoMaterialsManager | None]:
    if is_materials_manager(underlying):
        return None, underlying
    assert is_keyring(underlying)
    return underlying, None


def async_materials_manager_for(keyring: object, materials_manager: object) -> AsyncCryptoMaterialsManager:
    """What a call's ``keyring=`` / ``materials_manager=`` (exactly one, sync or async) amount to."""
    if (keyring is None) == (materials_manager is None):
        raise UsageError("pass exactly one of keyring= or materials_manager=")
    if materials_manager is not None:
        if not (is_async_materials_manager(materials_manager) or is_materials_manager(materials_manager)):
            raise UsageError(f"{materials_manager!r} is not a crypto materials manager (sync or async)")
        return as_async_materials_manager(materials_manager)
    if not (is_async_keyring(keyring) or is_keyring(keyring)):
        raise UsageError(f"{keyring!r} is not a keyring (it lacks on_encrypt / on_decrypt)")
    return as_async_materials_manager(keyring)
