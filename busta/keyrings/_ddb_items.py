"""The branch key store's DynamoDB items and the KMS encryption context bound to each (pure rules).

A branch key has three kinds of item, all with the partition key ``branch-key-id`` (S) and the
sort key ``type`` (S), written exactly as the official KeyStore writes them::

    type                           version                      enc (B)
    "branch:version:<uuid>"        (absent)                     the DECRYPT_ONLY wrapped branch key
    "branch:ACTIVE"                "branch:version:<uuid>"      the same version, wrapped again
    "beacon:ACTIVE"                (absent)                     the wrapped beacon key

and on every item ``create-time`` (S, ISO 8601 UTC to the microsecond), ``kms-arn`` (S, the key
ARN that wrapped ``enc``), ``hierarchy-version`` (N, ``1``) and one ``aws-crypto-ec:<name>`` (S)
per pair of the branch key's custom encryption context. The KMS encryption context of an item is
every attribute but ``enc``, each as a string, plus ``tablename`` (the logical key store name,
which is never stored): so KMS authenticates the whole item when it unwraps ``enc``.

Items read from DynamoDB are untrusted: :func:`item_context` checks every attribute (its name,
its type, its size, the relations between ``type`` and ``version``) before anything is built.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any, Final

from .._frozen import field, record
from .._secrets import SecretBytes
from ..errors import KeyringError, UsageError
from ..limits import (
    MAX_BRANCH_KEY_ATTRIBUTE_CHARS,
    MAX_BRANCH_KEY_ID_CHARS,
    MAX_BRANCH_KEY_ITEM_ATTRIBUTES,
    MAX_WRAPPED_BRANCH_KEY_BYTES,
)
from ._arn import parse_arn

__all__ = [
    "ACTIVE_TYPE",
    "BEACON_TYPE",
    "BRANCH_KEY_BYTES",
    "CUSTOM_PREFIX",
    "UUID_PATTERN",
    "VERSION_PREFIX",
    "BeaconKeyMaterials",
    "BranchKeyMaterials",
    "active_context",
    "beacon_context",
    "check_branch_key_id",
    "check_custom_context",
    "decrypt_only_context",
    "item_context",
    "materials_from",
    "rotated_context",
    "to_item",
    "version_of",
]

BRANCH_KEY_ID: Final = "branch-key-id"
TYPE: Final = "type"
CREATE_TIME: Final = "create-time"
HIERARCHY_VERSION: Final = "hierarchy-version"
TABLE_NAME: Final = "tablename"
KMS_ARN: Final = "kms-arn"
ENC: Final = "enc"
VERSION: Final = "version"
VERSION_PREFIX: Final = "branch:version:"
ACTIVE_TYPE: Final = "branch:ACTIVE"
BEACON_TYPE: Final = "beacon:ACTIVE"
CUSTOM_PREFIX: Final = "aws-crypto-ec:"
#: A branch key (and a beacon key) is 32 bytes: GenerateDataKeyWithoutPlaintext(NumberOfBytes=32).
BRANCH_KEY_BYTES: Final = 32
UUID_PATTERN = _UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@record
class BranchKeyMaterials:
    """One version of a branch key, unwrapped: its id, version (a UUID string), key and custom context."""

    branch_key_id: str
    version: str
    key: SecretBytes = field(repr=False)
    encryption_context: Mapping[str, str]

    @property
    def version_bytes(self) -> bytes:
        """The version as the 16 bytes of its UUID (what a hierarchical data key stores)."""
        return uuid.UUID(self.version).bytes


@record
class BeaconKeyMaterials:
    """A branch key's beacon key (for searchable encryption), unwrapped."""

    branch_key_id: str
    key: SecretBytes = field(repr=False)
    encryption_context: Mapping[str, str]


def check_branch_key_id(branch_key_id: object) -> str:
    if not isinstance(branch_key_id, str) or not branch_key_id:
        raise UsageError("a branch key id must be a non-empty str")
    if len(branch_key_id) > MAX_BRANCH_KEY_ID_CHARS:
        raise UsageError(f"a branch key id has at most {MAX_BRANCH_KEY_ID_CHARS} characters")
    return branch_key_id


def check_custom_context(context: Mapping[str, str]) -> dict[str, str]:
    """A branch key's custom encryption context: string pairs whose prefixed names DynamoDB accepts."""
    if not isinstance(context, Mapping):
        raise UsageError("a branch key's encryption context must be a mapping of str to str")
    pairs = dict(context)
    if len(pairs) > MAX_BRANCH_KEY_ITEM_ATTRIBUTES - 8:
        raise UsageError(f"a branch key's encryption context has at most {MAX_BRANCH_KEY_ITEM_ATTRIBUTES - 8} pairs")
    for key, value in pairs.items():
        if not isinstance(key, str) or not isinstance(value, str) or not key:
            raise UsageError("a branch key's encryption context maps non-empty str keys to str values")
        if len(CUSTOM_PREFIX + key) > MAX_BRANCH_KEY_ATTRIBUTE_CHARS or len(value) > MAX_BRANCH_KEY_ATTRIBUTE_CHARS:
            raise UsageError(f"encryption context keys and values have at most {MAX_BRANCH_KEY_ATTRIBUTE_CHARS} chars")
    return pairs


def decrypt_only_context(
    branch_key_id: str, version: str, timestamp: str, *, logical_name: str, kms_arn: str, custom: Mapping[str, str]
) -> dict[str, str]:
    """The KMS encryption context of a DECRYPT_ONLY item (the spec's shared fields, no ``version``)."""
    context = {
        BRANCH_KEY_ID: branch_key_id,
        TYPE: VERSION_PREFIX + version,
        CREATE_TIME: timestamp,
        TABLE_NAME: logical_name,
        KMS_ARN: kms_arn,
        HIERARCHY_VERSION: "1",
    }
    context.update({CUSTOM_PREFIX + k: v for k, v in custom.items()})
    return context


def active_context(decrypt_only: Mapping[str, str]) -> dict[str, str]:
    """The ACTIVE item's context: the DECRYPT_ONLY one with ``type`` ACTIVE and ``version`` its type."""
    return {**decrypt_only, VERSION: decrypt_only[TYPE], TYPE: ACTIVE_TYPE}


def beacon_context(decrypt_only: Mapping[str, str]) -> dict[str, str]:
    return {**decrypt_only, TYPE: BEACON_TYPE}


def rotated_context(active: Mapping[str, str], version: str, timestamp: str) -> dict[str, str]:
    """A new DECRYPT_ONLY context from the ACTIVE one: same id, ``kms-arn`` and custom pairs."""
    context = {k: v for k, v in active.items() if k != VERSION}
    context.update({TYPE: VERSION_PREFIX + version, CREATE_TIME: timestamp})
    return context


def to_item(context: Mapping[str, str], wrapped: bytes) -> dict[str, dict[str, Any]]:
    """The DynamoDB item (low-level attribute values) of an encryption context and its ``enc``."""
    item: dict[str, dict[str, Any]] = {}
    for key, value in context.items():
        if key == TABLE_NAME:
            continue
        item[key] = {"N": value} if key == HIERARCHY_VERSION else {"S": value}
    item[ENC] = {"B": wrapped}
    return item


def _fail(reason: str) -> KeyringError:
    return KeyringError(f"the branch key store item is not valid: {reason}")


def _string(name: str, value: object) -> str:
    if not isinstance(value, dict) or len(value) != 1 or not isinstance(value.get("S"), str):
        raise _fail(f"attribute {name[:80]!r} is not a string")
    text: str = value["S"]
    if len(text) > MAX_BRANCH_KEY_ATTRIBUTE_CHARS:
        raise _fail(f"attribute {name[:80]!r} is longer than {MAX_BRANCH_KEY_ATTRIBUTE_CHARS} characters")
    return text


def _wrapped(item: Mapping[str, object]) -> bytes:
    value = item.get(ENC)
    blob = value.get("B") if isinstance(value, dict) and len(value) == 1 else None
    if not isinstance(blob, (bytes, bytearray)) or not 0 < len(blob) <= MAX_WRAPPED_BRANCH_KEY_BYTES:
        raise _fail(f"'enc' is not a binary of 1 to {MAX_WRAPPED_BRANCH_KEY_BYTES} bytes")
    return bytes(blob)


def _check_shape(context: Mapping[str, str]) -> None:
    for name in (BRANCH_KEY_ID, TYPE, CREATE_TIME, KMS_ARN):
        if not context.get(name):
            raise _fail(f"attribute {name!r} is missing or empty")
    if context[HIERARCHY_VERSION] != "1":
        raise _fail("'hierarchy-version' is not 1")
    arn = parse_arn(context[KMS_ARN])
    if arn is None or arn.resource_type != "key":
        raise _fail("'kms-arn' is not a KMS key ARN")
    kind, version = context[TYPE], context.get(VERSION)
    if (version is not None) != (kind == ACTIVE_TYPE):
        raise _fail("'version' must be present exactly on the ACTIVE item")
    if kind not in (ACTIVE_TYPE, BEACON_TYPE) and not _is_version(kind):
        raise _fail("'type' is none of branch:ACTIVE, beacon:ACTIVE, branch:version:<uuid>")
    if version is not None and not _is_version(version):
        raise _fail("'version' is not branch:version:<uuid>")


def _is_version(text: str) -> bool:
    return text.startswith(VERSION_PREFIX) and _UUID.fullmatch(text[len(VERSION_PREFIX) :]) is not None


def item_context(item: object, logical_name: str) -> tuple[dict[str, str], bytes]:
    """Check an untrusted item; return its KMS encryption context and its wrapped key (``enc``)."""
    if not isinstance(item, dict) or not item:
        raise _fail("it is empty")
    if len(item) > MAX_BRANCH_KEY_ITEM_ATTRIBUTES:
        raise _fail(f"it has more than {MAX_BRANCH_KEY_ITEM_ATTRIBUTES} attributes")
    if TABLE_NAME in item:
        raise _fail("it stores 'tablename', which only the encryption context may hold")
    context: dict[str, str] = {}
    for name, value in item.items():
        if not isinstance(name, str) or not 0 < len(name) <= MAX_BRANCH_KEY_ATTRIBUTE_CHARS:
            raise _fail("an attribute name is empty or too long")
        if name == ENC:
            continue
        if name == HIERARCHY_VERSION:
            number = value.get("N") if isinstance(value, dict) and len(value) == 1 else None
            if not isinstance(number, str):
                raise _fail("'hierarchy-version' is not a number")
            context[name] = number
        else:
            context[name] = _string(name, value)
    if HIERARCHY_VERSION not in context:
        raise _fail("attribute 'hierarchy-version' is missing")
    _check_shape(context)
    context[TABLE_NAME] = logical_name
    return context, _wrapped(item)


def version_of(context: Mapping[str, str]) -> str:
    """The branch key version (a UUID string) an ACTIVE or DECRYPT_ONLY context names."""
    text = context[VERSION] if context[TYPE] == ACTIVE_TYPE else context[TYPE]
    if not _is_version(text):
        raise _fail("the item holds no branch key version")
    return text[len(VERSION_PREFIX) :]


def _custom(context: Mapping[str, str]) -> dict[str, str]:
    return {k[len(CUSTOM_PREFIX) :]: v for k, v in context.items() if k.startswith(CUSTOM_PREFIX)}


def materials_from(context: Mapping[str, str], plaintext: bytes) -> BranchKeyMaterials:
    """Branch key materials from an authenticated context and the key KMS unwrapped."""
    if len(plaintext) != BRANCH_KEY_BYTES:
        raise _fail(f"its key is {len(plaintext)} bytes, not {BRANCH_KEY_BYTES}")
    return BranchKeyMaterials(context[BRANCH_KEY_ID], version_of(context), SecretBytes(plaintext), _custom(context))


def beacon_from(context: Mapping[str, str], plaintext: bytes) -> BeaconKeyMaterials:
    if len(plaintext) != BRANCH_KEY_BYTES:
        raise _fail(f"its key is {len(plaintext)} bytes, not {BRANCH_KEY_BYTES}")
    return BeaconKeyMaterials(context[BRANCH_KEY_ID], SecretBytes(plaintext), _custom(context))
