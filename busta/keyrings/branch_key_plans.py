"""The branch key store's operations as plans: generators that yield each AWS call and are sent its answer.

A plan does no I/O. It yields a :class:`Call` (service, operation, the key or table it concerns, the
request), is sent the response, and returns the operation's result; an error it raises is already
in the BustaError tree. The boto3 store (:mod:`busta.keyrings.branch_key_store`) and the
aiobotocore one (:mod:`busta.aio`) each drive the same plans, so they send the same requests in
the same order and fail the same way; only the call differs.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Mapping
from typing import Any, Literal

from .._frozen import record
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
from .branch_key_rules import SORT_ACTIVE, SORT_BEACON, StoreRules, new_timestamp, new_version, sort_key_of_version

__all__ = [
    "BeaconKeyMaterials",
    "BranchKeyMaterials",
    "Call",
    "Plan",
    "beacon_plan",
    "create_key_plan",
    "version_key_plan",
    "version_plan",
]

_log = logging.getLogger("busta.keyrings.hierarchy")


@record
class Call:
    """One AWS call of a plan: ``operation`` is the boto3 method name; ``subject`` the KMS key (for errors)."""

    service: Literal["dynamodb", "kms"]
    operation: str
    subject: str
    request: dict[str, Any]


Plan = Generator[Call, dict[str, Any], Any]


def _wrapped(rules: StoreRules, context: Mapping[str, str]) -> Plan:
    request = rules.generate_request(context)
    response = yield Call("kms", "generate_data_key_without_plaintext", request["KeyId"], request)
    return bytes(response["CiphertextBlob"])


def _reencrypted(rules: StoreRules, source: Mapping[str, str], destination: Mapping[str, str], blob: bytes) -> Plan:
    request = rules.reencrypt_request(source, destination, blob)
    response = yield Call("kms", "re_encrypt", request["SourceKeyId"], request)
    return bytes(response["CiphertextBlob"])


def create_key_plan(rules: StoreRules, branch_key_id: str | None, encryption_context: Mapping[str, str] | None) -> Plan:
    """CreateKey: 2 GenerateDataKeyWithoutPlaintext and 1 ReEncrypt, then one conditional transaction."""
    if branch_key_id is not None and encryption_context is None:
        raise UsageError("create_key with a branch key id needs an encryption_context ({} will do)")
    arn = rules.writing_arn("create_key")
    key_id = check_branch_key_id(branch_key_id) if branch_key_id is not None else new_version()
    custom = check_custom_context(encryption_context or {})
    base = decrypt_only_context(
        key_id, new_version(), new_timestamp(), logical_name=rules.logical_name, kms_arn=arn, custom=custom
    )
    active, beacon = active_context(base), beacon_context(base)
    wrapped = yield from _wrapped(rules, base)
    wrapped_active = yield from _reencrypted(rules, base, active, wrapped)
    wrapped_beacon = yield from _wrapped(rules, beacon)
    items = [to_item(base, wrapped), to_item(active, wrapped_active), to_item(beacon, wrapped_beacon)]
    yield Call("dynamodb", "transact_write_items", rules.table_name, rules.create_puts(items))
    _log.info("created branch key %s in %s", key_id, rules.table_name)
    return key_id


def version_key_plan(rules: StoreRules, branch_key_id: str) -> Plan:
    """VersionKey: read and authenticate ACTIVE, wrap a new version, replace ACTIVE only if unchanged."""
    arn = rules.writing_arn("version_key")
    check_branch_key_id(branch_key_id)
    request = rules.get_request(branch_key_id, SORT_ACTIVE, consistent=True)
    response = yield Call("dynamodb", "get_item", rules.table_name, request)
    active, old_enc = rules.item_of(response, branch_key_id, SORT_ACTIVE)
    rules.check_rotatable(active)
    yield Call("kms", "re_encrypt", arn, rules.reencrypt_request(active, active, old_enc))
    version = new_version()
    base = rotated_context(active, version, new_timestamp())
    new_active = active_context(base)
    wrapped = yield from _wrapped(rules, base)
    wrapped_active = yield from _reencrypted(rules, base, new_active, wrapped)
    puts = rules.version_puts(to_item(base, wrapped), to_item(new_active, wrapped_active), old_enc)
    yield Call("dynamodb", "transact_write_items", rules.table_name, puts)
    _log.info("rotated branch key %s in %s", branch_key_id, rules.table_name)
    return version


def _unwrapped(rules: StoreRules, branch_key_id: str, sort_key: str) -> Plan:
    check_branch_key_id(branch_key_id)
    response = yield Call("dynamodb", "get_item", rules.table_name, rules.get_request(branch_key_id, sort_key))
    context, wrapped = rules.item_of(response, branch_key_id, sort_key)
    key_id = rules.unwrap_key_id(context)
    answer = yield Call("kms", "decrypt", key_id, rules.decrypt_request(key_id, context, wrapped))
    return context, rules.plaintext_of(answer, key_id)


def version_plan(rules: StoreRules, branch_key_id: str, version: str | None) -> Plan:
    """GetActiveBranchKey (``version=None``) or GetBranchKeyVersion: one GetItem, one Decrypt."""
    if version is not None and (not isinstance(version, str) or not version):
        raise UsageError("a branch key version is a non-empty str")
    sort_key = SORT_ACTIVE if version is None else sort_key_of_version(version)
    context, plaintext = yield from _unwrapped(rules, branch_key_id, sort_key)
    return materials_from(context, plaintext)


def beacon_plan(rules: StoreRules, branch_key_id: str) -> Plan:
    """GetBeaconKey: one GetItem, one Decrypt."""
    context, plaintext = yield from _unwrapped(rules, branch_key_id, SORT_BEACON)
    return beacon_from(context, plaintext)
