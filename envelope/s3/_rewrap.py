"""Key rotation of an S3 object without downloading its body (see :mod:`envelope.rewrap`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..errors import TruncatedMessageError, UsageError
from ..limits import MAX_HEADER_BYTES
from ..materials import Keyring
from ..rewrap import copy_ranges, rewrap_header
from ..suites import AlgorithmSuite, CommitmentPolicy
from ._calls import MIN_PART_SIZE, ObjectSink, call, fetch_range

__all__ = ["DEFAULT_COPY_PART_SIZE", "RewrapResult", "rewrap_object"]

#: :func:`rewrap_object` copies the old body in server-side parts of this size.
DEFAULT_COPY_PART_SIZE: Final = 512 << 20
#: :func:`rewrap_object` first fetches this much of an object, enough for nearly every header.
_HEADER_PROBE_BYTES: Final = 64 << 10


@dataclass(frozen=True, slots=True)
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
    client: Any,
    keyring: Keyring,
    new_keyring: Keyring,
    dest_bucket: str | None = None,
    dest_key: str | None = None,
    encryption_context: Mapping[str, str] | None = None,
    commitment_policy: CommitmentPolicy | None = None,
    max_encrypted_data_keys: int | None = None,
    metadata: Mapping[str, str] | None = None,
    copy_part_size: int = DEFAULT_COPY_PART_SIZE,
    max_concurrency: int = 4,
    if_match: str | None = None,
) -> RewrapResult:
    """Rotate an object's data key to ``new_keyring`` without downloading its body (:mod:`envelope.rewrap`).

    Writes ``dest_bucket/dest_key`` (default: the object itself) as a multipart
    upload whose first part is the new header plus the first 5 MiB of the old
    body and whose other parts are server-side copies (UploadPartCopy) of the
    rest; small objects are rewritten with one PutObject. Every read and copy
    is pinned to the source's ETag (``if_match``, default the one HeadObject
    sees), so an object replaced meanwhile fails with :class:`S3Error` instead
    of mixing two objects. The new object keeps the
    source's metadata, updated with ``metadata``. Signed objects raise
    :class:`~envelope.errors.SignedMessageError` (re-encrypt them instead).
    """
    if not isinstance(copy_part_size, int) or copy_part_size < MIN_PART_SIZE:
        raise UsageError(f"copy_part_size must be at least {MIN_PART_SIZE} bytes (S3's smallest part)")
    pinned = {"IfMatch": if_match} if if_match else {}
    head = call("HeadObject", bucket, key, client.head_object, Bucket=bucket, Key=key, **pinned)
    size, etag = int(head["ContentLength"]), str(head["ETag"])

    def fetch(first: int, stop: int) -> bytes:
        return fetch_range(client, bucket, key, first, stop, etag=etag)

    data = b""
    rewrapped = None
    while rewrapped is None:
        if len(data) >= size or len(data) > MAX_HEADER_BYTES:
            raise TruncatedMessageError(f"s3://{bucket}/{key} ends inside its header")
        data += fetch(len(data), min(size, max(_HEADER_PROBE_BYTES, 4 * len(data))))
        rewrapped = rewrap_header(
            data,
            keyring=keyring,
            new_keyring=new_keyring,
            encryption_context=encryption_context,
            commitment_policy=commitment_policy,
            max_encrypted_data_keys=max_encrypted_data_keys,
        )
    body_start = rewrapped.old_header_length
    first_body = min(size - body_start, MIN_PART_SIZE)  # part 1 must reach S3's smallest part size
    if size - body_start - first_body < MIN_PART_SIZE:
        first_body = size - body_start  # too little left to copy: rewrite the object in one piece
    if len(data) < body_start + first_body:
        data += fetch(len(data), body_start + first_body)
    part_one = rewrapped.header_bytes + data[body_start : body_start + first_body]
    extra = {"Metadata": {**head.get("Metadata", {}), **(metadata or {})}}
    target_bucket, target_key = dest_bucket or bucket, dest_key or key
    sink = ObjectSink(
        client, target_bucket, target_key, part_size=len(part_one), max_concurrency=max_concurrency, extra=extra
    )
    ranges = list(copy_ranges(body_start, size, first_part_body=first_body, part_size=copy_part_size))
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
        target_bucket, target_key, header.message_id, header.suite, sink.size + copied, parts, len(data), copied
    )
