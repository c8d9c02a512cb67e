"""AWS KMS key ARNs: parsing, multi-Region key matching, region rewriting (pure string rules).

An ARN reads ``arn:partition:kms:region:account:key/key-id`` (or ``alias/name``).
A multi-Region key's id starts with ``mrk-``; its replicas share partition,
account and id and differ only in region.

ARNs come from messages, so every field is checked against the shape of real
ones before anything is built from it (a client, a request, a log line):

- partition: ``aws`` or ``aws-`` and up to three lowercase words (``aws-iso-b``);
- region: two to four lowercase letters, one to three lowercase words, a number of
  one or two digits (``us-west-2``, ``us-gov-east-1``, ``eusc-de-east-1``); the
  regions of the partitions in :data:`PARTITION_REGION_PREFIXES` belong to them and
  to no other partition. A region need not be one botocore knows: new ones appear;
- account: 12 digits;
- resource: ``key/`` or ``alias/`` and 1 to 256 of ``A-Z a-z 0-9 / _ -``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Final

from .._frozen import record

__all__ = [
    "PARTITION_REGION_PREFIXES",
    "KmsArn",
    "arn_or_reason",
    "is_account_id",
    "is_partition",
    "is_region",
    "mrk_match",
    "parse_arn",
    "region_fits",
]

#: The region prefix of every partition but ``aws`` (botocore's endpoints data agrees; a test checks).
PARTITION_REGION_PREFIXES: Final = {
    "aws-cn": "cn-",
    "aws-us-gov": "us-gov-",
    "aws-iso": "us-iso-",
    "aws-iso-b": "us-isob-",
    "aws-iso-e": "eu-isoe-",
    "aws-iso-f": "us-isof-",
    "aws-eusc": "eusc-",
}

_PARTITION = re.compile(r"aws(?:-[a-z]{1,10}){0,3}")
_REGION = re.compile(r"[a-z]{2,4}(?:-[a-z]{1,16}){1,3}-[0-9]{1,2}")
_ACCOUNT = re.compile(r"[0-9]{12}")
_RESOURCE_ID = re.compile(r"[A-Za-z0-9/_-]{1,256}")


def is_partition(text: object) -> bool:
    return isinstance(text, str) and _PARTITION.fullmatch(text) is not None


def is_region(text: object) -> bool:
    """True for a string shaped like an AWS region name (known to botocore or not)."""
    return isinstance(text, str) and _REGION.fullmatch(text) is not None


def is_account_id(text: object) -> bool:
    return isinstance(text, str) and _ACCOUNT.fullmatch(text) is not None


def region_fits(partition: str, region: str) -> bool:
    """True if ``region`` may belong to ``partition``: the regions of a partition with a known
    prefix are that partition's alone; ``aws`` (and a partition busta does not know) take the rest."""
    owner = next((p for p, prefix in PARTITION_REGION_PREFIXES.items() if region.startswith(prefix)), None)
    if owner is not None:
        return partition == owner
    return partition not in PARTITION_REGION_PREFIXES


@record
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


def arn_or_reason(text: str) -> KmsArn | str:
    """Parse a KMS ARN; if ``text`` is not one, say what is wrong (without quoting ``text``)."""
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "kms":
        return "is not a KMS ARN"
    _, partition, _, region, account, resource = parts
    resource_type, _, resource_id = resource.partition("/")
    if not is_partition(partition):
        return "names no valid partition"
    if not is_region(region):
        return "names no valid region"
    if not region_fits(partition, region):
        return "names a region of another partition"
    if not is_account_id(account):
        return "names no valid account id"
    if resource_type not in ("key", "alias") or _RESOURCE_ID.fullmatch(resource_id) is None:
        return "names no valid key or alias"
    return KmsArn(partition, region, account, resource_type, resource_id)


def parse_arn(text: str) -> KmsArn | None:
    """Parse a KMS ARN; None if ``text`` is not a valid one."""
    found = arn_or_reason(text)
    return found if isinstance(found, KmsArn) else None


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
