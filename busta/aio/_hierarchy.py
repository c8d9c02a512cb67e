"""The branch key store and the hierarchical keyring on aiobotocore: the sync ones' plans and rules, awaited.

:class:`AsyncBranchKeyStore` drives the very plans the boto3 store drives
(:mod:`busta.keyrings.branch_key_plans`): the same requests, checks of every item and errors.
:class:`AsyncHierarchicalKeyring` is :class:`busta.keyrings.hierarchy.HierarchicalKeyring` with
coroutine ``on_encrypt`` / ``on_decrypt``: the same cache (a :class:`BranchKeyCache` may be shared
between sync and async keyrings), layout and reasons; only a cache miss awaits the store.

The caller makes and closes the aiobotocore DynamoDB and KMS clients (``async with
session.create_client(...)``) and hands them in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import KeyringError, UsageError
from ..format import EncryptedDataKey
from ..keyrings.branch_key_plans import (
    BeaconKeyMaterials,
    BranchKeyMaterials,
    Plan,
    beacon_plan,
    create_key_plan,
    version_key_plan,
    version_plan,
)
from ..keyrings.branch_key_rules import AWS_ERRORS, KeyStoreInfo, KmsConfiguration, StoreRules
from ..keyrings.hierarchy import HierarchyRules, WrappedKey
from ..keyrings.kms_wire import Unwrapping
from ..materials import DecryptionMaterials, EncryptionMaterials

__all__ = ["AsyncBranchKeyStore", "AsyncHierarchicalKeyring"]


def _camel(operation: str) -> str:
    return "".join(part.title() for part in operation.split("_")).replace("Kms", "KMS")


class AsyncBranchKeyStore:
    """:class:`busta.keyrings.branch_key_store.BranchKeyStore` with coroutine operations.

    ``ddb_client`` and ``kms_client`` are aiobotocore clients (required: the caller owns them).
    """

    def __init__(
        self,
        table_name: str,
        logical_key_store_name: str,
        kms: KmsConfiguration,
        *,
        ddb_client: Any,
        kms_client: Any,
        grant_tokens: tuple[str, ...] = (),
        key_store_id: str | None = None,
    ) -> None:
        self._rules = StoreRules(table_name, logical_key_store_name, kms, grant_tokens, key_store_id)
        for name, client in (("ddb_client", ddb_client), ("kms_client", kms_client)):
            if not isinstance(getattr(getattr(client, "meta", None), "region_name", None), str):
                raise UsageError(f"{name} must be an aiobotocore client")
        self._ddb, self._kms = ddb_client, kms_client

    @property
    def logical_key_store_name(self) -> str:
        return self._rules.logical_name

    def key_store_info(self) -> KeyStoreInfo:
        """The spec's GetKeyStoreInfo: id (``key_store_id``, else a UUID made with the store), table,
        logical name, grant tokens and KMS configuration."""
        return self._rules.info()

    def __repr__(self) -> str:
        rules = self._rules
        return f"AsyncBranchKeyStore(table={rules.table_name!r}, logical={rules.logical_name!r}, kms={rules.kms!r})"

    async def _run(self, plan: Plan) -> Any:
        rules = self._rules
        try:
            call = next(plan)
            while True:
                client = self._ddb if call.service == "dynamodb" else self._kms
                try:
                    response = await getattr(client, call.operation)(**call.request)
                except AWS_ERRORS as exc:
                    if call.service == "dynamodb":
                        raise rules.ddb_error(_camel(call.operation), exc) from exc
                    raise rules.kms_error(_camel(call.operation), call.subject, client, exc) from exc
                call = plan.send(response)
        except StopIteration as done:
            return done.value

    async def create_key_store(self) -> str:
        """Create the table if it does not exist (checking the key schema if it does); its ARN."""
        rules = self._rules
        try:
            return rules.checked_table(await self._ddb.describe_table(TableName=rules.table_name))
        except self._ddb.exceptions.ResourceNotFoundException:
            pass
        except AWS_ERRORS as exc:
            raise rules.ddb_error("DescribeTable", exc) from exc
        try:
            created = await self._ddb.create_table(**rules.create_table_request())
            if created.get("TableDescription", {}).get("TableStatus") != "ACTIVE":
                await self._ddb.get_waiter("table_exists").wait(TableName=rules.table_name, WaiterConfig={"Delay": 1})
        except AWS_ERRORS as exc:
            raise rules.ddb_error("CreateTable", exc) from exc
        return str(created.get("TableDescription", {}).get("TableArn", ""))

    async def create_key(
        self, branch_key_id: str | None = None, encryption_context: Mapping[str, str] | None = None
    ) -> str:
        key_id: str = await self._run(create_key_plan(self._rules, branch_key_id, encryption_context))
        return key_id

    async def version_key(self, branch_key_id: str) -> str:
        version: str = await self._run(version_key_plan(self._rules, branch_key_id))
        return version

    async def get_active_branch_key(self, branch_key_id: str) -> BranchKeyMaterials:
        found: BranchKeyMaterials = await self._run(version_plan(self._rules, branch_key_id, None))
        return found

    async def get_branch_key_version(self, branch_key_id: str, version: str) -> BranchKeyMaterials:
        found: BranchKeyMaterials = await self._run(version_plan(self._rules, branch_key_id, version))
        return found

    async def get_beacon_key(self, branch_key_id: str) -> BeaconKeyMaterials:
        found: BeaconKeyMaterials = await self._run(beacon_plan(self._rules, branch_key_id))
        return found


class AsyncHierarchicalKeyring(HierarchyRules):
    """The hierarchical keyring on an :class:`AsyncBranchKeyStore` (same arguments as the sync one)."""

    def __init__(self, key_store: AsyncBranchKeyStore, **options: Any) -> None:
        if not isinstance(key_store, AsyncBranchKeyStore):
            raise UsageError("an AsyncHierarchicalKeyring needs an AsyncBranchKeyStore")
        super().__init__(key_store, **options)
        self._async_store = key_store

    async def _active(self, branch_key_id: str) -> BranchKeyMaterials:
        entry_id = self.active_id(branch_key_id)
        found = self.cached(entry_id)
        if found is None:
            found = self.remember(entry_id, await self._async_store.get_active_branch_key(branch_key_id), branch_key_id)
        return found

    async def _version(self, branch_key_id: str, version: str) -> BranchKeyMaterials:
        entry_id = self.version_id(branch_key_id, version)
        found = self.cached(entry_id)
        if found is None:
            materials = await self._async_store.get_branch_key_version(branch_key_id, version)
            found = self.remember(entry_id, materials, branch_key_id)
        return found

    async def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        branch_key_id = self.branch_key_id_for(materials.encryption_context)
        return self.wrapped(materials, await self._active(branch_key_id))

    async def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        if materials.data_key is not None:
            return materials
        tries = Unwrapping(self, "hierarchical keyring", materials)
        branch_key_id = self.branch_key_id_for(materials.encryption_context)
        for edk in tries.pending(encrypted_data_keys):
            try:
                wrapped = self.candidate(edk, branch_key_id, materials.suite.key_bytes)
                if not isinstance(wrapped, WrappedKey):
                    tries.outcome(wrapped)
                    continue
                branch_key = await self._version(branch_key_id, wrapped.version)
                tries.outcome(self.unwrapped(branch_key, wrapped, materials))
            except KeyringError as exc:
                tries.failed(exc)
        return tries.result()
