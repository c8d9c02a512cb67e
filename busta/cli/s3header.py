"""An S3 object read from its start by ranged GETs, for ``busta inspect s3://bucket/key``.

:class:`RangedObject` is a readable whose every read is one ranged GET pinned to the
ETag that HeadObject saw (:func:`busta.s3.fetch_range`: a replaced object fails, and a
server that ignores or cuts the range is refused). It never fetches more than
``budget`` bytes in all, so a header that claims to be huge costs at most that much;
:func:`busta.cli.headerinfo.read_header` asks for 4 KiB first and then for what the
header says it still needs.
"""

from __future__ import annotations

from typing import Any, Final

from ..errors import LimitExceededError
from .files import S3Uri

__all__ = ["FIRST_READ", "RangedObject", "budget_for"]

#: The first ranged GET: enough for the header of nearly every message.
FIRST_READ: Final = 4096


def budget_for(max_header_bytes: int) -> int:
    """The most bytes worth fetching for a header of at most ``max_header_bytes``: the header
    as base64 text (4 characters per 3 bytes), and the first read."""
    return -(-max_header_bytes // 3) * 4 + FIRST_READ


class RangedObject:
    """The object at ``uri``, read from its start, at most ``budget`` bytes in all."""

    def __init__(self, client: Any, uri: S3Uri, *, budget: int):
        import botocore.exceptions  # noqa: PLC0415 - boto3 only when S3 is used

        from ..s3 import fetch_range, s3_error  # noqa: PLC0415

        self._fetch_range = fetch_range
        self._client, self._uri, self._budget = client, uri, budget
        try:
            head = client.head_object(Bucket=uri.bucket, Key=uri.key)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise s3_error("HeadObject", uri.bucket, uri.key, exc) from exc
        self.size, self.etag = int(head["ContentLength"]), str(head["ETag"])
        self.fetched = 0  # bytes the GETs returned so far
        self._buffer = b""  # fetched but not yet read

    def _get(self, size: int) -> bytes:
        first = self.fetched
        stop = min(first + size, self.size)
        if stop > self._budget:
            raise LimitExceededError("bytes fetched looking for the header", stop, self._budget)
        uri = self._uri
        data = self._fetch_range(self._client, uri.bucket, uri.key, first, stop, etag=self.etag, size=self.size)
        self.fetched += len(data)
        return data

    def peek(self, size: int = 1) -> bytes:
        """What the next read returns first, fetching the first :data:`FIRST_READ` bytes if nothing is buffered."""
        if not self._buffer:
            self._buffer = self._get(FIRST_READ if self.fetched == 0 else size)
        return self._buffer

    def read(self, size: int = -1) -> bytes:
        """``size`` bytes (``-1``: up to the budget) from where the last read ended."""
        if size < 0:
            size = max(min(self._budget, self.size) - self.fetched, 0) + len(self._buffer)
        if len(self._buffer) < size:
            self._buffer += self._get(size - len(self._buffer))
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def close(self) -> None:
        """Nothing stays open between GETs."""
