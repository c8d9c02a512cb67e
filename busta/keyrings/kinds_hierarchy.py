"""The hierarchical keyring kind: its secret-free description and its command-line options.

``HierarchyKey`` names a branch key store (table, logical name, KMS key or discovery, endpoint,
region, profile) and a branch key (an id, or the encryption context key whose value is the id),
never a key. ``build()`` makes the keyring in the process that calls it, once per process and
description: every keyring built from one description in a process (a bulk worker's many files)
shares one branch key cache, and each process (each worker) has its own.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from .._frozen import record
from ..errors import KeyringError, UsageError
from ..limits import HIERARCHY_CACHE_ENTRIES
from ..materials import Keyring
from ._arn import parse_arn
from ._aws_profiles import profile_session, resolved_region
from .registry import CliOption, KeyArgs, KeyOption, KeyringConfig, KeyringKind, register

__all__ = ["DEFAULT_TTL_SECONDS", "BranchKeyStoreConfig", "HierarchyKey", "hierarchy_key"]

#: The TTL a description's keyring caches branch keys for unless told otherwise (five minutes).
DEFAULT_TTL_SECONDS = 300


@record
class BranchKeyStoreConfig:
    """A branch key store: its DynamoDB table, logical name and KMS key (``kms_key_arn=None``:
    discovery; ``mrk=True``: multi-Region-key aware; ``mrk`` without a key: MR discovery in
    ``region``). Clients use ``endpoint_url``, ``region`` (default: the key's) and ``profile``."""

    table: str
    logical_name: str
    kms_key_arn: str | None = None
    mrk: bool = False
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    grant_tokens: tuple[str, ...] = ()

    def build(self) -> Any:
        """The :class:`~busta.keyrings.branch_key_store.BranchKeyStore`."""
        from .branch_key_store import BranchKeyStore, KmsKeyArn, KmsKeyDiscovery, KmsMrDiscovery, KmsMrkKeyArn  # noqa: PLC0415

        kms: Any
        region: str | None
        if self.kms_key_arn is not None:
            kms = KmsMrkKeyArn(self.kms_key_arn) if self.mrk else KmsKeyArn(self.kms_key_arn)
            region = self.region or self.kms_key_arn.split(":")[3]
        else:
            region = self.region or resolved_region(None, self.profile)
            if not region:
                raise UsageError("a branch key store without a KMS key ARN needs a region (--aws-region, AWS_REGION)")
            kms = KmsMrDiscovery(region) if self.mrk else KmsKeyDiscovery()
        session = profile_session(self.profile) if self.profile else None
        make = session.client if session is not None else _boto3_client
        options = {"region_name": region, "endpoint_url": self.endpoint_url}
        return BranchKeyStore(
            self.table,
            self.logical_name,
            kms,
            ddb_client=make("dynamodb", **options),
            kms_client=make("kms", **options),
            grant_tokens=self.grant_tokens,
        )


def _boto3_client(service: str, **options: Any) -> Any:
    import boto3  # noqa: PLC0415

    return boto3.client(service, **options)


@record
class HierarchyKey:
    """A hierarchical keyring: a branch key (``branch_key_id``, or ``context_key``: the branch key
    id is the value of that encryption context key, one per tenant) in ``store``, cached for
    ``ttl_seconds`` (at most ``cache_capacity`` keys) in a cache shared by every keyring this
    description builds in one process."""

    store: BranchKeyStoreConfig
    branch_key_id: str | None = None
    context_key: str | None = None
    ttl_seconds: float = DEFAULT_TTL_SECONDS
    cache_capacity: int = HIERARCHY_CACHE_ENTRIES
    partition_id: str | None = None

    def __post_init__(self) -> None:
        if (self.branch_key_id is None) == (self.context_key is None):
            raise UsageError("a HierarchyKey names exactly one of branch_key_id and context_key")

    def build(self) -> Keyring:
        return _built(self)


@functools.cache
def _built(key: HierarchyKey) -> Keyring:
    from .hierarchy import BranchKeyCache, HierarchicalKeyring  # noqa: PLC0415

    supplier = _ContextSupplier(key.context_key) if key.context_key is not None else None
    return HierarchicalKeyring(
        key.store.build(),
        ttl_seconds=key.ttl_seconds,
        branch_key_id=key.branch_key_id,
        branch_key_id_supplier=supplier,
        cache=BranchKeyCache(key.cache_capacity),
        partition_id=key.partition_id,
    )


@record
class _ContextSupplier:
    """The branch key id is the value of one encryption context key."""

    context_key: str

    def __call__(self, context: Mapping[str, str]) -> str:
        found = context.get(self.context_key)
        if not found:
            raise KeyringError(f"the encryption context has no {self.context_key!r:.100} naming the branch key")
        return found


def _store_of(options: Mapping[str, Any], flag: str) -> BranchKeyStoreConfig:
    table = options.get("branch_key_table")
    if not table:
        raise UsageError(f"{flag} needs --branch-key-table")
    arn = options.get("branch_key_kms_key")
    parsed = parse_arn(arn) if arn is not None else None
    if arn is not None and (parsed is None or parsed.resource_type != "key"):
        raise UsageError(f"--branch-key-kms-key {arn:.300}: a branch key store needs a KMS key ARN")
    profile = options.get("aws_profile")
    if profile is not None:
        profile_session(profile)  # a profile that does not exist fails now, naming it
    return BranchKeyStoreConfig(
        table,
        options.get("branch_key_logical_name") or table,
        arn,
        mrk=bool(options.get("kms_mrk")),
        endpoint_url=options.get("aws_endpoint_url"),
        region=options.get("aws_region"),
        profile=profile,
        grant_tokens=tuple(options.get("grant_token") or ()),
    )


def hierarchy_key(given: KeyArgs) -> HierarchyKey:
    """The description ``--hierarchy-key ID`` or ``--hierarchy-key-from-context NAME`` names."""
    store = _store_of(given.options, given.flag)
    text = given.options.get("branch_key_ttl")
    try:
        ttl = float(text) if text is not None else DEFAULT_TTL_SECONDS
    except ValueError:
        raise UsageError(f"--branch-key-ttl {text:.40}: not a number of seconds") from None
    if given.flag == "--hierarchy-key":
        return HierarchyKey(store, branch_key_id=given.value, ttl_seconds=ttl)
    return HierarchyKey(store, context_key=given.value, ttl_seconds=ttl)


def _hierarchy_key(given: KeyArgs) -> KeyringConfig:
    return hierarchy_key(given)


register(
    KeyringKind(
        name="aws-kms-hierarchy",
        module="busta.keyrings.hierarchy",
        exports=("BranchKeyCache", "HierarchicalKeyring", "StaticBranchKeyStore"),
        extra="aws",
        descriptions=(HierarchyKey, BranchKeyStoreConfig),
        key_options=(
            KeyOption("--hierarchy-key", "a branch key id (AWS KMS hierarchical keyring)", _hierarchy_key, "ID"),
            KeyOption(
                "--hierarchy-key-from-context",
                "hierarchical keyring: the branch key id is this encryption context key's value",
                _hierarchy_key,
                "NAME",
            ),
        ),
        options=(
            CliOption("--branch-key-table", "hierarchical keyring: the branch key store's DynamoDB table", "TABLE"),
            CliOption("--branch-key-logical-name", "its logical key store name (default: the table name)", "NAME"),
            CliOption("--branch-key-kms-key", "its KMS key ARN (default: discovery)", "ARN"),
            CliOption("--branch-key-ttl", "seconds a branch key is cached (default 300)", "SECONDS"),
        ),
    )
)
