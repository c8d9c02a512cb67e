"""The branch key store on DynamoDB (the specification's KeyStore), with boto3.

Items, their encryption context and their checks are :mod:`._ddb_items`; the requests are
:mod:`.branch_key_rules`. A store written by busta is read by the official KeyStore and back.

Operations and the calls each makes::

    create_key_store()        DescribeTable, then CreateTable if there is none (and wait for it)
    create_key()              2 GenerateDataKeyWithoutPlaintext + 1 ReEncrypt, 1 TransactWriteItems
    version_key()             1 GetItem, 1 ReEncrypt (authenticates the ACTIVE item), 1 GDKWP,
                              1 ReEncrypt, 1 TransactWriteItems
    get_active_branch_key()   1 GetItem, 1 Decrypt
    get_branch_key_version()  1 GetItem, 1 Decrypt
    get_beacon_key()          1 GetItem, 1 Decrypt

Writes are conditional: a new key's three items only where no item of that id and type exists, a
rotation's ACTIVE item only if its ``enc`` is still the one read. So two concurrent creations of
one id, or two concurrent rotations, leave one winner and a :class:`BranchKeyStoreError` (code
``ConditionalCheckFailed``) for the other; a failed transaction writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import boto3

from ..errors import UsageError
from ._ddb_items import (
    BeaconKeyMaterials,
    BranchKeyMaterials,
    active_context,
    beacon_context,
    beacon_from,
    check_branch_key_id,
    check_custom_context,
    decrypt_only_context,
    materials_from,
    rotated_context,
    to_item,
)
from .branch_key_rules import (
    AWS_ERRORS,
    SORT_ACTIVE,
    SORT_BEACON,
    KmsConfiguration,
    KmsKeyArn,
    KmsKeyDiscovery,
    KmsMrDiscovery,
    KmsMrkKeyArn,
    StoreRules,
    new_timestamp,
    new_version,
    sort_key_of_version,
)

__all__ = [
    "BeaconKeyMaterials",
    "BranchKeyMaterials",
    "BranchKeyStore",
    "KmsKeyArn",
    "KmsKeyDiscovery",
    "KmsMrDiscovery",
    "KmsMrkKeyArn",
]

_log = logging.getLogger("busta.keyrings.hierarchy")


def _default_region(kms: KmsConfiguration) -> str | None:
    """The spec's client region: the configured ARN's, the MRDiscovery region, else boto3's default."""
    if isinstance(kms, (KmsKeyArn, KmsMrkKeyArn)):
        return kms.arn.split(":")[3]
    if isinstance(kms, KmsMrDiscovery):
        return kms.region
    return None


class BranchKeyStore:
    """Branch keys in the DynamoDB table ``table_name``, wrapped under KMS as ``kms`` says.

    ``logical_key_store_name`` is bound into every item's KMS encryption context (so a table
    restored under another name still works with the same logical name; a store with another
    logical name cannot unwrap these items). ``ddb_client`` and ``kms_client`` are boto3 clients;
    by default they are made for the region of the configured key (MRDiscovery: its region).
    Thread-safe: it keeps no mutable state.
    """

    def __init__(
        self,
        table_name: str,
        logical_key_store_name: str,
        kms: KmsConfiguration,
        *,
        ddb_client: Any = None,
        kms_client: Any = None,
        grant_tokens: tuple[str, ...] = (),
    ) -> None:
        self._rules = StoreRules(table_name, logical_key_store_name, kms, grant_tokens)
        region = _default_region(kms)
        self._ddb = ddb_client if ddb_client is not None else boto3.client("dynamodb", region_name=region)
        self._kms = kms_client if kms_client is not None else boto3.client("kms", region_name=region)
        for name, client in (("ddb_client", self._ddb), ("kms_client", self._kms)):
            if not isinstance(getattr(getattr(client, "meta", None), "region_name", None), str):
                raise UsageError(f"{name} must be a boto3 client")

    @property
    def logical_key_store_name(self) -> str:
        return self._rules.logical_name

    @property
    def table_name(self) -> str:
        return self._rules.table_name

    @property
    def kms_configuration(self) -> KmsConfiguration:
        return self._rules.kms

    def __repr__(self) -> str:
        rules = self._rules
        return f"BranchKeyStore(table={rules.table_name!r}, logical={rules.logical_name!r}, kms={rules.kms!r})"

    # -- calls ----------------------------------------------------------------------------------

    def _ddb_call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        try:
            response: dict[str, Any] = getattr(self._ddb, operation)(**request)
        except AWS_ERRORS as exc:
            raise self._rules.ddb_error(_camel(operation), exc) from exc
        return response

    def _kms_call(self, operation: str, key_id: str, request: dict[str, Any]) -> dict[str, Any]:
        try:
            response: dict[str, Any] = getattr(self._kms, operation)(**request)
        except AWS_ERRORS as exc:
            raise self._rules.kms_error(_camel(operation), key_id, self._kms, exc) from exc
        return response

    # -- the table ------------------------------------------------------------------------------

    def create_key_store(self) -> str:
        """Create the table if it does not exist (checking the key schema if it does); its ARN."""
        rules = self._rules
        try:
            return rules.checked_table(self._ddb.describe_table(TableName=rules.table_name))
        except self._ddb.exceptions.ResourceNotFoundException:
            pass
        except AWS_ERRORS as exc:
            raise rules.ddb_error("DescribeTable", exc) from exc
        created = self._ddb_call("create_table", rules.create_table_request())
        if created.get("TableDescription", {}).get("TableStatus") == "ACTIVE":
            return str(created["TableDescription"].get("TableArn", ""))
        try:
            self._ddb.get_waiter("table_exists").wait(TableName=rules.table_name, WaiterConfig={"Delay": 1})
        except Exception as exc:  # botocore's WaiterError
            raise rules.ddb_error("DescribeTable", exc) from exc
        return str(created.get("TableDescription", {}).get("TableArn", ""))

    # -- writing keys ---------------------------------------------------------------------------

    def create_key(self, branch_key_id: str | None = None, encryption_context: Mapping[str, str] | None = None) -> str:
        """Create a branch key (its first version and its beacon key); return its id.

        Without ``branch_key_id`` a UUID is made. A chosen id needs ``encryption_context`` (the
        spec's rule; ``{}`` will do): its pairs are bound to every version as ``aws-crypto-ec:``
        attributes. An id that already exists raises :class:`BranchKeyStoreError`
        (``ConditionalCheckFailed``) and writes nothing.
        """
        if branch_key_id is not None and encryption_context is None:
            raise UsageError("create_key with a branch key id needs an encryption_context ({} will do)")
        rules = self._rules
        arn = rules.writing_arn("create_key")
        key_id = check_branch_key_id(branch_key_id) if branch_key_id is not None else new_version()
        custom = check_custom_context(encryption_context or {})
        base = decrypt_only_context(
            key_id, new_version(), new_timestamp(), logical_name=rules.logical_name, kms_arn=arn, custom=custom
        )
        active, beacon = active_context(base), beacon_context(base)
        wrapped = self._wrapped(base)
        wrapped_active = self._reencrypted(base, active, wrapped)
        wrapped_beacon = self._wrapped(beacon)
        items = [to_item(base, wrapped), to_item(active, wrapped_active), to_item(beacon, wrapped_beacon)]
        self._ddb_call("transact_write_items", rules.create_puts(items))
        _log.info("created branch key %s in %s", key_id, rules.table_name)
        return key_id

    def version_key(self, branch_key_id: str) -> str:
        """Rotate: a new version becomes ACTIVE (the old ones stay, to decrypt); return its version.

        The ACTIVE item is authenticated with KMS first, and replaced only if nobody rotated it
        in the meantime (else :class:`BranchKeyStoreError` ``ConditionalCheckFailed``, nothing written).
        """
        rules = self._rules
        rules.writing_arn("version_key")
        check_branch_key_id(branch_key_id)
        response = self._ddb_call("get_item", rules.get_request(branch_key_id, SORT_ACTIVE, consistent=True))
        active, old_enc = rules.item_of(response, branch_key_id, SORT_ACTIVE)
        rules.check_rotatable(active)
        self._kms_call("re_encrypt", rules.writing_arn("version_key"), rules.reencrypt_request(active, active, old_enc))
        version = new_version()
        base = rotated_context(active, version, new_timestamp())
        new_active = active_context(base)
        wrapped = self._wrapped(base)
        wrapped_active = self._reencrypted(base, new_active, wrapped)
        puts = rules.version_puts(to_item(base, wrapped), to_item(new_active, wrapped_active), old_enc)
        self._ddb_call("transact_write_items", puts)
        _log.info("rotated branch key %s in %s", branch_key_id, rules.table_name)
        return version

    def _wrapped(self, context: Mapping[str, str]) -> bytes:
        request = self._rules.generate_request(context)
        response = self._kms_call("generate_data_key_without_plaintext", request["KeyId"], request)
        return bytes(response["CiphertextBlob"])

    def _reencrypted(self, source: Mapping[str, str], destination: Mapping[str, str], blob: bytes) -> bytes:
        request = self._rules.reencrypt_request(source, destination, blob)
        return bytes(self._kms_call("re_encrypt", request["SourceKeyId"], request)["CiphertextBlob"])

    # -- reading keys ---------------------------------------------------------------------------

    def _unwrapped(self, branch_key_id: str, sort_key: str) -> tuple[dict[str, str], bytes]:
        rules = self._rules
        check_branch_key_id(branch_key_id)
        context, wrapped = rules.item_of(
            self._ddb_call("get_item", rules.get_request(branch_key_id, sort_key)), branch_key_id, sort_key
        )
        key_id = rules.unwrap_key_id(context)
        response = self._kms_call("decrypt", key_id, rules.decrypt_request(key_id, context, wrapped))
        return context, rules.plaintext_of(response, key_id)

    def get_active_branch_key(self, branch_key_id: str) -> BranchKeyMaterials:
        """The ACTIVE version of a branch key, unwrapped."""
        return materials_from(*self._unwrapped(branch_key_id, SORT_ACTIVE))

    def get_branch_key_version(self, branch_key_id: str, version: str) -> BranchKeyMaterials:
        """One version of a branch key, unwrapped (the version a hierarchical data key names)."""
        if not isinstance(version, str) or not version:
            raise UsageError("a branch key version is a non-empty str")
        return materials_from(*self._unwrapped(branch_key_id, sort_key_of_version(version)))

    def get_beacon_key(self, branch_key_id: str) -> BeaconKeyMaterials:
        """A branch key's beacon key, unwrapped."""
        return beacon_from(*self._unwrapped(branch_key_id, SORT_BEACON))


def _camel(operation: str) -> str:
    return "".join(part.title() for part in operation.split("_")).replace("Kms", "KMS")
