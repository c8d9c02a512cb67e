"""The I/O-free half of the AWS KMS keyrings, shared by :mod:`busta.keyrings.aws_kms` and :mod:`busta.aio`.

Everything a KMS keyring decides without a network call lives here once: argument checks at
construction, which data keys a keyring tries (and the key and region it calls for each), the
requests it sends, the checks on KMS's answers and the mapping of botocore errors to
:class:`~busta.errors.KmsError`. The sync keyrings call KMS with boto3, the async ones with
aiobotocore; both are thin loops over these rules, so their errors and messages are the same.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import botocore.exceptions

from .._frozen import record
from .._secrets import SecretBytes
from ..errors import KeyringError, KmsError, UsageError
from ..format import EncryptedDataKey
from ..limits import MAX_KMS_REGIONS_PER_DECRYPT
from ..materials import DecryptionMaterials, EncryptionMaterials
from ._arn import KmsArn, arn_or_reason, is_account_id, is_partition, is_region, mrk_match, parse_arn
from ._common import RESERVED_PROVIDER_ID, Unwrapping
from ._kms_arguments import check_client, check_grant_tokens, key_region, region_of
from ._kms_clients import CacheSettings, cache_options

__all__ = [
    "KMS_ERRORS",
    "PROVIDER_ID",
    "CacheSettings",
    "DiscoveryFilter",
    "DiscoveryRules",
    "KmsRules",
    "MrkDiscoveryRules",
    "Plan",
    "RegionBudget",
    "StrictRules",
    "Unwrapping",
    "cache_options",
    "decrypted_key",
    "is_region",
    "kms_error",
    "log_success",
    "mrk_match",
    "no_client_error",
    "region_of",
]

PROVIDER_ID = RESERVED_PROVIDER_ID  # "aws-kms", which raw keyrings may not use as a namespace
#: What a KMS call may raise that a keyring turns into :class:`KmsError` (aiobotocore raises the same).
KMS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
_log = logging.getLogger("busta.keyrings.aws_kms")


@record
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


def kms_error(operation: str, key_id: str, region: str, exc: Exception) -> KmsError:
    """The :class:`KmsError` for a botocore error (one of :data:`KMS_ERRORS`) of a KMS call."""
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        return KmsError(operation, str(error.get("Code", "Unknown")), key_id, region, str(error.get("Message", "")))
    return KmsError(operation, type(exc).__name__, key_id, region, str(exc))


def no_client_error(region: str, exc: Exception) -> KeyringError:
    """A client supplier's failure for ``region`` (botocore's InvalidRegionError, a ValueError...)."""
    return KeyringError(f"no KMS client for region {region}: {type(exc).__name__}: {exc}")


def log_success(operation: str, key_id: str, region: str) -> None:
    _log.debug("KMS %s with key %s in %s succeeded", operation, key_id, region)


class RegionBudget:
    """The regions one decrypt call asks for clients in: at most :data:`MAX_KMS_REGIONS_PER_DECRYPT`."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def refusal(self, region: str) -> str | None:
        """None if this call may have a client for ``region``, else why not."""
        if region not in self._seen:
            if len(self._seen) >= MAX_KMS_REGIONS_PER_DECRYPT:
                return f"skipped: the message names more than {MAX_KMS_REGIONS_PER_DECRYPT} regions"
            self._seen.add(region)
        return None


def _request(materials: EncryptionMaterials | DecryptionMaterials, grant_tokens: tuple[str, ...]) -> dict[str, Any]:
    request: dict[str, Any] = {"EncryptionContext": dict(materials.encryption_context)}
    if grant_tokens:
        request["GrantTokens"] = list(grant_tokens)
    return request


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


def decrypted_key(key_id: str, response: dict[str, Any], materials: DecryptionMaterials) -> bytes:
    """The data key of a KMS Decrypt answer, checked: the key asked for, the suite's key length."""
    if response.get("KeyId") != key_id:
        raise KeyringError(f"KMS decrypted with key {response.get('KeyId')!r}, not the requested {key_id!r}")
    plaintext = bytes(response.get("Plaintext", b""))
    if len(plaintext) != materials.suite.key_bytes:
        raise KeyringError(f"KMS returned a data key of {len(plaintext)} bytes for {materials.suite.name}")
    return plaintext


def _edk(response: dict[str, Any]) -> EncryptedDataKey:
    arn = str(response.get("KeyId", ""))
    if parse_arn(arn) is None:
        raise KeyringError(f"KMS answered with {arn!r:.200}, which is not a key ARN")
    return EncryptedDataKey(PROVIDER_ID, arn.encode("utf-8"), bytes(response["CiphertextBlob"]))


#: A decrypt plan for one data key: (stored ARN, key id to call, region to call it in), a reason, or None.
Plan = tuple[str, str, str] | str | None


class KmsRules:
    """What every KMS keyring decides without I/O: which data keys to try, with which key and region."""

    _grant_tokens: tuple[str, ...] = ()
    _client: Any
    _supplier: Any  # region -> client (sync keyrings) or -> awaitable client (async ones)

    def _default_supplier(self) -> Any:
        """The client supplier of a keyring given neither ``client`` nor ``client_supplier``."""
        raise NotImplementedError

    def _check_clients(self, client: Any, client_supplier: Any) -> None:
        """Refuse (:class:`UsageError`) a client or supplier of the wrong kind, sync or async."""
        check_client(client, client_supplier, type(self).__name__)

    def _target(self, arn_text: str, arn: KmsArn) -> tuple[str, str] | str | None:
        """The key id and region to call Decrypt with; a reason to skip; or None (not ours)."""
        raise NotImplementedError

    def plan(self, edk: EncryptedDataKey) -> Plan:
        """What to do with ``edk``; a malformed ``aws-kms`` data key raises :class:`KeyringError`."""
        if edk.provider_id != PROVIDER_ID:
            return None
        arn_text, arn = _stored_arn(edk)
        found = self._target(arn_text, arn)
        return found if found is None or isinstance(found, str) else (arn_text, *found)

    def route(self, edk: EncryptedDataKey, budget: RegionBudget) -> Plan:
        """:meth:`plan`, with the regions of one decrypt call held to ``budget`` (unless given a client)."""
        plan = self.plan(edk)
        if plan is None or isinstance(plan, str) or self._client is not None:
            return plan
        refused = budget.refusal(plan[2])
        return plan if refused is None else self.no_client(plan[0], refused)

    def no_client(self, arn_text: str, reason: str) -> str:
        return f"key {arn_text} {reason}"

    def client_refusal(self, arn_text: str, region: str, client: Any) -> str | None:
        """Why ``client`` may not be called for a data key in ``region`` (None: it may)."""
        return None

    def decrypt_request(self, key_id: str, edk: EncryptedDataKey, materials: DecryptionMaterials) -> dict[str, Any]:
        return {"KeyId": key_id, "CiphertextBlob": edk.ciphertext, **_request(materials, self._grant_tokens)}


_UNMATCHABLE = "is not a key ARN: only a key ARN matches the data keys of a message (decrypt needs one)"


def _same_key(configured: str, stored: str) -> bool:
    return configured == stored


class StrictRules(KmsRules):
    """The rules of :class:`~busta.keyrings.aws_kms.AwsKmsKeyring` (and its async form)."""

    _matches: Callable[[str, str], bool] = staticmethod(_same_key)

    def __init__(
        self,
        key_id: str,
        *,
        client: Any = None,
        client_supplier: Callable[[str], Any] | None = None,
        grant_tokens: Iterable[str] = (),
        region: str | None = None,
    ):
        if not isinstance(key_id, str) or not key_id:
            raise UsageError(f"{type(self).__name__} needs a KMS key id or ARN")
        self._check_clients(client, client_supplier)
        arn = arn_or_reason(key_id)
        self._region = key_region(key_id, arn, client, region, type(self).__name__)
        self.key_id = key_id
        #: Why this keyring can match no data key on decrypt (None for a key ARN).
        self._unmatchable = None if isinstance(arn, KmsArn) and arn.resource_type == "key" else _UNMATCHABLE
        self._client = client
        self._supplier = client_supplier or self._default_supplier()
        self._grant_tokens = check_grant_tokens(grant_tokens)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key_id!r})"

    def encrypt_request(self, materials: EncryptionMaterials) -> tuple[str, dict[str, Any]]:
        """The KMS operation and arguments that wrap this message's data key: GenerateDataKey or Encrypt."""
        request = {"KeyId": self.key_id, **_request(materials, self._grant_tokens)}
        if materials.data_key is None:
            return "generate_data_key", {**request, "NumberOfBytes": materials.suite.key_bytes}
        return "encrypt", {**request, "Plaintext": materials.data_key.reveal()}

    def encrypted(self, materials: EncryptionMaterials, response: dict[str, Any]) -> EncryptionMaterials:
        """The materials with KMS's answer to :meth:`encrypt_request` added, checked."""
        if materials.data_key is not None:
            return materials.with_encrypted_data_key(_edk(response))
        plaintext = response.get("Plaintext", b"")
        if len(plaintext) != materials.suite.key_bytes:
            raise KeyringError(f"KMS generated a data key of {len(plaintext)} bytes, not {materials.suite.key_bytes}")
        return materials.with_data_key(SecretBytes(plaintext), _edk(response))

    def _target(self, arn_text: str, arn: KmsArn) -> tuple[str, str] | str | None:
        if self._unmatchable is not None:
            return f"{self.key_id!r:.200} {self._unmatchable}"
        if not self._matches(self.key_id, arn_text):
            return None
        return self.key_id, self._region

    def no_client(self, arn_text: str, reason: str) -> str:
        return reason


class DiscoveryRules(KmsRules):
    """The rules of :class:`~busta.keyrings.aws_kms.AwsKmsDiscoveryKeyring` (and its async form)."""

    def __init__(
        self,
        *,
        client: Any = None,
        client_supplier: Callable[[str], Any] | None = None,
        discovery_filter: DiscoveryFilter | None = None,
        grant_tokens: Iterable[str] = (),
    ):
        who = type(self).__name__
        self._check_clients(client, client_supplier)
        if discovery_filter is not None and not isinstance(discovery_filter, DiscoveryFilter):
            raise UsageError(f"{who} discovery_filter must be a DiscoveryFilter, not {type(discovery_filter).__name__}")
        self._client = client
        self._supplier = client_supplier or self._default_supplier()
        self.discovery_filter = discovery_filter
        self._grant_tokens = check_grant_tokens(grant_tokens)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(discovery_filter={self.discovery_filter!r})"

    def encrypt_refusal(self) -> KeyringError:
        return KeyringError(f"{type(self).__name__} only decrypts; use AwsKmsKeyring to encrypt")

    def _filtered(self, arn_text: str, arn: KmsArn) -> KmsArn | str:
        if self.discovery_filter is not None and not self.discovery_filter.admits(arn):
            return f"key {arn_text} is outside the discovery filter"
        return arn

    def _target(self, arn_text: str, arn: KmsArn) -> tuple[str, str] | str | None:
        checked = self._filtered(arn_text, arn)
        return checked if isinstance(checked, str) else (arn_text, checked.region)

    def client_refusal(self, arn_text: str, region: str, client: Any) -> str | None:
        if region_of(client) != region:
            return f"key {arn_text} is not in this keyring's region {region_of(client)}"
        return None


class MrkDiscoveryRules(DiscoveryRules):
    """The rules of :class:`~busta.keyrings.aws_kms.AwsKmsMrkDiscoveryKeyring` (and its async form)."""

    def __init__(
        self,
        region: str,
        *,
        client: Any = None,
        client_supplier: Callable[[str], Any] | None = None,
        discovery_filter: DiscoveryFilter | None = None,
        grant_tokens: Iterable[str] = (),
    ):
        if not is_region(region):
            raise UsageError(f"AwsKmsMrkDiscoveryKeyring needs an AWS region name, not {region!r:.60}")
        self._check_clients(client, client_supplier)
        if client is not None and region_of(client) != region:
            raise UsageError(f"the client is for {region_of(client)}, not {region}")
        super().__init__(
            client=client, client_supplier=client_supplier, discovery_filter=discovery_filter, grant_tokens=grant_tokens
        )
        self.region = region

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.region!r}, discovery_filter={self.discovery_filter!r})"

    def _target(self, arn_text: str, arn: KmsArn) -> tuple[str, str] | str | None:
        checked = self._filtered(arn_text, arn)
        if isinstance(checked, str):
            return checked
        if checked.is_mrk:
            return str(checked.in_region(self.region)), self.region
        if checked.region == self.region:
            return arn_text, self.region
        return f"single-Region key {arn_text} is not in {self.region}"

    def client_refusal(self, arn_text: str, region: str, client: Any) -> str | None:
        return None
