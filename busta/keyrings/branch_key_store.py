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

from collections.abc import Mapping
from typing import Any

import boto3
import botocore.config

from ..errors import UsageError
from ._kms_clients import DEFAULT_CLIENT_CONFIG
from .branch_key_plans import (
    BeaconKeyMaterials,
    BranchKeyMaterials,
    Plan,
    beacon_plan,
    create_key_plan,
    version_key_plan,
    version_plan,
)
from .branch_key_rules import (
    AWS_ERRORS,
    KeyStoreInfo,
    KmsConfiguration,
    KmsKeyArn,
    KmsKeyDiscovery,
    KmsMrDiscovery,
    KmsMrkKeyArn,
    StoreRules,
)

__all__ = [
    "BeaconKeyMaterials",
    "BranchKeyMaterials",
    "BranchKeyStore",
    "KeyStoreInfo",
    "KmsKeyArn",
    "KmsKeyDiscovery",
    "KmsMrDiscovery",
    "KmsMrkKeyArn",
    "default_region",
]


def default_region(kms: KmsConfiguration) -> str | None:
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
        key_store_id: str | None = None,
    ) -> None:
        self._rules = StoreRules(table_name, logical_key_store_name, kms, grant_tokens, key_store_id)
        region = default_region(kms)
        self._ddb = ddb_client if ddb_client is not None else _default_client("dynamodb", region)
        self._kms = kms_client if kms_client is not None else _default_client("kms", region)
        for name, client in (("ddb_client", self._ddb), ("kms_client", self._kms)):
            if not isinstance(getattr(getattr(client, "meta", None), "region_name", None), str):
                raise UsageError(f"{name} must be a boto3 client")

    @property
    def logical_key_store_name(self) -> str:
        return self._rules.logical_name

    def key_store_info(self) -> KeyStoreInfo:
        """The spec's GetKeyStoreInfo: id (``key_store_id``, else a UUID made with the store), table,
        logical name, grant tokens and KMS configuration."""
        return self._rules.info()

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

    def _run(self, plan: Plan) -> Any:
        """Drive a plan (:mod:`.branch_key_plans`): make each call it yields, send it the answer."""
        rules = self._rules
        try:
            call = next(plan)
            while True:
                client = self._ddb if call.service == "dynamodb" else self._kms
                try:
                    response = getattr(client, call.operation)(**call.request)
                except AWS_ERRORS as exc:
                    if call.service == "dynamodb":
                        raise rules.ddb_error(_camel(call.operation), exc) from exc
                    raise rules.kms_error(_camel(call.operation), call.subject, client, exc) from exc
                call = plan.send(response)
        except StopIteration as done:
            return done.value

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
        try:
            created = self._ddb.create_table(**rules.create_table_request())
        except AWS_ERRORS as exc:
            raise rules.ddb_error("CreateTable", exc) from exc
        if created.get("TableDescription", {}).get("TableStatus") == "ACTIVE":
            return str(created["TableDescription"].get("TableArn", ""))
        try:
            self._ddb.get_waiter("table_exists").wait(TableName=rules.table_name, WaiterConfig={"Delay": 1})
        except Exception as exc:  # botocore's WaiterError
            raise rules.ddb_error("DescribeTable", exc) from exc
        return str(created.get("TableDescription", {}).get("TableArn", ""))

    # -- keys ---------------------------------------------------------------------------------

    def create_key(self, branch_key_id: str | None = None, encryption_context: Mapping[str, str] | None = None) -> str:
        """Create a branch key (its first version and its beacon key); return its id.

        Without ``branch_key_id`` a UUID is made. A chosen id needs ``encryption_context`` (the
        spec's rule; ``{}`` will do): its pairs are bound to every version as ``aws-crypto-ec:``
        attributes. An id that already exists raises :class:`BranchKeyStoreError`
        (``ConditionalCheckFailed``) and writes nothing.
        """
        key_id: str = self._run(create_key_plan(self._rules, branch_key_id, encryption_context))
        return key_id

    def version_key(self, branch_key_id: str) -> str:
        """Rotate: a new version becomes ACTIVE (the old ones stay, to decrypt); return its version.

        The ACTIVE item is authenticated with KMS first, and replaced only if nobody rotated it
        in the meantime (else :class:`BranchKeyStoreError` ``ConditionalCheckFailed``, nothing written).
        """
        version: str = self._run(version_key_plan(self._rules, branch_key_id))
        return version

    def get_active_branch_key(self, branch_key_id: str) -> BranchKeyMaterials:
        """The ACTIVE version of a branch key, unwrapped."""
        found: BranchKeyMaterials = self._run(version_plan(self._rules, branch_key_id, None))
        return found

    def get_branch_key_version(self, branch_key_id: str, version: str) -> BranchKeyMaterials:
        """One version of a branch key, unwrapped (the version a hierarchical data key names)."""
        found: BranchKeyMaterials = self._run(version_plan(self._rules, branch_key_id, version))
        return found

    def get_beacon_key(self, branch_key_id: str) -> BeaconKeyMaterials:
        """A branch key's beacon key, unwrapped."""
        found: BeaconKeyMaterials = self._run(beacon_plan(self._rules, branch_key_id))
        return found


#: The clients the store makes: bounded waits; KMS's carry the spec's user agent ``aws-kms-hierarchy``.
_DDB_CONFIG = DEFAULT_CLIENT_CONFIG
_KMS_CONFIG = DEFAULT_CLIENT_CONFIG.merge(botocore.config.Config(user_agent_extra="aws-kms-hierarchy"))


def _default_client(service: str, region: str | None) -> Any:
    """A boto3 client in the spec's region (botocore's default for discovery); its failure is a UsageError."""
    config = _KMS_CONFIG if service == "kms" else _DDB_CONFIG
    try:
        return boto3.client(service, region_name=region, config=config)
    except AWS_ERRORS as exc:
        raise UsageError(f"no {service} client for the branch key store: {type(exc).__name__}: {exc}") from exc


def _camel(operation: str) -> str:
    return "".join(part.title() for part in operation.split("_")).replace("Kms", "KMS")
