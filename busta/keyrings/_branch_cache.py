"""The hierarchical keyring's cache of unwrapped branch keys: LRU, bounded, with a TTL per entry.

Shareable: several keyrings (each its own partition id, TTL and key store) may use one cache. An
entry is served only while both its own expiry (set by the keyring that put it) and the asking
keyring's TTL (``now - created <= ttl``) allow, as the specification requires. Entry ids are the
specification's SHA-384 cache identifiers (:func:`encrypt_entry_id`, :func:`decrypt_entry_id`).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import NoReturn

from .._frozen import record
from .._secrets import refuse_pickling
from ..errors import UsageError
from ..limits import HIERARCHY_CACHE_ENTRIES, MAX_HIERARCHY_CACHE_ENTRIES
from ._ddb_items import BranchKeyMaterials

__all__ = ["BranchKeyCache", "decrypt_entry_id", "encrypt_entry_id"]

_HIERARCHY = b"\x02"
_ENCRYPT, _DECRYPT = b"\x01", b"\x02"
_NUL = b"\x00"


def encrypt_entry_id(partition_id: bytes, logical_name: str, branch_key_id: str) -> bytes:
    """The cache id of a branch key's ACTIVE version (Appendix A, Encryption Materials)."""
    parts = [_HIERARCHY, _ENCRYPT, partition_id, logical_name.encode("utf-8"), branch_key_id.encode("utf-8")]
    return hashlib.sha384(_NUL.join(parts)).digest()


def decrypt_entry_id(partition_id: bytes, logical_name: str, branch_key_id: str, version: str) -> bytes:
    """The cache id of one version of a branch key (Appendix A, Decryption Materials)."""
    parts = [_HIERARCHY, _DECRYPT, partition_id, logical_name.encode("utf-8"), branch_key_id.encode("utf-8")]
    return hashlib.sha384(_NUL.join([*parts, version.encode("utf-8")])).digest()


@record
class _Entry:
    materials: BranchKeyMaterials
    created: float
    expires: float


class BranchKeyCache:
    """Unwrapped branch keys, at most ``capacity`` (least recently used evicted first).

    ``clock`` (seconds, monotonic by default) is for tests. Thread-safe. Holds key material: it
    refuses pickling and its repr shows only its size. :meth:`clear` forgets every key at once
    (after revoking a KMS key or a branch key, say).
    """

    def __init__(self, capacity: int = HIERARCHY_CACHE_ENTRIES, *, clock: Callable[[], float] = time.monotonic):
        if (
            not isinstance(capacity, int)
            or isinstance(capacity, bool)
            or not 1 <= capacity <= MAX_HIERARCHY_CACHE_ENTRIES
        ):
            raise UsageError(f"a BranchKeyCache capacity is an int from 1 to {MAX_HIERARCHY_CACHE_ENTRIES}")
        if not callable(clock):
            raise UsageError("clock must be callable")
        self.capacity = capacity
        self._clock = clock
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"BranchKeyCache(capacity={self.capacity}, entries={len(self._entries)})"

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)

    def get(self, entry_id: bytes, ttl_seconds: float) -> BranchKeyMaterials | None:
        """The entry's materials if neither its expiry nor ``ttl_seconds`` from its creation has passed."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(entry_id)
            if entry is None:
                return None
            if now > entry.expires:
                del self._entries[entry_id]
                return None
            if now - entry.created > ttl_seconds:
                return None  # expired for this keyring only: another keyring's longer TTL may still use it
            self._entries.move_to_end(entry_id)
            return entry.materials

    def put(self, entry_id: bytes, materials: BranchKeyMaterials, ttl_seconds: float) -> None:
        now = self._clock()
        with self._lock:
            self._entries[entry_id] = _Entry(materials, now, now + ttl_seconds)
            self._entries.move_to_end(entry_id)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
