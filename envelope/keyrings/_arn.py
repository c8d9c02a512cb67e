"""AWS KMS key ARNs: parsing, multi-Region key matching, region rewriting (pure string rules).

An ARN reads ``arn:partition:kms:region:account:key/key-id`` (or ``alias/name``).
A multi-Region key's id starts with ``mrk-``; its replicas share partition,
account and id and differ only in region.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["KmsArn", "mrk_match", "parse_arn"]


@dataclass(frozen=True, slots=True)
class KmsArn:
    partition: str
    region: str
    account: str
    resource_type: str  # "key" or "alias"
    resource_id: str

    @property
    def is_mrk(self) -> bool:
        """True for a multi-Region key (never for an alias)."""
        return self.resource_type == "key" and self.resource_id.startswith("mrk-")

    def in_region(self, region: str) -> KmsArn:
        return replace(self, region=region)

    def __str__(self) -> str:
        return f"arn:{self.partition}:kms:{self.region}:{self.account}:{self.resource_type}/{self.resource_id}"


def parse_arn(text: str) -> KmsArn | None:
    """Parse a KMS ARN; None if ``text`` is not one."""
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "kms":
        return None
    _, partition, _, region, account, resource = parts
    resource_type, _, resource_id = resource.partition("/")
    if not (partition and region and account and resource_id) or resource_type not in ("key", "alias"):
        return None
    return KmsArn(partition, region, account, resource_type, resource_id)


def mrk_match(configured: str, stored: str) -> bool:
    """The spec's MRK match for decrypt: identical, or the same multi-Region key in another region."""
    if configured == stored:
        return True
    a, b = parse_arn(configured), parse_arn(stored)
    if a is None or b is None or not (a.is_mrk and b.is_mrk):
        return False
    return (a.partition, a.account, a.resource_type, a.resource_id) == (
        b.partition,
        b.account,
        b.resource_type,
        b.resource_id,
    )
