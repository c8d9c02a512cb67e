"""AWS KMS keyrings: strict, discovery, and their multi-Region-key aware forms.

Encrypted data key layout (the ESDK AWS KMS keyrings)::

    provider id   = "aws-kms"
    provider info = the key ARN that KMS reported (UTF-8)
    ciphertext    = the KMS ciphertext blob

Every call sends the message's encryption context to KMS (so KMS binds it to
the data key and logs it in CloudTrail). Decrypt always names the key (KeyId),
never a keyless Decrypt. Requires ``pip install "busta[aws]"`` (boto3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import boto3  # noqa: F401 - the [aws] extra: callers hand in boto3 clients and sessions
import botocore.exceptions

from ..format import EncryptedDataKey
from ..materials import DecryptionMaterials, EncryptionMaterials
from ._arn import mrk_match
from ._common import unwrap_first
from ._kms_clients import DEFAULT_CLIENT_CONFIG as DEFAULT_CLIENT_CONFIG  # noqa: PLC0414 - re-exported
from ._kms_clients import ClientCache
from .kms_wire import (
    KMS_ERRORS,
    DiscoveryFilter,
    DiscoveryRules,
    KmsRules,
    MrkDiscoveryRules,
    RegionBudget,
    StrictRules,
    decrypted_key,
    kms_error,
    log_success,
    no_client_error,
    region_of,
)

__all__ = [
    "AwsKmsDiscoveryKeyring",
    "AwsKmsKeyring",
    "AwsKmsMrkDiscoveryKeyring",
    "AwsKmsMrkKeyring",
    "ClientCache",
    "DiscoveryFilter",
    "KmsClientSupplier",
]


class KmsClientSupplier(Protocol):
    """Returns a boto3 KMS client for a region (custom endpoints, credentials, retries...)."""

    def __call__(self, region: str) -> Any: ...


#: The supplier of keyrings given neither ``client`` nor ``client_supplier``.
_default_clients: KmsClientSupplier = ClientCache()


def _call(operation: str, key_id: str, client: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Call KMS, mapping every botocore error into :class:`KmsError`."""
    region = region_of(client)
    try:
        response: dict[str, Any] = getattr(client, operation)(**request)
    except KMS_ERRORS as exc:
        raise kms_error(operation, key_id, region, exc) from exc
    log_success(operation, key_id, region)
    return response


def _supplied(supplier: KmsClientSupplier, region: str) -> Any:
    """A client from ``supplier``; its failure (botocore's InvalidRegionError...) is a :class:`KeyringError`."""
    try:
        return supplier(region)
    except (botocore.exceptions.BotoCoreError, ValueError) as exc:
        raise no_client_error(region, exc) from exc


class _KmsDecrypter(KmsRules):
    """What every sync KMS keyring shares: trying each ``aws-kms`` data key it may decrypt, with boto3."""

    performs_io = True

    def _default_supplier(self) -> KmsClientSupplier:
        return _default_clients

    def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        budget = RegionBudget()  # per call: concurrent calls never share it

        def attempt(edk: EncryptedDataKey) -> bytes | str | None:
            plan = self.route(edk, budget)
            if plan is None or isinstance(plan, str):
                return plan
            arn_text, key_id, region = plan
            client = self._client if self._client is not None else _supplied(self._supplier, region)
            refused = self.client_refusal(arn_text, region, client)
            if refused is not None:
                return refused
            response = _call("decrypt", key_id, client, self.decrypt_request(key_id, edk, materials))
            return decrypted_key(key_id, response, materials)

        return unwrap_first(self, "AWS KMS keyring", materials, encrypted_data_keys, attempt)


class AwsKmsKeyring(StrictRules, _KmsDecrypter):
    """Wraps data keys with one KMS key, and unwraps only data keys of exactly that key.

    As generator (first or only keyring) it calls GenerateDataKey, otherwise
    Encrypt. ``key_id`` is any identifier KMS accepts: a key ARN, an alias ARN,
    a key id or an alias name (``alias/name``). A key id or alias name needs its
    region: ``region=``, or the region of ``client``. Only a key ARN can match
    data keys on decrypt (the spec's strict match of the data key's provider
    info): with any other identifier decrypt fails, saying so. Pass ``client``
    (a boto3 KMS client) or ``client_supplier`` (region -> client); by default
    clients are made per region and cached. ``grant_tokens`` (at most
    :data:`~busta.limits.MAX_KMS_GRANT_TOKENS`) go with every KMS call. Thread-safe.
    """

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        client = self._client if self._client is not None else _supplied(self._supplier, self._region)
        operation, request = self.encrypt_request(materials)
        return self.encrypted(materials, _call(operation, self.key_id, client, request))


class AwsKmsMrkKeyring(AwsKmsKeyring):
    """An :class:`AwsKmsKeyring` that also unwraps data keys of its key's multi-Region replicas.

    A data key wrapped by ``mrk-...`` in us-west-2 is decrypted with this
    keyring's replica (say in us-east-1) of the same key. Single-Region keys
    match only themselves.
    """

    _matches = staticmethod(mrk_match)


class AwsKmsDiscoveryKeyring(DiscoveryRules, _KmsDecrypter):
    """Decrypt only: tries every ``aws-kms`` data key, each with the key named in it.

    ``discovery_filter`` limits which partition and accounts are trusted (use
    one: without it any key the caller's credentials may use is tried). Clients
    come from ``client`` (one region) or ``client_supplier`` / the default cache
    (the region in each data key's ARN). One decrypt call asks for clients in at
    most :data:`~busta.limits.MAX_KMS_REGIONS_PER_DECRYPT` regions; data keys
    naming further regions are skipped with a reason. Thread-safe.
    """

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        raise self.encrypt_refusal()


class AwsKmsMrkDiscoveryKeyring(MrkDiscoveryRules, AwsKmsDiscoveryKeyring):
    """Discovery bound to one region: multi-Region keys are called as their replica in ``region``;
    single-Region keys of other regions are skipped."""
