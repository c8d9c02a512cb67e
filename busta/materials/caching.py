"""The caching crypto materials manager: reuse data keys across messages, within limits.

Follows the ESDK caching CMM (framework/caching-cmm.md): entries are keyed by
partition, algorithm suite and encryption context (SHA-512 identifiers of
Appendix A); suites without a KDF, and messages of unknown size or above the
byte limit, bypass the cache; an entry is never used beyond its age, message
or byte limit. Concurrent misses on one entry make a single call to the
underlying materials manager; the others wait for it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, NoReturn

from .._secrets import refuse_pickling
from ..context import serialize_context
from ..errors import UsageError
from ..format.header import EncryptedDataKey
from .base import (
    CryptoMaterialsManager,
    DecryptionMaterials,
    DecryptionRequest,
    EncryptionMaterials,
    EncryptionRequest,
    Keyring,
)
from .default_cmm import check_decryption_request, check_encryption_request, materials_manager_for

__all__ = ["CacheRules", "CachingCryptoMaterialsManager", "LruMaterialsCache"]

#: Defaults, and the most the specification allows: 2^32 messages, 2^63 - 1 bytes per data key.
DEFAULT_MAX_MESSAGES: Final = 2**32
DEFAULT_MAX_BYTES: Final = 2**63 - 1
#: How long a waiter waits for another thread's call to the underlying manager before making its own.
_WAIT_SECONDS: Final = 60.0


@dataclass(slots=True)
class _Entry:
    materials: EncryptionMaterials | DecryptionMaterials
    created: float
    messages: int = 0
    bytes: int = 0


_Check = Callable[[_Entry], bool]
_Use = Callable[[_Entry], None]
_Materials = EncryptionMaterials | DecryptionMaterials
_Fetch = Callable[[], _Materials]


def _always(entry: _Entry) -> bool:
    return True


def _never(entry: _Entry) -> None:
    return None


class LruMaterialsCache:
    """A thread-safe in-memory cache of materials, evicting the least recently used beyond ``capacity``.

    Holds key material: it refuses pickling and its repr shows only its size.
    """

    def __init__(self, capacity: int = 1000):
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise UsageError("an LruMaterialsCache needs a capacity of at least 1")
        self.capacity = capacity
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self.lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"LruMaterialsCache(capacity={self.capacity}, entries={len(self._entries)})"

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)

    # The methods below are called with ``lock`` held.

    def get(self, key: bytes) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: bytes, entry: _Entry) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def remove(self, key: bytes) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        with self.lock:
            self._entries.clear()


class CacheRules:
    """What the caching managers (this one, and ``busta.aio``'s) share: the limits, the entry keys,
    the ages and counts of entries. It makes no call; the managers make the one call per miss."""

    def __init__(
        self,
        *,
        max_age: float,
        cache: LruMaterialsCache | None,
        max_messages: int,
        max_bytes: int,
        partition_id: str | None,
    ):
        if not isinstance(max_age, (int, float)) or isinstance(max_age, bool) or not max_age > 0:
            raise UsageError("max_age must be a positive number of seconds")
        for name, value, top in (
            ("max_messages", max_messages, DEFAULT_MAX_MESSAGES),
            ("max_bytes", max_bytes, DEFAULT_MAX_BYTES),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
                raise UsageError(f"{name} must be an int from 1 to {top}")
        self.max_age = float(max_age)
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        if cache is not None and not isinstance(cache, LruMaterialsCache):
            raise UsageError("cache must be an LruMaterialsCache")
        if partition_id is not None and not isinstance(partition_id, str):
            raise UsageError("partition_id must be a str")
        self.cache = cache if cache is not None else LruMaterialsCache()
        if partition_id is None:
            import uuid  # noqa: PLC0415 - a few ms of start-up, for caches made without a partition id

            partition_id = str(uuid.uuid4())
        self.partition_id = partition_id
        self._partition_hash = hashlib.sha512(self.partition_id.encode("utf-8")).digest()

    def encryption_plan(self, request: EncryptionRequest) -> tuple[bytes, EncryptionRequest, _Check, _Use] | None:
        """The entry key, the request to make on a miss and the entry checks; None: bypass the cache."""
        check_encryption_request(request)
        suite = request.suite or request.commitment_policy.default_suite
        length = request.plaintext_length
        if suite.kdf_hash is None or length is None or length > self.max_bytes:
            return None
        key = hashlib.sha512(
            self._partition_hash
            + b"\x01"
            + suite.id.to_bytes(2, "big")
            + hashlib.sha512(serialize_context(request.encryption_context)).digest()
        ).digest()
        miss = EncryptionRequest(
            request.encryption_context,
            request.commitment_policy,
            suite,
            self.max_bytes,
            request.max_encrypted_data_keys,
        )

        def usable(entry: _Entry) -> bool:
            return entry.messages + 1 <= self.max_messages and entry.bytes + length <= self.max_bytes

        def use(entry: _Entry) -> None:
            entry.messages += 1
            entry.bytes += length

        return key, miss, usable, use

    def decryption_key(self, request: DecryptionRequest) -> bytes | None:
        """The entry key of a decryption; None: bypass the cache."""
        check_decryption_request(request)
        if request.suite.kdf_hash is None:
            return None
        context = {**(request.reproduced_encryption_context or {}), **request.encryption_context}
        return hashlib.sha512(
            self._partition_hash
            + request.suite.id.to_bytes(2, "big")
            + b"".join(sorted(_edk_hash(edk) for edk in request.encrypted_data_keys))
            + bytes(64)
            + hashlib.sha512(serialize_context(context)).digest()
            + hashlib.sha512(serialize_context(request.reproduced_encryption_context or {})).digest()
        ).digest()

    def take(self, key: bytes, usable: _Check = _always, use: _Use = _never) -> _Materials | None:
        """The entry's materials, counted as used, if it is young enough and usable; else None, and an
        expired or used-up entry is dropped (never used again). Call with ``cache.lock`` held."""
        entry = self.cache.get(key)
        if entry is None:
            return None
        if time.monotonic() - entry.created < self.max_age and usable(entry):
            use(entry)
            return entry.materials
        self.cache.remove(key)
        return None

    def store(self, key: bytes, materials: _Materials, use: _Use = _never) -> None:
        """Cache what a miss fetched, counting the message it was fetched for. Takes ``cache.lock``."""
        entry = _Entry(materials, time.monotonic())
        use(entry)
        with self.cache.lock:
            self.cache.put(key, entry)


class CachingCryptoMaterialsManager:
    """Reuses encryption and decryption materials to cut calls to keyrings (KMS, HSMs).

    ``max_age`` (seconds, required) bounds how long a data key is used;
    ``max_messages`` and ``max_bytes`` how many messages and plaintext bytes it
    protects. Caches may be shared between managers; entries are shared only
    between managers with the same ``partition_id`` (default: unique to this
    manager). Thread-safe. Caching trades security for cost: read docs/caching.md.
    """

    def __init__(
        self,
        keyring_or_materials_manager: Keyring | CryptoMaterialsManager,
        *,
        max_age: float,
        cache: LruMaterialsCache | None = None,
        max_messages: int = DEFAULT_MAX_MESSAGES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        partition_id: str | None = None,
    ):
        self.underlying = materials_manager_for(keyring_or_materials_manager, "CachingCryptoMaterialsManager")
        self.rules = CacheRules(
            max_age=max_age, cache=cache, max_messages=max_messages, max_bytes=max_bytes, partition_id=partition_id
        )
        self.max_age, self.max_messages, self.max_bytes = self.rules.max_age, max_messages, max_bytes
        self.cache, self.partition_id = self.rules.cache, self.rules.partition_id
        self._flights: dict[bytes, threading.Event] = {}  # key -> set when its one underlying call ends

    def __repr__(self) -> str:
        return (
            f"CachingCryptoMaterialsManager({self.underlying!r}, max_age={self.max_age}, "
            f"max_messages={self.max_messages}, max_bytes={self.max_bytes}, cache={self.cache!r})"
        )

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)

    # -- encrypt -------------------------------------------------------------------------------

    def get_encryption_materials(self, request: EncryptionRequest) -> EncryptionMaterials:
        plan = self.rules.encryption_plan(request)
        if plan is None:
            return self.underlying.get_encryption_materials(request)
        key, miss, usable, use = plan
        materials = self._through_cache(key, usable, use, lambda: self.underlying.get_encryption_materials(miss))
        assert isinstance(materials, EncryptionMaterials)
        return materials

    # -- decrypt -------------------------------------------------------------------------------

    def decrypt_materials(self, request: DecryptionRequest) -> DecryptionMaterials:
        key = self.rules.decryption_key(request)
        if key is None:
            return self.underlying.decrypt_materials(request)
        materials = self._through_cache(key, _always, _never, lambda: self.underlying.decrypt_materials(request))
        assert isinstance(materials, DecryptionMaterials)
        return materials

    # -- the cache walk, with one call per missing entry ------------------------------------------

    def _through_cache(
        self,
        key: bytes,
        usable: _Check,
        use: _Use,
        fetch: _Fetch,
    ) -> EncryptionMaterials | DecryptionMaterials:
        lock = self.cache.lock
        while True:
            with lock:
                materials = self.rules.take(key, usable, use)
                if materials is not None:
                    return materials
                flight = self._flights.get(key)
                leader = flight is None
                if leader:
                    flight = self._flights[key] = threading.Event()
            assert flight is not None
            if leader:
                return self._fetch(key, flight, use, fetch)
            if not flight.wait(_WAIT_SECONDS):
                return fetch()  # the other caller is stuck: do not wait forever

    def _fetch(
        self, key: bytes, flight: threading.Event, use: _Use, fetch: _Fetch
    ) -> EncryptionMaterials | DecryptionMaterials:
        try:
            materials = fetch()
            self.rules.store(key, materials, use)
            return materials
        finally:
            with self.cache.lock:
                self._flights.pop(key, None)
            flight.set()


def _edk_hash(edk: EncryptedDataKey) -> bytes:
    pid = edk.provider_id.encode("utf-8")
    serialized = b"".join(len(part).to_bytes(2, "big") + part for part in (pid, edk.provider_info, edk.ciphertext))
    return hashlib.sha512(serialized).digest()
