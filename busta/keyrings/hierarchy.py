"""The AWS KMS hierarchical keyring: data keys derived from branch keys kept in a branch key store.

A branch key (:class:`~busta.keyrings.branch_key_store.BranchKeyStore`, in DynamoDB, wrapped
under KMS) is unwrapped once, cached for ``ttl_seconds``, and wraps every data key meanwhile: one
KMS call per branch key per TTL instead of one per message. The layout of its data keys is in
:mod:`._hierarchy_wire`. Multi-tenant: a ``branch_key_id_supplier`` picks the branch key from
each message's encryption context.

How long a key stays usable through the cache: a branch key version unwrapped before its KMS key
was disabled, or before the branch key was rotated, keeps wrapping (rotation) and unwrapping
(both) data keys for up to ``ttl_seconds`` after it entered the cache, in that process.
``cache.clear()`` ends that at once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn, Protocol, runtime_checkable

from .._secrets import SecretBytes, refuse_pickling
from ..context import serialize_context
from ..errors import KeyringError, UsageError
from ..format import EncryptedDataKey
from ..limits import MAX_BRANCH_KEY_ID_CHARS, MAX_HIERARCHY_TTL_SECONDS
from ..materials import DecryptionMaterials, EncryptionMaterials
from ._branch_cache import BranchKeyCache, decrypt_entry_id, encrypt_entry_id
from ._common import Unwrapping, ensure_data_key
from ._ddb_items import UUID_PATTERN as _UUID
from ._ddb_items import BranchKeyMaterials, check_branch_key_id
from ._hierarchy_wire import PROVIDER_ID, WrappedKey, parse, unwrap, wrap

__all__ = [
    "PROVIDER_ID",
    "BranchKeyCache",
    "BranchKeyIdSupplier",
    "BranchKeySource",
    "HierarchicalKeyring",
    "HierarchyRules",
    "StaticBranchKeyStore",
    "WrappedKey",
]

_log = logging.getLogger("busta.keyrings.hierarchy")

#: Picks a message's branch key id from its encryption context (multi-tenant keyrings).
BranchKeyIdSupplier = Callable[[Mapping[str, str]], str]


@runtime_checkable
class BranchKeySource(Protocol):
    """What the keyring needs of a branch key store."""

    @property
    def logical_key_store_name(self) -> str: ...

    def get_active_branch_key(self, branch_key_id: str) -> BranchKeyMaterials: ...

    def get_branch_key_version(self, branch_key_id: str, version: str) -> BranchKeyMaterials: ...


class StaticBranchKeyStore:
    """One branch key version held in memory: for tests and test vectors (no DynamoDB, no KMS)."""

    def __init__(self, logical_key_store_name: str, branch_key_id: str, version: str, key: bytes | SecretBytes):
        secret = key if isinstance(key, SecretBytes) else SecretBytes(key)
        if len(secret) != 32:
            raise UsageError("a branch key is 32 bytes")
        if not isinstance(version, str) or _UUID.fullmatch(version) is None:
            raise UsageError("a branch key version is a lowercase UUID string")
        self._materials = BranchKeyMaterials(check_branch_key_id(branch_key_id), version, secret, {})
        self._name = logical_key_store_name

    @property
    def logical_key_store_name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"StaticBranchKeyStore({self._name!r}, {self._materials.branch_key_id!r}, <key redacted>)"

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)

    def get_active_branch_key(self, branch_key_id: str) -> BranchKeyMaterials:
        if branch_key_id != self._materials.branch_key_id:
            raise KeyringError(f"the static store holds no branch key {branch_key_id!r:.200}")
        return self._materials

    def get_branch_key_version(self, branch_key_id: str, version: str) -> BranchKeyMaterials:
        if version != self._materials.version:
            raise KeyringError(f"the static store holds no version {version!r:.60} of {branch_key_id!r:.200}")
        return self.get_active_branch_key(branch_key_id)


class HierarchyRules:
    """What the sync and async hierarchical keyrings share: arguments, cache ids, wrapping."""

    performs_io = True

    def __init__(
        self,
        key_store: object,
        *,
        ttl_seconds: float,
        branch_key_id: str | None = None,
        branch_key_id_supplier: BranchKeyIdSupplier | None = None,
        cache: BranchKeyCache | None = None,
        partition_id: str | None = None,
    ) -> None:
        if (branch_key_id is None) == (branch_key_id_supplier is None):
            raise UsageError("a hierarchical keyring needs exactly one of branch_key_id and branch_key_id_supplier")
        if branch_key_id is not None:
            check_branch_key_id(branch_key_id)
        if branch_key_id_supplier is not None and not callable(branch_key_id_supplier):
            raise UsageError("branch_key_id_supplier must be callable with an encryption context")
        if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, (int, float)):
            raise UsageError("ttl_seconds must be a number")
        if not 0 < ttl_seconds <= MAX_HIERARCHY_TTL_SECONDS:
            raise UsageError(f"ttl_seconds must be above 0 and at most {MAX_HIERARCHY_TTL_SECONDS}")
        if cache is not None and not isinstance(cache, BranchKeyCache):
            raise UsageError("cache must be a BranchKeyCache")
        if partition_id is not None and (not isinstance(partition_id, str) or not partition_id):
            raise UsageError("partition_id must be a non-empty str")
        name = getattr(key_store, "logical_key_store_name", None)
        methods = ("get_active_branch_key", "get_branch_key_version")
        if not isinstance(name, str) or not name or not all(callable(getattr(key_store, m, None)) for m in methods):
            raise UsageError("key_store must be a branch key store (BranchKeySource: logical name, get_* methods)")
        self._store = key_store
        self._logical_name = name
        self._ttl = float(ttl_seconds)
        self._branch_key_id = branch_key_id
        self._supplier = branch_key_id_supplier
        self.cache = cache if cache is not None else BranchKeyCache()
        #: The spec's partition id: the given string's UTF-8, else 16 random bytes (a v4 UUID's).
        self.partition_id = partition_id.encode("utf-8") if partition_id is not None else uuid.uuid4().bytes

    def __repr__(self) -> str:
        which = repr(self._branch_key_id) if self._branch_key_id is not None else "<supplier>"
        return f"{type(self).__name__}(store={self._logical_name!r}, branch_key_id={which}, ttl={self._ttl:g}s)"

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)

    def branch_key_id_for(self, context: Mapping[str, str]) -> str:
        if self._branch_key_id is not None:
            return self._branch_key_id
        assert self._supplier is not None
        try:
            chosen = self._supplier(context)
        except KeyringError:
            raise
        except Exception as exc:  # the caller's code: whatever it raises is wrapped
            raise KeyringError(f"the branch key id supplier failed: {type(exc).__name__}: {exc}") from exc
        if not isinstance(chosen, str) or not 0 < len(chosen) <= MAX_BRANCH_KEY_ID_CHARS:
            raise KeyringError(
                f"the branch key id supplier returned no branch key id of 1 to {MAX_BRANCH_KEY_ID_CHARS} chars"
            )
        return chosen

    def active_id(self, branch_key_id: str) -> bytes:
        return encrypt_entry_id(self.partition_id, self._logical_name, branch_key_id)

    def version_id(self, branch_key_id: str, version: str) -> bytes:
        return decrypt_entry_id(self.partition_id, self._logical_name, branch_key_id, version)

    def cached(self, entry_id: bytes) -> BranchKeyMaterials | None:
        return self.cache.get(entry_id, self._ttl)

    def remember(self, entry_id: bytes, materials: BranchKeyMaterials, branch_key_id: str) -> BranchKeyMaterials:
        if materials.branch_key_id != branch_key_id:
            raise KeyringError(f"the store answered for branch key {materials.branch_key_id!r:.200}")
        self.cache.put(entry_id, materials, self._ttl)
        _log.debug("cached branch key %s version %s from %s", branch_key_id, materials.version, self._logical_name)
        return materials

    @staticmethod
    def wrapped(materials: EncryptionMaterials, branch_key: BranchKeyMaterials) -> EncryptionMaterials:
        materials, data_key = ensure_data_key(materials)
        edk = wrap(branch_key, data_key.reveal(), serialize_context(materials.encryption_context))
        return materials.with_encrypted_data_key(edk)

    def candidate(self, edk: EncryptedDataKey, branch_key_id: str, key_bytes: int) -> WrappedKey | str | None:
        """The parsed data key if it is this keyring's, None if not, a reason if it is malformed."""
        if edk.provider_id != PROVIDER_ID:
            return None
        try:
            named = bytes(edk.provider_info).decode("utf-8")
        except UnicodeDecodeError:
            return None
        if named != branch_key_id:
            return None
        return parse(edk, key_bytes)

    @staticmethod
    def unwrapped(branch_key: BranchKeyMaterials, wrapped: WrappedKey, materials: DecryptionMaterials) -> bytes:
        if branch_key.version != wrapped.version:
            raise KeyringError(f"the store answered with version {branch_key.version}, not {wrapped.version}")
        return unwrap(branch_key, wrapped, serialize_context(materials.encryption_context))


class HierarchicalKeyring(HierarchyRules):
    """Wraps data keys with keys derived from a branch key; the official MPL's hierarchical keyring.

    ``key_store``: a :class:`~busta.keyrings.branch_key_store.BranchKeyStore` (or any
    :class:`BranchKeySource`). ``ttl_seconds`` (required, at most a day): how long an unwrapped
    branch key is used from the cache. One of ``branch_key_id`` or ``branch_key_id_supplier``
    (encryption context -> branch key id). ``cache``: a :class:`BranchKeyCache` to share between
    keyrings (default: one of its own, 1000 entries). ``partition_id``: keyrings sharing a cache
    and a partition id share entries (default: a random one, so none). Thread-safe.
    """

    def _active(self, branch_key_id: str) -> BranchKeyMaterials:
        entry_id = self.active_id(branch_key_id)
        found = self.cached(entry_id)
        if found is not None:
            return found
        materials = self._store.get_active_branch_key(branch_key_id)  # type: ignore[attr-defined]
        return self.remember(entry_id, materials, branch_key_id)

    def _version(self, branch_key_id: str, version: str) -> BranchKeyMaterials:
        entry_id = self.version_id(branch_key_id, version)
        found = self.cached(entry_id)
        if found is not None:
            return found
        materials = self._store.get_branch_key_version(branch_key_id, version)  # type: ignore[attr-defined]
        return self.remember(entry_id, materials, branch_key_id)

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        branch_key_id = self.branch_key_id_for(materials.encryption_context)
        return self.wrapped(materials, self._active(branch_key_id))

    def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        tries = Unwrapping(self, "hierarchical keyring", materials)
        if materials.data_key is not None:
            return materials
        branch_key_id = self.branch_key_id_for(materials.encryption_context)
        for edk in tries.pending(encrypted_data_keys):
            try:
                wrapped = self.candidate(edk, branch_key_id, materials.suite.key_bytes)
                if not isinstance(wrapped, WrappedKey):
                    tries.outcome(wrapped)
                    continue
                tries.outcome(self.unwrapped(self._version(branch_key_id, wrapped.version), wrapped, materials))
            except KeyringError as exc:
                tries.failed(exc)
        return tries.result()
