"""An S3 object read from its start by ranged GETs, for ``busta inspect s3://bucket/key``.

:class:`RangedObject` is :class:`busta.s3.RangedObject` (every read one ranged GET pinned to the
ETag HeadObject saw, never more than ``budget`` bytes in all) for an :class:`S3Uri`;
:func:`busta.cli.headerinfo.read_header` asks for 4 KiB first and then for what the header says
it still needs. The budget covers a header given as base64 text.
"""

from __future__ import annotations

from typing import Any

from .. import s3
from ..streaming.head import FIRST_READ
from .files import S3Uri

__all__ = ["FIRST_READ", "RangedObject", "budget_for"]


def budget_for(max_header_bytes: int) -> int:
    """The most bytes worth fetching for a header of at most ``max_header_bytes``: the header
    as base64 text (4 characters per 3 bytes), and the first read."""
    return -(-max_header_bytes // 3) * 4 + FIRST_READ


class RangedObject(s3.RangedObject):
    """The object at ``uri``, read from its start, at most ``budget`` bytes in all."""

    def __init__(self, client: Any, uri: S3Uri, *, budget: int) -> None:
        super().__init__(client, uri.bucket, uri.key, budget=budget)
