"""An object's header read by ranged GETs from its start, never more than a budget (see :mod:`busta.s3`).

:class:`RangedObject` is a readable whose every read is one ranged GET pinned to the
ETag that HeadObject saw (:func:`~busta.s3.fetch_range`: a replaced object fails, and a
server that ignores or cuts the range is refused). It never fetches more than
``budget`` bytes in all, so a header that claims to be huge costs at most that much.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..api import Client, client_or_default
from ..errors import LimitExceededError
from ..format import Header
from ..streaming.head import FIRST_READ, read_header
from ._args import DownloadExtraArgs, download_arguments, ranged_arguments
from ._calls import call, fetch_range
from ._client import s3_client

__all__ = ["RangedObject", "read_object_header"]


class RangedObject:
    """The object ``bucket/key``, read from its start, at most ``budget`` bytes in all.

    ``request`` adds HeadObject / GetObject arguments (a download's ``ExtraArgs``)."""

    def __init__(
        self, client: Any, bucket: str, key: str, *, budget: int, request: Mapping[str, Any] | None = None
    ) -> None:
        self._client, self._bucket, self._key, self._budget = client, bucket, key, budget
        self._request = dict(request or {})
        head = call("HeadObject", bucket, key, client.head_object, Bucket=bucket, Key=key, **self._request)
        self.size, self.etag = int(head["ContentLength"]), str(head["ETag"])
        self.fetched = 0  # bytes the GETs returned so far
        self._buffer = b""  # fetched but not yet read

    def _get(self, size: int) -> bytes:
        first = self.fetched
        stop = min(first + size, self.size)
        if stop > self._budget:
            raise LimitExceededError("bytes fetched looking for the header", stop, self._budget)
        data = fetch_range(
            self._client, self._bucket, self._key, first, stop, etag=self.etag, size=self.size, request=self._request
        )
        self.fetched += len(data)
        return data

    def peek(self, size: int = 1) -> bytes:
        """What the next read returns first, fetching the first 4 KiB if nothing is buffered."""
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


def read_object_header(
    bucket: str,
    key: str,
    *,
    client: Any = None,
    sdk: Client | None = None,
    ExtraArgs: DownloadExtraArgs | None = None,
) -> Header:
    """The header of the encrypted object ``bucket/key``, parsed but not authenticated (no key is asked for).

    It costs one HeadObject and ranged GETs from the start (4 KiB first, then what the header
    says it still needs), pinned to the ETag HeadObject saw, never more than ``sdk.max_header_bytes``
    in all: a longer header raises :class:`~busta.errors.LimitExceededError`.
    ``ExtraArgs`` (:class:`DownloadExtraArgs`) go to the HeadObject and every GET.
    """
    limit = client_or_default(sdk).max_header_bytes
    request = ranged_arguments(download_arguments(ExtraArgs))
    ranged = RangedObject(s3_client(client, bucket, key), bucket, key, budget=limit, request=request)
    return read_header(ranged, max_header_bytes=limit)  # type: ignore[arg-type]
