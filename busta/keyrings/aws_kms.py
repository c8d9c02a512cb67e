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

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import boto3  # noqa: F401 - the [aws] extra: callers hand in boto3 clients and sessions
import botocore.exceptions

from .._secrets import SecretBytes
from ..errors import KeyringError, KmsError, UsageError
from ..format import EncryptedDataKey
from ..limits import MAX_KMS_REGIONS_PER_DECRYPT
from ..materials import DecryptionMaterials, EncryptionMaterials
from ._arn import KmsArn, arn_or_reason, is_account_id, is_partition, is_region, mrk_match, parse_arn
from ._common import RESERVED_PROVIDER_ID, unwrap_first
from ._kms_clients import DEFAULT_CLIENT_CONFIG as DEFAULT_CLIENT_CONFIG  # noqa: PLC0414 - re-exported
from ._kms_clients import ClientCache

__all__ = [
    "AwsKmsDiscoveryKeyring",
    "AwsKmsKeyring",
    "AwsKmsMrkDiscoveryKeyring",
    "AwsKmsMrkKeyring",
    "ClientCache",
    "DiscoveryFilter",
    "KmsClientSupplier",
]

PROVIDER_ID = RESERVED_PROVIDER_ID  # "aws-kms", which raw keyrings may not use as a namespace
_log = logging.getLogger(__name__)


class KmsClientSupplier(Protocol):
    """Returns a boto3 KMS client for a region (custom endpoints, credentials, retries...)."""

    def __call__(self, region: str) -> Any: ...


#: The supplier of keyrings given neither ``client`` nor ``client_supplier``.
_default_clients: KmsClientSupplier = ClientCache()


@dataclass(frozen=True, slots=True)
class DiscoveryFilter:
    """Only keys of these accounts (12-digit ids) in this partition (``aws``, ``aws-cn``...) are tried."""

    partition: str
    account_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        if isinstance(self.account_ids, str) or not isinstance(self.account_ids, Iterable):
            raise UsageError("DiscoveryFilter account_ids must be a sequence of account ids, not one string")
        object.__setattr__(self, "account_ids", tuple(self.account_ids))
        if not is_partition(self.partition) or not self.account_ids:
            raise UsageError("a DiscoveryFilter needs a partition (such as 'aws') and at least one account id")
        if not all(is_account_id(a) for a in self.account_ids):
            raise UsageError("DiscoveryFilter account ids are strings of 12 digits")

    def admits(self, arn: KmsArn) -> bool:
        return arn.partition == self.partition and arn.account in self.account_ids


def _region_of(client: Any) -> str:
    return str(client.meta.region_name)


def _call(operation: str, key_id: str, client: Any, **request: Any) -> dict[str, Any]:
    """Call KMS, mapping every botocore error into :class:`KmsError`."""
    region = _region_of(client)
    try:
        response: dict[str, Any] = getattr(client, operation)(**request)
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        raise KmsError(
            operation, str(error.get("Code", "Unknown")), key_id, region, str(error.get("Message", ""))
        ) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise KmsError(operation, type(exc).__name__, key_id, region, str(exc)) from exc
    _log.debug("KMS %s with key %s in %s succeeded", operation, key_id, region)
    return response


def _supplied(supplier: KmsClientSupplier, region: str) -> Any:
    """A client from ``supplier``; its failure (botocore's InvalidRegionError...) is a :class:`KeyringError`."""
    try:
        return supplier(region)
    except (botocore.exceptions.BotoCoreError, ValueError) as exc:
        raise KeyringError(f"no KMS client for region {region}: {type(exc).__name__}: {exc}") from exc


class _Regions:
    """The clients one decrypt call asks for: at most :data:`MAX_KMS_REGIONS_PER_DECRYPT` regions."""

    __slots__ = ("_seen", "_supplier")

    def __init__(self, supplier: KmsClientSupplier):
        self._supplier = supplier
        self._seen: set[str] = set()

    def client(self, region: str) -> Any | str:
        """The client for ``region``, or why this message may not have one."""
        if region not in self._seen:
            if len(self._seen) >= MAX_KMS_REGIONS_PER_DECRYPT:
                return f"skipped: the message names more than {MAX_KMS_REGIONS_PER_DECRYPT} regions"
            self._seen.add(region)
        return _supplied(self._supplier, region)


def _request(materials: EncryptionMaterials | DecryptionMaterials, grant_tokens: tuple[str, ...]) -> dict[str, Any]:
    request: dict[str, Any] = {"EncryptionContext": dict(materials.encryption_context)}
    if grant_tokens:
        request["GrantTokens"] = list(grant_tokens)
    return request


def _check_grant_tokens(grant_tokens: Iterable[str]) -> tuple[str, ...]:
    if isinstance(grant_tokens, str) or not isinstance(grant_tokens, Iterable):
        raise UsageError("grant_tokens must be a collection of strings, not one string")
    tokens = tuple(grant_tokens)
    if not all(isinstance(t, str) and t for t in tokens):
        raise UsageError("grant_tokens must be non-empty strings")
    return tokens


def _check_client(client: Any, supplier: Any, who: str) -> None:
    if client is not None and not isinstance(getattr(getattr(client, "meta", None), "region_name", None), str):
        raise UsageError(f"{who} client must be a boto3 KMS client (with meta.region_name)")
    if supplier is not None and not callable(supplier):
        raise UsageError(f"{who} client_supplier must be callable with a region name")


def _stored_arn(edk: EncryptedDataKey) -> tuple[str, KmsArn]:
    """The key ARN an ``aws-kms`` data key names; the spec makes anything else fail the keyring."""
    try:
        text = edk.provider_info.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyringError("an aws-kms data key names a key ARN that is not UTF-8") from None
    arn = arn_or_reason(text)
    if isinstance(arn, str) or arn.resource_type != "key":
        why = arn if isinstance(arn, str) else "names an alias, not a key"
        shown = text if len(text) <= 160 else text[:160] + "..."
        raise KeyringError(f"an aws-kms data key names {shown!r}, which {why}")
    return text, arn


class _KmsDecrypter:
    """What every KMS keyring shares: trying each ``aws-kms`` data key it may decrypt."""

    performs_io = True
    _grant_tokens: tuple[str, ...] = ()
    _client: Any
    _supplier: KmsClientSupplier

    def _client_for(self, region: str, regions: _Regions) -> Any | str:
        """The keyring's own client, else the supplier's for ``region`` (or why this call may not have one)."""
        return self._client if self._client is not None else regions.client(region)

    def _candidate(self, arn_text: str, arn: KmsArn, regions: _Regions) -> tuple[str, Any] | str | None:
        """The key to call Decrypt with and its client; a reason to skip; or None (not ours)."""
        raise NotImplementedError

    def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        regions = _Regions(self._supplier)  # per call: concurrent calls never share it

        def attempt(edk: EncryptedDataKey) -> bytes | str | None:
            if edk.provider_id != PROVIDER_ID:
                return None
            found = self._candidate(*_stored_arn(edk), regions)
            if found is None or isinstance(found, str):
                return found
            key_id, client = found
            return self._decrypt(key_id, client, edk, materials)

        return unwrap_first(self, "AWS KMS keyring", materials, encrypted_data_keys, attempt)

    def _decrypt(self, key_id: str, client: Any, edk: EncryptedDataKey, materials: DecryptionMaterials) -> bytes:
        request = _request(materials, self._grant_tokens)
        response = _call("decrypt", key_id, client, KeyId=key_id, CiphertextBlob=edk.ciphertext, **request)
        if response.get("KeyId") != key_id:
            raise KeyringError(f"KMS decrypted with key {response.get('KeyId')!r}, not the requested {key_id!r}")
        plaintext = bytes(response.get("Plaintext", b""))
        if len(plaintext) != materials.suite.key_bytes:
            raise KeyringError(f"KMS returned a data key of {len(plaintext)} bytes for {materials.suite.name}")
        return plaintext


def _same_key(configured: str, stored: str) -> bool:
    return configured == stored


class AwsKmsKeyring(_KmsDecrypter):
    """Wraps data keys with one KMS key, and unwraps only data keys of exactly that key.

    As generator (first or only keyring) it calls GenerateDataKey, otherwise
    Encrypt. ``key_id`` is a key ARN (or, with ``client=``, any key id or alias
    KMS accepts; only an ARN can match data keys on decrypt). Pass ``client``
    (a boto3 KMS client) or ``client_supplier`` (region -> client); by default
    clients are made per region and cached. Thread-safe.
    """

    _matches: Callable[[str, str], bool] = staticmethod(_same_key)

    def __init__(
        self,
        key_id: str,
        *,
        client: Any = None,
        client_supplier: KmsClientSupplier | None = None,
        grant_tokens: Iterable[str] = (),
    ):
        if not isinstance(key_id, str) or not key_id:
            raise UsageError("AwsKmsKeyring needs a KMS key id or ARN")
        _check_client(client, client_supplier, type(self).__name__)
        arn = arn_or_reason(key_id)
        if isinstance(arn, str) and key_id.startswith("arn:"):
            raise UsageError(f"{key_id!r:.200} {arn}")
        if client is None and isinstance(arn, str):
            raise UsageError(f"{key_id!r:.200} is not a key ARN: pass client= for its region").remedied(
                f"{key_id!r:.200} is not a key ARN", "client"
            )
        self.key_id = key_id
        self._client = client
        self._region = arn.region if isinstance(arn, KmsArn) else _region_of(client)
        self._supplier = client_supplier or _default_clients
        self._grant_tokens = _check_grant_tokens(grant_tokens)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key_id!r})"

    def _kms(self) -> Any:
        return self._client if self._client is not None else _supplied(self._supplier, self._region)

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        client = self._kms()
        request = _request(materials, self._grant_tokens)
        if materials.data_key is None:
            size = materials.suite.key_bytes
            response = _call("generate_data_key", self.key_id, client, KeyId=self.key_id, NumberOfBytes=size, **request)
            plaintext = response.get("Plaintext", b"")
            if len(plaintext) != size:
                raise KeyringError(f"KMS generated a data key of {len(plaintext)} bytes, not {size}")
            return materials.with_data_key(SecretBytes(plaintext), self._edk(response))
        plaintext = materials.data_key.reveal()
        response = _call("encrypt", self.key_id, client, KeyId=self.key_id, Plaintext=plaintext, **request)
        return materials.with_encrypted_data_key(self._edk(response))

    def _edk(self, response: dict[str, Any]) -> EncryptedDataKey:
        arn = str(response.get("KeyId", ""))
        if parse_arn(arn) is None:
            raise KeyringError(f"KMS answered with {arn!r:.200}, which is not a key ARN")
        return EncryptedDataKey(PROVIDER_ID, arn.encode("utf-8"), bytes(response["CiphertextBlob"]))

    def _candidate(self, arn_text: str, arn: KmsArn, regions: _Regions) -> tuple[str, Any] | str | None:
        if not self._matches(self.key_id, arn_text):
            return None
        client = self._client_for(self._region, regions)
        return client if isinstance(client, str) else (self.key_id, client)


class AwsKmsMrkKeyring(AwsKmsKeyring):
    """An :class:`AwsKmsKeyring` that also unwraps data keys of its key's multi-Region replicas.

    A data key wrapped by ``mrk-...`` in us-west-2 is decrypted with this
    keyring's replica (say in us-east-1) of the same key. Single-Region keys
    match only themselves.
    """

    _matches = staticmethod(mrk_match)


class AwsKmsDiscoveryKeyring(_KmsDecrypter):
    """Decrypt only: tries every ``aws-kms`` data key, each with the key named in it.

    ``discovery_filter`` limits which partition and accounts are trusted (use
    one: without it any key the caller's credentials may use is tried). Clients
    come from ``client`` (one region) or ``client_supplier`` / the default cache
    (the region in each data key's ARN). One decrypt call asks for clients in at
    most :data:`~busta.limits.MAX_KMS_REGIONS_PER_DECRYPT` regions; data keys
    naming further regions are skipped with a reason. Thread-safe.
    """

    def __init__(
        self,
        *,
        client: Any = None,
        client_supplier: KmsClientSupplier | None = None,
        discovery_filter: DiscoveryFilter | None = None,
        grant_tokens: Iterable[str] = (),
    ):
        who = type(self).__name__
        _check_client(client, client_supplier, who)
        if discovery_filter is not None and not isinstance(discovery_filter, DiscoveryFilter):
            raise UsageError(f"{who} discovery_filter must be a DiscoveryFilter, not {type(discovery_filter).__name__}")
        self._client = client
        self._supplier = client_supplier or _default_clients
        self.discovery_filter = discovery_filter
        self._grant_tokens = _check_grant_tokens(grant_tokens)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(discovery_filter={self.discovery_filter!r})"

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        raise KeyringError(f"{type(self).__name__} only decrypts; use AwsKmsKeyring to encrypt")

    def _filtered(self, arn_text: str, arn: KmsArn) -> KmsArn | str:
        if self.discovery_filter is not None and not self.discovery_filter.admits(arn):
            return f"key {arn_text} is outside the discovery filter"
        return arn

    def _candidate(self, arn_text: str, arn: KmsArn, regions: _Regions) -> tuple[str, Any] | str | None:
        checked = self._filtered(arn_text, arn)
        if isinstance(checked, str):
            return checked
        client = self._client_for(checked.region, regions)
        if isinstance(client, str):
            return f"key {arn_text} {client}"
        if _region_of(client) != checked.region:
            return f"key {arn_text} is not in this keyring's region {_region_of(client)}"
        return arn_text, client


class AwsKmsMrkDiscoveryKeyring(AwsKmsDiscoveryKeyring):
    """Discovery bound to one region: multi-Region keys are called as their replica in ``region``;
    single-Region keys of other regions are skipped."""

    def __init__(
        self,
        region: str,
        *,
        client: Any = None,
        client_supplier: KmsClientSupplier | None = None,
        discovery_filter: DiscoveryFilter | None = None,
        grant_tokens: Iterable[str] = (),
    ):
        if not is_region(region):
            raise UsageError(f"AwsKmsMrkDiscoveryKeyring needs an AWS region name, not {region!r:.60}")
        _check_client(client, client_supplier, type(self).__name__)
        if client is not None and _region_of(client) != region:
            raise UsageError(f"the client is for {_region_of(client)}, not {region}")
        super().__init__(
            client=client, client_supplier=client_supplier, discovery_filter=discovery_filter, grant_tokens=grant_tokens
        )
        self.region = region

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.region!r}, discovery_filter={self.discovery_filter!r})"

    def _candidate(self, arn_text: str, arn: KmsArn, regions: _Regions) -> tuple[str, Any] | str | None:
        checked = self._filtered(arn_text, arn)
        if isinstance(checked, str):
            return checked
        if checked.is_mrk:
            key_id = str(checked.in_region(self.region))
        elif checked.region == self.region:
            key_id = arn_text
        else:
            return f"single-Region key {arn_text} is not in {self.region}"
        client = self._client_for(self.region, regions)
        return f"key {arn_text} {client}" if isinstance(client, str) else (key_id, client)
