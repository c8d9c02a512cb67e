"""The AWS KMS keyrings on aiobotocore: the sync keyrings' rules, awaited.

Each class here is the sync class of the same name in :mod:`busta.keyrings.aws_kms` with coroutine
``on_encrypt`` / ``on_decrypt``: the same constructor arguments and checks, the same data keys tried
in the same order, the same requests (encryption context and grant tokens on every call), the same
checks on KMS's answers, the same :class:`~busta.errors.KmsError` codes and
:class:`~busta.errors.NoDecryptingKeyError` reasons, word for word. All of that is
:mod:`busta.keyrings.kms_wire`, which both call; only the KMS call itself differs.

Decrypt tries a message's data keys one after the other, in the message's order, as the spec
says and the sync keyring does: the first that KMS decrypts wins, and no Decrypt is sent for a
later data key once one has. Concurrency comes from calling several keyrings (or serving
several messages) at once, not from racing one message's data keys.

Clients: ``client=`` an aiobotocore KMS client, which the caller owns (and closes); or
``client_supplier=``, an async callable region -> client, such as an :class:`AsyncClientCache`
(the caller closes it); by default each keyring makes its own :class:`AsyncClientCache`, closed
by ``await keyring.aclose()`` or ``async with keyring``.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Sequence
from typing import Any, Protocol

import botocore.exceptions

from ..errors import KeyringError, UsageError
from ..format import EncryptedDataKey
from ..keyrings.kms_wire import (
    KMS_ERRORS,
    DiscoveryRules,
    KmsRules,
    MrkDiscoveryRules,
    RegionBudget,
    StrictRules,
    Unwrapping,
    decrypted_key,
    kms_error,
    log_success,
    mrk_match,
    no_client_error,
    region_of,
)
from ..materials import DecryptionMaterials, EncryptionMaterials
from ._kms_clients import AsyncClientCache, AsyncClosing

__all__ = [
    "AsyncClientCache",
    "AsyncKmsClientSupplier",
    "AwsKmsDiscoveryKeyring",
    "AwsKmsKeyring",
    "AwsKmsMrkDiscoveryKeyring",
    "AwsKmsMrkKeyring",
]


class AsyncKmsClientSupplier(Protocol):
    """Returns (awaited) an aiobotocore KMS client for a region."""

    async def __call__(self, region: str) -> Any: ...


async def _call(operation: str, key_id: str, client: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Await a KMS call, mapping every botocore error into :class:`KmsError` (as the sync keyrings do)."""
    region = region_of(client)
    try:
        response: dict[str, Any] = await getattr(client, operation)(**request)
    except KMS_ERRORS as exc:
        raise kms_error(operation, key_id, region, exc) from exc
    log_success(operation, key_id, region)
    return response


def _is_async_callable(obj: object) -> bool:
    return inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(getattr(obj, "__call__", None))  # noqa: B004


class _AsyncKms(AsyncClosing, KmsRules):
    """What every async KMS keyring shares: its clients, and trying each data key in turn."""

    performs_io = True
    _owned: AsyncClientCache | None = None

    def _default_supplier(self) -> AsyncKmsClientSupplier:
        self._owned = AsyncClientCache()
        return self._owned

    def _check_clients(self, client: Any, client_supplier: Any) -> None:
        super()._check_clients(client, client_supplier)
        who = type(self).__name__
        # aiobotocore's operations are sync methods returning the coroutine of its async _make_api_call
        if client is not None and not inspect.iscoroutinefunction(getattr(client, "_make_api_call", None)):
            raise UsageError(f"{who} client must be an aiobotocore KMS client (a boto3 one blocks the loop)")
        if client_supplier is not None and not _is_async_callable(client_supplier):
            raise UsageError(f"{who} client_supplier must be an async callable: region -> aiobotocore KMS client")

    async def _kms(self, region: str) -> contextlib.AbstractAsyncContextManager[Any]:
        """The client for ``region``, held for the ``async with`` (an AsyncClientCache closes it only after)."""
        if self._client is not None:
            return contextlib.nullcontext(self._client)
        try:
            if isinstance(self._supplier, AsyncClientCache):
                return await self._supplier.lease(region)
            return contextlib.nullcontext(await self._supplier(region))
        except (botocore.exceptions.BotoCoreError, ValueError) as exc:
            raise no_client_error(region, exc) from exc

    async def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        tries = Unwrapping(self, "AWS KMS keyring", materials)
        budget = RegionBudget()  # per call, as in sync
        for edk in tries.pending(encrypted_data_keys):  # one at a time, in order: see the module docstring
            try:
                tries.outcome(await self._attempt(edk, budget, materials))
            except KeyringError as exc:
                tries.failed(exc)
        return tries.result()

    async def _attempt(
        self, edk: EncryptedDataKey, budget: RegionBudget, materials: DecryptionMaterials
    ) -> bytes | str | None:
        plan = self.route(edk, budget)
        if plan is None or isinstance(plan, str):
            return plan
        arn_text, key_id, region = plan
        async with await self._kms(region) as client:
            refused = self.client_refusal(arn_text, region, client)
            if refused is not None:
                return refused
            response = await _call("decrypt", key_id, client, self.decrypt_request(key_id, edk, materials))
        return decrypted_key(key_id, response, materials)

    async def aclose(self) -> None:
        """Close the clients this keyring made (none if it was given ``client`` or ``client_supplier``)."""
        if self._owned is not None and self._supplier is self._owned:
            await self._owned.aclose()


class AwsKmsKeyring(StrictRules, _AsyncKms):
    """:class:`busta.keyrings.AwsKmsKeyring` on aiobotocore: wraps with one KMS key, unwraps only its data keys.

    The same arguments: ``key_id`` (a key ARN, alias ARN, key id or alias name; the latter two need
    ``region=`` or a client's region), ``client`` (an aiobotocore KMS client) or ``client_supplier``
    (async region -> client), ``grant_tokens`` (at most :data:`~busta.limits.MAX_KMS_GRANT_TOKENS`).
    Generator: GenerateDataKey; otherwise Encrypt. Decrypt matches only data keys of exactly this key ARN.
    """

    async def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        operation, request = self.encrypt_request(materials)
        async with await self._kms(self._region) as client:
            response = await _call(operation, self.key_id, client, request)
        return self.encrypted(materials, response)


class AwsKmsMrkKeyring(AwsKmsKeyring):
    """:class:`busta.keyrings.AwsKmsMrkKeyring` on aiobotocore: also unwraps data keys of its key's replicas."""

    _matches = staticmethod(mrk_match)


class AwsKmsDiscoveryKeyring(DiscoveryRules, _AsyncKms):
    """:class:`busta.keyrings.AwsKmsDiscoveryKeyring` on aiobotocore: decrypt only, each data key with its key.

    ``discovery_filter`` (a :class:`busta.keyrings.DiscoveryFilter`) limits the partition and accounts
    tried; one decrypt call asks for clients in at most :data:`~busta.limits.MAX_KMS_REGIONS_PER_DECRYPT`
    regions.
    """

    async def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        raise self.encrypt_refusal()


class AwsKmsMrkDiscoveryKeyring(MrkDiscoveryRules, AwsKmsDiscoveryKeyring):
    """:class:`busta.keyrings.AwsKmsMrkDiscoveryKeyring` on aiobotocore: discovery bound to ``region``."""
