"""Key rotation of an S3 object without downloading its body (see :mod:`busta.rewrap`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .._frozen import record
from ..api import Client, client_or_default
from ..errors import LimitExceededError, TruncatedMessageError, UsageError
from ..format import ContentType, Header
from ..format.layout import regular_frame_size
from ..limits import REWRAP_MAX_RESENT_BYTES
from ..materials import Keyring
from ..rewrap import RewrappedHeader, check_rewrapped, copy_ranges, rewrap_header
from ..suites import AlgorithmSuite
from ._calls import DEFAULT_MAX_CONCURRENCY, MIN_PART_SIZE, ObjectSink, call, fetch_range
from ._client import s3_client
from ._properties import kept_properties

__all__ = ["DEFAULT_COPY_PART_SIZE", "RewrapResult", "rewrap_object"]

#: :func:`rewrap_object` copies the old body in server-side parts of this size.
DEFAULT_COPY_PART_SIZE: Final = 512 << 20
#: :func:`rewrap_object` first fetches this much of an object, enough for nearly every header.
_HEADER_PROBE_BYTES: Final = 64 << 10


@record
class RewrapResult:
    """What :func:`rewrap_object` wrote, and how many bytes it downloaded and had S3 copy."""

    bucket: str
    key: str
    message_id: bytes
    suite: AlgorithmSuite
    object_size: int
    parts: int
    bytes_downloaded: int
    bytes_copied: int


def rewrap_object(
    bucket: str,
    key: str,
    *,
    client: Any = None,
    keyring: Keyring,
    new_keyring: Keyring,
    dest_bucket: str | None = None,
    dest_key: str | None = None,
    encryption_context: Mapping[str, str] | None = None,
    sdk: Client | None = None,
    metadata: Mapping[str, str] | None = None,
    copy_part_size: int = DEFAULT_COPY_PART_SIZE,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    if_match: str | None = None,
    max_resent_bytes: int = REWRAP_MAX_RESENT_BYTES,
) -> RewrapResult:
    """Rotate an object's data key to ``new_keyring`` without downloading its body (:mod:`busta.rewrap`).

    Writes ``dest_bucket/dest_key`` (default: the object itself) as a multipart
    upload whose first part is the new header plus the old body's first frames
    (at least S3's 5 MiB part) and whose other parts are server-side copies
    (UploadPartCopy) of the rest; small objects, and non-framed ones, are
    rewritten with one PutObject. Every read and copy is pinned to the source's
    ETag (``if_match``, default the one HeadObject sees), and every ranged answer
    is checked (status, Content-Range, length), so an object replaced meanwhile
    or a server that ignores or cuts a range fails with :class:`S3Error` instead
    of mixing bytes. Before anything is written, the new message is
    authenticated under the data key (:func:`~busta.rewrap.check_rewrapped`):
    its new header, every frame sent from here, and the final frame. Copied
    parts are S3's own copies of the pinned source; they are not downloaded.

    In place, the final write (PutObject or CompleteMultipartUpload) is
    conditional on that ETag too: if another writer replaced the object during
    the rotation, theirs is left and this raises :class:`S3Error` with code
    ``ObjectChanged``. The new object keeps what S3 keeps on a copy: user
    metadata (updated with ``metadata``), tags, content headers, storage class,
    SSE-KMS and object-lock settings. Signed objects raise
    :class:`~busta.errors.SignedMessageError` (re-encrypt them instead); an
    object whose first part would need more than ``max_resent_bytes`` of body
    (frames longer than that, or a larger non-framed body) raises
    :class:`~busta.errors.LimitExceededError`. ``sdk`` (a :class:`busta.Client`, default
    ``busta.Client()``) gives the commitment policy and the data-key limit; ``client`` is boto3's
    (default: one from the environment, as ``boto3.client("s3")``).
    """
    if not isinstance(copy_part_size, int) or copy_part_size < MIN_PART_SIZE:
        raise UsageError(f"copy_part_size must be at least {MIN_PART_SIZE} bytes (S3's smallest part)")
    if not isinstance(max_resent_bytes, int) or max_resent_bytes < MIN_PART_SIZE:
        raise UsageError(f"max_resent_bytes must be at least {MIN_PART_SIZE} bytes (S3's smallest part)")
    client = s3_client(client, bucket, key)
    pinned = {"IfMatch": if_match} if if_match else {}
    head = call("HeadObject", bucket, key, client.head_object, Bucket=bucket, Key=key, **pinned)
    size, etag = int(head["ContentLength"]), str(head["ETag"])
    source = _Source(client, bucket, key, etag, size)
    rewrapped = _rewrap_head(
        source, keyring=keyring, new_keyring=new_keyring, encryption_context=encryption_context, sdk=sdk
    )
    body_start = rewrapped.old_header_length
    resent = _resent_body(rewrapped.header, size - body_start, max_resent_bytes)
    source.read_to(body_start + resent)
    check_rewrapped(rewrapped, source.fetch, size, resent=resent, sdk=sdk)
    part_one = rewrapped.header_bytes + source.data[body_start : body_start + resent]
    target_bucket, target_key = dest_bucket or bucket, dest_key or key
    in_place = (target_bucket, target_key) == (bucket, key)
    sink = ObjectSink(
        client,
        target_bucket,
        target_key,
        part_size=len(part_one),
        max_concurrency=max_concurrency,
        extra=kept_properties(client, bucket, key, head, metadata),
        replaces=etag if in_place else None,
    )
    ranges = list(copy_ranges(body_start, size, first_part_body=resent, part_size=copy_part_size))
    try:
        sink.write(part_one)
        if ranges:
            sink.copy(bucket, key, etag, ranges)
        parts = sink.complete()
    except BaseException:
        sink.abort()
        raise
    header = rewrapped.header
    copied = sum(stop - first for first, stop in ranges)
    return RewrapResult(
        target_bucket, target_key, header.message_id, header.suite, sink.size + copied, parts, source.downloaded, copied
    )


class _Source:
    """The object being rotated: the bytes read so far from its start, and checked ranged reads."""

    def __init__(self, client: Any, bucket: str, key: str, etag: str, size: int):
        self._client, self._bucket, self._key, self._etag = client, bucket, key, etag
        self.size = size
        self.data = b""
        self.downloaded = 0

    def fetch(self, first: int, stop: int) -> bytes:
        """Bytes ``[first, stop)``: from what was read, or a ranged GET pinned to the ETag."""
        stop = min(stop, self.size)
        if stop <= len(self.data):
            return self.data[first:stop]
        got = fetch_range(self._client, self._bucket, self._key, first, stop, etag=self._etag, size=self.size)
        self.downloaded += len(got)
        return got

    def read_to(self, stop: int) -> None:
        if len(self.data) < stop:
            self.data += self.fetch(len(self.data), stop)


def _rewrap_head(
    source: _Source,
    *,
    keyring: Keyring,
    new_keyring: Keyring,
    encryption_context: Mapping[str, str] | None,
    sdk: Client | None,
) -> RewrappedHeader:
    """Read the header (a 64 KiB probe, then four times as much each time) and rewrap it."""
    limit = client_or_default(sdk).max_header_bytes
    while True:
        if len(source.data) >= source.size or len(source.data) > limit:
            raise TruncatedMessageError(f"the object ends inside its header ({source.size} bytes)")
        source.read_to(min(source.size, max(_HEADER_PROBE_BYTES, 4 * len(source.data))))
        rewrapped = rewrap_header(
            source.data, keyring=keyring, new_keyring=new_keyring, encryption_context=encryption_context, sdk=sdk
        )
        if rewrapped is not None:
            return rewrapped


def _resent_body(header: Header, body: int, limit: int) -> int:
    """How many body bytes part 1 re-sends: whole frames making up S3's smallest part, or the whole
    body when too little would be left to copy (or it is non-framed)."""
    if header.content_type is ContentType.FRAMED:
        frame = regular_frame_size(header.frame_length)
        resent = min(body, -(-MIN_PART_SIZE // frame) * frame)
        if body - resent < MIN_PART_SIZE:
            resent = body  # too little left to copy: rewrite the object in one piece
    else:
        resent = body  # one frame, authenticated only whole
    if resent > limit:
        raise LimitExceededError("body bytes re-sent by a rewrap", resent, limit)
    return resent
