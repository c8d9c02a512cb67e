"""Argument checks the AWS KMS keyrings share: clients, grant tokens, the region of a key identifier."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import UsageError
from ..limits import MAX_KMS_GRANT_TOKEN_CHARS, MAX_KMS_GRANT_TOKENS
from ._arn import KmsArn, is_region

__all__ = ["check_client", "check_grant_tokens", "key_region", "region_of"]


def region_of(client: Any) -> str:
    return str(client.meta.region_name)


def check_grant_tokens(grant_tokens: Iterable[str]) -> tuple[str, ...]:
    """The grant tokens every KMS call of a keyring sends: at most :data:`~busta.limits.MAX_KMS_GRANT_TOKENS`
    non-empty strings of at most :data:`~busta.limits.MAX_KMS_GRANT_TOKEN_CHARS` characters (KMS's limits)."""
    if isinstance(grant_tokens, (str, bytes)) or not isinstance(grant_tokens, Iterable):
        raise UsageError("grant_tokens must be a collection of strings, not one string")
    tokens = tuple(grant_tokens)
    if not all(isinstance(t, str) and t for t in tokens):
        raise UsageError("grant_tokens must be non-empty strings")
    if len(tokens) > MAX_KMS_GRANT_TOKENS:
        raise UsageError(f"{len(tokens)} grant tokens: a KMS request takes at most {MAX_KMS_GRANT_TOKENS}")
    if any(len(t) > MAX_KMS_GRANT_TOKEN_CHARS for t in tokens):
        raise UsageError(f"a grant token is longer than KMS's {MAX_KMS_GRANT_TOKEN_CHARS} characters")
    return tokens


def key_region(key_id: str, arn: KmsArn | str, client: Any, region: str | None, who: str) -> str:
    """The region a strict keyring calls: its ARN's, else ``region``, else its client's."""
    if region is not None and not is_region(region):
        raise UsageError(f"{who} region must be an AWS region name, not {region!r:.60}")
    if isinstance(arn, KmsArn):
        if region is not None and region != arn.region:
            raise UsageError(f"{key_id!r:.200} is in {arn.region}, not in the region {region} given with it")
        return arn.region
    if key_id.startswith("arn:"):
        raise UsageError(f"{key_id!r:.200} {arn}")
    if client is not None:
        if region is not None and region != region_of(client):
            raise UsageError(f"the client is for {region_of(client)}, not {region}")
        return region_of(client)
    if region is None:
        reason = f"{key_id!r:.200} is a key id or alias name, not an ARN"
        raise UsageError(f"{reason}: give its region (region=) or a client").remedied(reason, "region")
    return region


def check_client(client: Any, supplier: Any, who: str) -> None:
    if client is not None and not isinstance(getattr(getattr(client, "meta", None), "region_name", None), str):
        raise UsageError(f"{who} client must be a boto3 KMS client (with meta.region_name)")
    if supplier is not None and not callable(supplier):
        raise UsageError(f"{who} client_supplier must be callable with a region name")
