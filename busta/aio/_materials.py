"""The async materials managers: default, caching (single-flight across tasks) and required context.

Each is the sync manager's logic, shared, around an awaited keyring or manager: the default
manager's steps either side of the keyring (:mod:`busta.materials.default_cmm`), the caching rules
(:class:`busta.materials.caching.CacheRules`: entry keys, limits, ages) and the required-context
checks (:class:`busta.materials.RequiredEncryptionContextCmm`). Sync keyrings and managers are
accepted and run in a thread.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable
from typing import NoReturn, TypeVar

from .._secrets import refuse_pickling
from ..errors import EncryptionContextError
from ..materials import DecryptionMaterials, DecryptionRequest, EncryptionMaterials, EncryptionRequest
from ..materials.caching import DEFAULT_MAX_BYTES, DEFAULT_MAX_MESSAGES, CacheRules, LruMaterialsCache
from ..materials.default_cmm import (
    check_decryption_request,
    check_encryption_request,
    decryption_result,
    decryption_start,
    encryption_result,
    encryption_start,
)
from ..materials.required import RequiredEncryptionContextCmm
from ._offload import AnyKeyring, AnyMaterialsManager, as_async_keyring, as_async_materials_manager
from ._protocols import AsyncCryptoMaterialsManager

__all__ = [
    "AsyncCachingCryptoMaterialsManager",
    "AsyncDefaultCryptoMaterialsManager",
    "AsyncRequiredEncryptionContextCmm",
]

_M = TypeVar("_M", EncryptionMaterials, DecryptionMaterials)


class AsyncDefaultCryptoMaterialsManager:
    """:class:`busta.materials.DefaultCryptoMaterialsManager` around an awaited keyring (a sync one
    runs in a thread). The signing key of signed suites is made on the calling thread (about a
    millisecond of P-384 key generation)."""

    __slots__ = ("keyring",)

    def __init__(self, keyring: AnyKeyring):
        self.keyring = as_async_keyring(keyring, "AsyncDefaultCryptoMaterialsManager")

    def __repr__(self) -> str:
        return f"AsyncDefaultCryptoMaterialsManager({self.keyring!r})"

    async def get_encryption_materials(self, request: EncryptionRequest) -> EncryptionMaterials:
        return encryption_result(request, await self.keyring.on_encrypt(encryption_start(request)))

    async def decrypt_materials(self, request: DecryptionRequest) -> DecryptionMaterials:
        materials = decryption_start(request)
        return decryption_result(await self.keyring.on_decrypt(materials, request.encrypted_data_keys))


class AsyncRequiredEncryptionContextCmm:
    """:class:`busta.materials.RequiredEncryptionContextCmm`, awaited: the same checks, the same messages."""

    def __init__(self, underlying: AnyMaterialsManager | AnyKeyring, *, required_keys: Iterable[str]):
        self.underlying = as_async_materials_manager(underlying, "AsyncRequiredEncryptionContextCmm")
        self._rules = RequiredEncryptionContextCmm(_Unused(), required_keys=required_keys)
        self.required_keys = self._rules.required_keys

    def __repr__(self) -> str:
        return f"AsyncRequiredEncryptionContextCmm({self.underlying!r}, required_keys={sorted(self.required_keys)})"

    async def get_encryption_materials(self, request: EncryptionRequest) -> EncryptionMaterials:
        check_encryption_request(request)
        self._rules.check_missing(request.encryption_context, "the encryption context")
        return self._rules.required_result(await self.underlying.get_encryption_materials(request))

    async def decrypt_materials(self, request: DecryptionRequest) -> DecryptionMaterials:
        check_decryption_request(request)
        self._rules.check_missing(request.reproduced_encryption_context or {}, "the expected encryption context")
        materials = await self.underlying.decrypt_materials(request)
        if not self.required_keys <= set(materials.encryption_context):
            raise EncryptionContextError("the decryption materials lack required encryption context")
        return materials


class _Unused:
    """The underlying manager of the sync required-context rules that the async one borrows: never called."""

    def get_encryption_materials(self, request: EncryptionRequest) -> NoReturn:
        raise AssertionError("the async required-context manager awaits its own underlying manager")

    def decrypt_materials(self, request: DecryptionRequest) -> NoReturn:
        raise AssertionError("the async required-context manager awaits its own underlying manager")


class AsyncCachingCryptoMaterialsManager:
    """:class:`busta.materials.CachingCryptoMaterialsManager`, awaited, with single flight across tasks:
    concurrent misses on one entry make one call to the underlying manager; the other tasks await its
    result. The call runs as its own task: cancelling any caller, the first included, does not cancel
    it; if it fails, its first caller gets the error and one of the others makes a new call. The same
    rules, limits and cache (an :class:`~busta.materials.LruMaterialsCache` may be shared with sync
    managers). Read docs/caching.md.
    """

    def __init__(
        self,
        keyring_or_materials_manager: AnyKeyring | AnyMaterialsManager,
        *,
        max_age: float,
        cache: LruMaterialsCache | None = None,
        max_messages: int = DEFAULT_MAX_MESSAGES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        partition_id: str | None = None,
    ):
        self.underlying: AsyncCryptoMaterialsManager = as_async_materials_manager(
            keyring_or_materials_manager, "AsyncCachingCryptoMaterialsManager"
        )
        self.rules = CacheRules(
            max_age=max_age, cache=cache, max_messages=max_messages, max_bytes=max_bytes, partition_id=partition_id
        )
        self.cache = self.rules.cache
        self._flights: dict[bytes, asyncio.Future[object]] = {}  # key -> its one underlying call, in flight

    def __repr__(self) -> str:
        rules = self.rules
        return (
            f"AsyncCachingCryptoMaterialsManager({self.underlying!r}, max_age={rules.max_age}, "
            f"max_messages={rules.max_messages}, max_bytes={rules.max_bytes}, cache={rules.cache!r})"
        )

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)

    async def get_encryption_materials(self, request: EncryptionRequest) -> EncryptionMaterials:
        plan = self.rules.encryption_plan(request)
        if plan is None:
            return await self.underlying.get_encryption_materials(request)
        key, miss, usable, use = plan
        return await self._through_cache(
            key, EncryptionMaterials, lambda: self.underlying.get_encryption_materials(miss), usable, use
        )

    async def decrypt_materials(self, request: DecryptionRequest) -> DecryptionMaterials:
        key = self.rules.decryption_key(request)
        if key is None:
            return await self.underlying.decrypt_materials(request)
        return await self._through_cache(key, DecryptionMaterials, lambda: self.underlying.decrypt_materials(request))

    async def _through_cache(
        self, key: bytes, kind: type[_M], fetch: Callable[[], Awaitable[_M]], *checks: Callable[..., object]
    ) -> _M:
        while True:
            with self.cache.lock:  # held for no await: sync managers may share the cache from threads
                found = self.rules.take(key, *checks)  # type: ignore[arg-type]
            if found is not None:
                assert isinstance(found, kind)
                return found
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = asyncio.ensure_future(self._fill(key, fetch, *checks[1:]))
                flight.add_done_callback(functools.partial(self._landed, key))
            try:  # shielded: a caller's cancellation never cancels the one call the others await
                materials = await asyncio.shield(flight)
            except Exception:
                if leader:
                    raise
                continue  # the leader's call failed: the next pass makes one new call
            if leader:
                assert isinstance(materials, kind)
                return materials

    async def _fill(self, key: bytes, fetch: Callable[[], Awaitable[_M]], *use: Callable[..., object]) -> _M:
        """The one underlying call for a missing entry; the entry is cached, counting the leader's message."""
        materials = await fetch()
        self.rules.store(key, materials, *use)  # type: ignore[arg-type]
        return materials

    def _landed(self, key: bytes, flight: asyncio.Future[object]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # retrieved: no "never retrieved" warning when its leader was cancelled
