"""The I/O-free half of the branch key store: KMS configurations, requests, checks of answers.

Shared by the boto3 store (:mod:`busta.keyrings.branch_key_store`) and the aiobotocore one
(:mod:`busta.aio`): each operation is a few calls, built and checked here, so both stores send
the same requests and fail with the same errors.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Mapping
from typing import Any

import botocore.exceptions

from .._frozen import record
from ..errors import BranchKeyStoreError, KeyringError, KmsError, UsageError
from ._arn import is_region, mrk_match, parse_arn
from ._ddb_items import (
    ACTIVE_TYPE,
    BEACON_TYPE,
    BRANCH_KEY_BYTES,
    BRANCH_KEY_ID,
    ENC,
    KMS_ARN,
    TYPE,
    VERSION_PREFIX,
    item_context,
)
from ._kms_arguments import check_grant_tokens

__all__ = [
    "AWS_ERRORS",
    "SORT_ACTIVE",
    "SORT_BEACON",
    "KeyStoreInfo",
    "KmsConfiguration",
    "KmsKeyArn",
    "KmsKeyDiscovery",
    "KmsMrDiscovery",
    "KmsMrkKeyArn",
    "StoreRules",
    "new_timestamp",
    "new_version",
    "sort_key_of_version",
]

#: What a DynamoDB or KMS call may raise that the store maps into the BustaError tree.
AWS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_KEY_SCHEMA = [{"AttributeName": BRANCH_KEY_ID, "KeyType": "HASH"}, {"AttributeName": TYPE, "KeyType": "RANGE"}]


@record
class KmsKeyArn:
    """Wrap and unwrap with exactly this KMS key ARN (no alias); items of other keys are refused."""

    arn: str

    def __post_init__(self) -> None:
        _check_key_arn(self.arn)


@record
class KmsMrkKeyArn:
    """Like :class:`KmsKeyArn`, and also unwrap items of this multi-Region key's replicas (called here)."""

    arn: str

    def __post_init__(self) -> None:
        _check_key_arn(self.arn)


@record
class KmsKeyDiscovery:
    """Unwrap each item with the key its ``kms-arn`` names; this store cannot create or rotate keys."""


@record
class KmsMrDiscovery:
    """Discovery, with every multi-Region key called as its replica in ``region``."""

    region: str

    def __post_init__(self) -> None:
        if not is_region(self.region):
            raise UsageError(f"KmsMrDiscovery needs an AWS region name, not {self.region!r:.60}")


KmsConfiguration = KmsKeyArn | KmsMrkKeyArn | KmsKeyDiscovery | KmsMrDiscovery


@record
class KeyStoreInfo:
    """The specification's GetKeyStoreInfo: what a store is configured with (no secret)."""

    key_store_id: str
    table_name: str
    logical_key_store_name: str
    grant_tokens: tuple[str, ...]
    kms: KmsConfiguration


def _check_key_arn(arn: object) -> None:
    parsed = parse_arn(arn) if isinstance(arn, str) else None
    if parsed is None or parsed.resource_type != "key":
        raise UsageError(f"a branch key store needs a KMS key ARN (not an alias, id or name), not {arn!r:.200}")


def new_version() -> str:
    return str(uuid.uuid4())


def new_timestamp() -> str:
    """Now, in UTC, as the spec writes ``create-time``: ISO 8601 to the microsecond."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _aws_code(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        return str(error.get("Code", "Unknown")), str(error.get("Message", ""))[:300]
    return type(exc).__name__, str(exc)[:300]


class StoreRules:
    """What a branch key store decides without I/O."""

    def __init__(
        self,
        table_name: str,
        logical_name: str,
        kms: KmsConfiguration,
        grant_tokens: tuple[str, ...] = (),
        key_store_id: str | None = None,
    ) -> None:
        if not isinstance(table_name, str) or _TABLE_NAME.fullmatch(table_name) is None:
            raise UsageError("a branch key store's table name is 3 to 255 of a-z A-Z 0-9 _ - . (DynamoDB's rule)")
        if not isinstance(logical_name, str) or not logical_name:
            raise UsageError("a branch key store needs a non-empty logical key store name")
        if not isinstance(kms, (KmsKeyArn, KmsMrkKeyArn, KmsKeyDiscovery, KmsMrDiscovery)):
            raise UsageError("kms must be KmsKeyArn, KmsMrkKeyArn, KmsKeyDiscovery or KmsMrDiscovery")
        self.table_name, self.logical_name, self.kms = table_name, logical_name, kms
        self.grant_tokens = check_grant_tokens(grant_tokens)
        if key_store_id is not None and (not isinstance(key_store_id, str) or not key_store_id):
            raise UsageError("key_store_id must be a non-empty str")
        #: The spec's keystore id: the one given, else a version 4 UUID.
        self.key_store_id = key_store_id if key_store_id is not None else str(uuid.uuid4())

    def info(self) -> KeyStoreInfo:
        return KeyStoreInfo(self.key_store_id, self.table_name, self.logical_name, self.grant_tokens, self.kms)

    # -- errors ---------------------------------------------------------------------------------

    def ddb_error(self, operation: str, exc: Exception) -> BranchKeyStoreError:
        code, detail = _aws_code(exc)
        if code == "TransactionCanceledException" and "ConditionalCheckFailed" in detail:
            code = "ConditionalCheckFailed"
        return BranchKeyStoreError(operation, code, self.table_name, detail)

    def kms_error(self, operation: str, key_id: str, client: Any, exc: Exception) -> KmsError:
        code, detail = _aws_code(exc)
        return KmsError(operation, code, key_id, str(client.meta.region_name), detail)

    def missing(self, branch_key_id: str, sort_key: str) -> BranchKeyStoreError:
        what = f"no item {sort_key!r:.120} for branch key {branch_key_id!r:.200}"
        return BranchKeyStoreError("GetItem", "NoSuchBranchKey", self.table_name, what)

    # -- the table ------------------------------------------------------------------------------

    def create_table_request(self) -> dict[str, Any]:
        return {
            "TableName": self.table_name,
            "KeySchema": _KEY_SCHEMA,
            "AttributeDefinitions": [
                {"AttributeName": BRANCH_KEY_ID, "AttributeType": "S"},
                {"AttributeName": TYPE, "AttributeType": "S"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
        }

    def checked_table(self, description: Mapping[str, Any]) -> str:
        """The ARN of a described table, if its key schema is the store's; else UsageError."""
        table = description.get("Table", {})
        schema = sorted(table.get("KeySchema", []), key=lambda k: k.get("KeyType", ""))
        if schema != _KEY_SCHEMA:
            raise UsageError(f"table {self.table_name} exists without the branch key store's key schema")
        return str(table.get("TableArn", ""))

    # -- reading items --------------------------------------------------------------------------

    def get_request(self, branch_key_id: str, sort_key: str, *, consistent: bool = False) -> dict[str, Any]:
        key = {BRANCH_KEY_ID: {"S": branch_key_id}, TYPE: {"S": sort_key}}
        request: dict[str, Any] = {"TableName": self.table_name, "Key": key}
        if consistent:
            request["ConsistentRead"] = True
        return request

    def item_of(self, response: Mapping[str, Any], branch_key_id: str, sort_key: str) -> tuple[dict[str, str], bytes]:
        """The checked context and ``enc`` of a GetItem answer, which must be the item asked for."""
        item = response.get("Item")
        if not item:
            raise self.missing(branch_key_id, sort_key)
        context, wrapped = item_context(item, self.logical_name)
        if context[BRANCH_KEY_ID] != branch_key_id or context[TYPE] != sort_key:
            raise KeyringError("the branch key store item is not valid: it is not the item asked for")
        return context, wrapped

    def unwrap_key_id(self, context: Mapping[str, str]) -> str:
        """The key a Decrypt of this item names: the configured one, or (discovery) the item's."""
        stored = context[KMS_ARN]
        if isinstance(self.kms, KmsKeyArn):
            if stored != self.kms.arn:
                raise KeyringError(f"branch key item wrapped by {stored}, not by the store's {self.kms.arn}")
            return self.kms.arn
        if isinstance(self.kms, KmsMrkKeyArn):
            if not mrk_match(self.kms.arn, stored):
                raise KeyringError(f"branch key item wrapped by {stored}, not by the store's {self.kms.arn}")
            return self.kms.arn
        if isinstance(self.kms, KmsMrDiscovery):
            arn = parse_arn(stored)
            if arn is not None and arn.is_mrk:
                return str(arn.in_region(self.kms.region))
        return stored

    def decrypt_request(self, key_id: str, context: Mapping[str, str], wrapped: bytes) -> dict[str, Any]:
        request: dict[str, Any] = {"KeyId": key_id, "CiphertextBlob": wrapped, "EncryptionContext": dict(context)}
        return self._with_tokens(request)

    @staticmethod
    def plaintext_of(response: Mapping[str, Any], key_id: str) -> bytes:
        answered = response.get("KeyId")
        if answered is not None and answered != key_id and not mrk_match(key_id, str(answered)):
            raise KeyringError(f"KMS unwrapped the branch key with {answered!r:.200}, not {key_id}")
        plaintext = bytes(response.get("Plaintext", b""))
        if len(plaintext) != BRANCH_KEY_BYTES:
            raise KeyringError(f"KMS unwrapped a branch key of {len(plaintext)} bytes, not {BRANCH_KEY_BYTES}")
        return plaintext

    # -- writing items --------------------------------------------------------------------------

    def writing_arn(self, operation: str) -> str:
        """The key that wraps new items; discovery stores cannot write (the spec's rule)."""
        if isinstance(self.kms, (KmsKeyArn, KmsMrkKeyArn)):
            return self.kms.arn
        raise UsageError(f"{operation} needs a store configured with a KMS key ARN, not discovery")

    def generate_request(self, context: Mapping[str, str]) -> dict[str, Any]:
        request = {"KeyId": self.writing_arn("creating a branch key"), "NumberOfBytes": BRANCH_KEY_BYTES}
        return self._with_tokens({**request, "EncryptionContext": dict(context)})

    def reencrypt_request(
        self, source: Mapping[str, str], destination: Mapping[str, str], blob: bytes
    ) -> dict[str, Any]:
        arn = self.writing_arn("rotating a branch key")
        request: dict[str, Any] = {
            "CiphertextBlob": blob,
            "SourceKeyId": arn,
            "SourceEncryptionContext": dict(source),
            "DestinationKeyId": arn,
            "DestinationEncryptionContext": dict(destination),
        }
        return self._with_tokens(request)

    def check_rotatable(self, context: Mapping[str, str]) -> None:
        """VersionKey keeps the stored ``kms-arn``: it must be compatible with the configured key."""
        arn = self.writing_arn("rotating a branch key")
        compatible = mrk_match(arn, context[KMS_ARN]) if isinstance(self.kms, KmsMrkKeyArn) else arn == context[KMS_ARN]
        if not compatible:
            raise KeyringError(f"branch key wrapped by {context[KMS_ARN]}, not by the store's {arn}")

    def put(self, item: dict[str, Any], condition: str, old_enc: bytes | None = None) -> dict[str, Any]:
        put: dict[str, Any] = {
            "TableName": self.table_name,
            "Item": item,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#bk": BRANCH_KEY_ID},
        }
        if old_enc is not None:
            put["ExpressionAttributeValues"] = {":encOld": {"B": old_enc}}
        return {"Put": put}

    def create_puts(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """All three items of a new branch key, each only if no item of that key and type exists."""
        return {"TransactItems": [self.put(item, "attribute_not_exists(#bk)") for item in items]}

    def version_puts(self, decrypt_only: dict[str, Any], active: dict[str, Any], old_enc: bytes) -> dict[str, Any]:
        """A new version, and the ACTIVE item replaced only if it is still the one that was read."""
        condition = f"attribute_exists(#bk) AND {ENC} = :encOld"
        return {
            "TransactItems": [
                self.put(decrypt_only, "attribute_not_exists(#bk)"),
                self.put(active, condition, old_enc),
            ]
        }

    def _with_tokens(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.grant_tokens:
            request["GrantTokens"] = list(self.grant_tokens)
        return request


def sort_key_of_version(version: str) -> str:
    return VERSION_PREFIX + version


SORT_ACTIVE, SORT_BEACON = ACTIVE_TYPE, BEACON_TYPE
