"""The S3 calls busta makes, with S3 errors mapped into the error tree, and the part uploader."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import re
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Final

import botocore.exceptions

from ..errors import S3Error, UsageError
from ..limits import S3_DEFAULT_MAX_CONCURRENCY, S3_DEFAULT_PART_SIZE, S3_MIN_PART_SIZE
from ._args import part_arguments
from ._client import s3_client

__all__ = [
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_PART_SIZE",
    "MIN_PART_SIZE",
    "Body",
    "ObjectSink",
    "abort_uploads",
    "call",
    "check_parts",
    "fetch_range",
    "fetch_range_into",
    "object_writer",
    "open_range",
    "s3_error",
]

#: S3's smallest part (all but the last) is 5 MiB; busta uploads 8 MiB parts by default.
DEFAULT_PART_SIZE: Final = S3_DEFAULT_PART_SIZE
MIN_PART_SIZE: Final = S3_MIN_PART_SIZE
#: Parts (uploads) or ranges (downloads) in flight at once, unless ``max_concurrency`` says otherwise.
DEFAULT_MAX_CONCURRENCY: Final = S3_DEFAULT_MAX_CONCURRENCY


def s3_error(operation: str, bucket: str, key: str, exc: Exception) -> S3Error:
    """``exc`` from an S3 call as an :class:`S3Error`: S3's error code and message, or the exception's name."""
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        return S3Error(operation, str(error.get("Code", "Unknown")), bucket, key, str(error.get("Message", "")))
    return S3Error(operation, type(exc).__name__, bucket, key, str(exc))


def call(operation: str, bucket: str, key: str, call: Any, **request: Any) -> Any:
    try:
        return call(**request)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise s3_error(operation, bucket, key, exc) from exc


def abort_uploads(client: Any, bucket: str, key: str) -> None:
    """Abort every multipart upload in progress to exactly ``key`` (left by a killed writer that
    owned the key); uploads to other keys under the same prefix are left alone."""
    listed = call("ListMultipartUploads", bucket, key, client.list_multipart_uploads, Bucket=bucket, Prefix=key)
    for upload in listed.get("Uploads", []):
        if upload["Key"] == key:
            abort = client.abort_multipart_upload
            call("AbortMultipartUpload", bucket, key, abort, Bucket=bucket, Key=key, UploadId=upload["UploadId"])


def fetch_range(
    client: Any,
    bucket: str,
    key: str,
    first: int,
    stop: int,
    *,
    etag: str,
    size: int | None = None,
    request: Mapping[str, Any] | None = None,
) -> bytes:
    """Object bytes ``[first, stop)``, pinned to ``etag``: a replaced object fails with ``PreconditionFailed``.

    ``size`` is the object's length when known (HeadObject's); a range past it is
    cut at the end. The answer is checked before a byte of it is used, and any
    mismatch is an :class:`S3Error` with code ``BadRangeResponse``: it must be a
    206 whose Content-Range is exactly the range asked for, out of ``size``
    bytes, and whose body is that long. A server may ignore Range (HTTP lets it)
    and answer 200 with the whole object: that is accepted only when the range
    asked for covers the whole object (``first`` is 0 and the object ends by
    ``stop``), and refused otherwise. Without ``size`` the answer may end
    early only at the object's end (as its Content-Range total says).
    ``request`` adds GetObject arguments (a download's ``ExtraArgs``: SSE-C key, VersionId ...).
    """
    if size is not None:
        stop = min(stop, size)
    if stop <= first:
        return b""
    body, end = open_range(client, bucket, key, first, stop, etag=etag, size=size, request=request)
    try:
        data = body.read(end - first + 1)  # one byte more than promised: a longer body is caught too
    finally:
        body.close()
    if len(data) != end - first:
        raise _bad_range(bucket, key, first, stop, f"a body of {len(data)} bytes for {end - first} promised")
    return data


#: :func:`fetch_range_into` reads a body in pieces of this size into the caller's buffer: small enough
#: that the allocator reuses them (a fresh buffer of a whole range costs a page fault per 4 KiB).
_READ_CHUNK: Final = 256 << 10


def fetch_range_into(
    client: Any,
    bucket: str,
    key: str,
    first: int,
    out: memoryview,
    *,
    etag: str,
    size: int,
    request: Mapping[str, Any] | None = None,
) -> int:
    """:func:`fetch_range` of the ``len(out)`` bytes from ``first`` (cut at the object's ``size``), read
    into ``out`` and checked the same way; return their number (anything short is an :class:`S3Error`)."""
    stop = min(first + len(out), size)
    if stop <= first:
        return 0
    body, end = open_range(client, bucket, key, first, stop, etag=etag, size=size, request=request)
    filled, want = 0, end - first
    try:
        while filled < want:
            chunk = body.read(min(_READ_CHUNK, want - filled))
            if not chunk:
                break
            out[filled : filled + len(chunk)] = chunk
            filled += len(chunk)
        longer = filled == want and body.read(1)
    finally:
        body.close()
    if filled != want or longer:
        got = f"more than {want}" if longer else str(filled)
        raise _bad_range(bucket, key, first, stop, f"a body of {got} bytes for {want} promised")
    return filled


def open_range(
    client: Any,
    bucket: str,
    key: str,
    first: int,
    stop: int,
    *,
    etag: str,
    size: int | None = None,
    request: Mapping[str, Any] | None = None,
) -> tuple[Body, int]:
    """A GetObject of bytes ``[first, stop)`` pinned to ``etag``, its answer checked as :func:`fetch_range`
    checks it (but not its body's length): the body to read, and where the range ends. Close the body."""
    asked = {**(request or {}), "Bucket": bucket, "Key": key, "Range": f"bytes={first}-{stop - 1}", "IfMatch": etag}
    answer = call("GetObject", bucket, key, client.get_object, **asked)
    body = Body(answer["Body"], bucket, key)
    try:
        end = _checked_range(answer, first, stop, size=size, where=(bucket, key))
    except BaseException:
        body.close()
        raise
    return body, end


#: What S3 answers a conditional write whose object changed (409: a concurrent conditional write won).
_CHANGED: Final = ("PreconditionFailed", "ConditionalRequestConflict")
#: The checksums an UploadPart answer may carry, which CompleteMultipartUpload then needs for that part.
_PART_CHECKSUMS: Final = frozenset(
    {"ChecksumCRC32", "ChecksumCRC32C", "ChecksumCRC64NVME", "ChecksumSHA1", "ChecksumSHA256"}
)


def _part_checksum(algorithm: object, body: bytes | bytearray) -> dict[str, str]:
    """The part's checksum for ``algorithm``, computed here (in the uploading thread) so that botocore,
    which skips a checksum it is given, does not compute it where it sends the request: for busta.aio.s3
    that is the event loop. Empty for an algorithm botocore must compute itself (CRC32C, CRC64NVME)."""
    if algorithm == "CRC32":
        digest = zlib.crc32(body).to_bytes(4, "big")
    elif algorithm in ("SHA1", "SHA256"):
        digest = hashlib.new(str(algorithm).lower(), body).digest()
    else:
        return {}
    return {f"Checksum{algorithm}": base64.b64encode(digest).decode("ascii")}


_CONTENT_RANGE: Final = re.compile(r"bytes (\d{1,20})-(\d{1,20})/(\d{1,20})")


def _checked_range(
    answer: Mapping[str, Any], first: int, stop: int, *, size: int | None, where: tuple[str, str]
) -> int:
    """Where the answer to a GET of ``[first, stop)`` of ``where`` (bucket, key) ends, if it answers that
    GET; else BadRangeResponse."""
    bucket, key = where
    status = answer.get("ResponseMetadata", {}).get("HTTPStatusCode")
    length = answer.get("ContentLength")

    def bad(why: str) -> S3Error:
        return _bad_range(bucket, key, first, stop, why)

    if status == 200:
        whole = length if size is None else size  # a 200 carries the whole object
        if first == 0 and isinstance(length, int) and length == whole and length <= stop:
            return length
        raise bad(f"status 200 with {length} bytes: the server ignored the Range header")
    if status != 206:
        raise bad(f"status {status}")
    found = _CONTENT_RANGE.fullmatch(str(answer.get("ContentRange", "")).strip())
    if found is None:
        raise bad(f"Content-Range {answer.get('ContentRange')!r}")
    start, last, total = (int(group) for group in found.groups())
    if last < start or last >= total:  # RFC 9110: first <= last < complete length
        raise bad(f"Content-Range {found.group(0)!r}")
    ends_early = last + 1 < stop and last + 1 == total and size is None
    if start != first or (last + 1 != stop and not ends_early) or (size is not None and total != size):
        raise bad(f"Content-Range {found.group(0)!r}")
    if length is not None and length != last + 1 - start:
        raise bad(f"Content-Length {length} for Content-Range {found.group(0)!r}")
    return last + 1


def _bad_range(bucket: str, key: str, first: int, stop: int, why: str) -> S3Error:
    return S3Error("GetObject", "BadRangeResponse", bucket, key, f"asked for bytes {first}-{stop - 1}, got {why}")


class ObjectSink:
    """A writable sink that cuts what it is given into parts and uploads them, a few at a time
    (see :func:`object_writer`)."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        key: str,
        *,
        part_size: int,
        max_concurrency: int,
        extra: dict[str, Any],
        replaces: str | None = None,
    ):
        self._client, self._bucket, self._key = client, bucket, key
        self._part_size = part_size
        self._extra = extra
        self._part_args, self._complete_args, self._abort_args = part_arguments(extra)
        self._replaces = replaces  # the ETag the object must still have when it is replaced
        # Parts are filled in buffers of ``part_size`` bytes, each sent as it is and reused once its
        # UploadPart returned: at most ``max_concurrency`` in flight and one filling (a fresh buffer of a
        # whole part would cost a page fault per 4 KiB, each part).
        self._part = bytearray(part_size)
        self._filled = 0
        self._free: list[bytearray] = []
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="busta-s3")
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._futures: list[Future[dict[str, Any]]] = []
        self._upload_id: str | None = None
        self.size = 0
        self.parts = 0  # after completion: the number of parts (0: one PutObject)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        with memoryview(data) as given, given.cast("B") as view:
            self.size += len(view)
            taken = 0
            while taken < len(view):
                if self._filled == self._part_size:  # a full part goes only once more comes: it may be the only one
                    self._send_part()
                n = min(self._part_size - self._filled, len(view) - taken)
                self._part[self._filled : self._filled + n] = view[taken : taken + n]
                self._filled += n
                taken += n
            return taken

    def _send_part(self) -> None:
        """Send the full part buffer as it is; fill a free one (or a new one) next."""
        part = self._part
        self._submit(functools.partial(self._upload_part, part), part)
        self._part = self._free.pop() if self._free else bytearray(self._part_size)
        self._filled = 0

    def _held(self) -> bytes:
        """What is filled and not sent, as bytes of its own (the last part, or the only one)."""
        with memoryview(self._part) as part:
            return bytes(part[: self._filled])

    def flush(self) -> None:
        """Nothing to do: parts leave as they fill."""

    def _call(self, operation: str, method: Any, **request: Any) -> Any:
        return call(operation, self._bucket, self._key, method, Bucket=self._bucket, Key=self._key, **request)

    def _submit(self, upload: Callable[[int], dict[str, Any]], buffer: bytearray | None = None) -> None:
        """Run ``upload(part_number)`` on the pool once a slot is free (starting the upload first); then
        ``buffer`` (the part's) is free again."""
        if self._upload_id is None:
            created = self._call("CreateMultipartUpload", self._client.create_multipart_upload, **self._extra)
            self._upload_id = str(created["UploadId"])
        for done in [f for f in self._futures if f.done()]:
            done.result()  # surface a failed part early
        number = len(self._futures) + 1
        self._slots.acquire()
        future = self._pool.submit(upload, number)
        future.add_done_callback(functools.partial(self._release, buffer))
        self._futures.append(future)

    def _release(self, buffer: bytearray | None, _: Future[dict[str, Any]]) -> None:
        if buffer is not None:
            self._free.append(buffer)  # before the slot: a writer that takes the slot finds the buffer
        self._slots.release()

    def _send(self, part: bytes) -> None:
        self._submit(functools.partial(self._upload_part, part))

    def _upload_part(self, body: bytes | bytearray, number: int) -> dict[str, Any]:
        answer = self._call(
            "UploadPart",
            self._client.upload_part,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=body,
            **self._part_args,
            **_part_checksum(self._part_args.get("ChecksumAlgorithm"), body),
        )
        part = {"PartNumber": number, "ETag": answer["ETag"]}
        if "ChecksumAlgorithm" in self._part_args:  # then CompleteMultipartUpload must list each part's checksum
            part.update((name, value) for name, value in answer.items() if name in _PART_CHECKSUMS)
        return part

    def copy(self, bucket: str, key: str, etag: str, ranges: Iterable[tuple[int, int]]) -> None:
        """Send what is buffered as a part, then server-side copies of ``ranges`` of ``bucket/key``
        (pinned to ``etag``) as the next parts."""
        if self._filled:
            self._send(self._held())
            self._filled = 0
        for first, stop in ranges:
            self._submit(functools.partial(self._copy_part, {"Bucket": bucket, "Key": key}, etag, first, stop))

    def _copy_part(self, source: dict[str, str], etag: str, first: int, stop: int, number: int) -> dict[str, Any]:
        answer = self._call(
            "UploadPartCopy",
            self._client.upload_part_copy,
            UploadId=self._upload_id,
            PartNumber=number,
            CopySource=source,
            CopySourceRange=f"bytes={first}-{stop - 1}",
            CopySourceIfMatch=etag,
        )
        return {"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]}

    def complete(self) -> int:
        """Send what is left; return the number of parts (0: a single PutObject).

        With ``replaces``, the object is written only if it still has that ETag
        (``IfMatch``); if another writer replaced it, their object stays and this
        raises :class:`S3Error` with code ``ObjectChanged``.
        """
        pinned = {"IfMatch": self._replaces} if self._replaces else {}
        try:
            if self._upload_id is None:
                self._final("PutObject", self._client.put_object, Body=self._held(), **self._extra, **pinned)
                return 0
            if self._filled:
                self._send(self._held())
            parts = [future.result() for future in self._futures]
            self._final(
                "CompleteMultipartUpload",
                self._client.complete_multipart_upload,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": parts},
                **self._complete_args,
                **pinned,
            )
            return len(parts)
        finally:
            self._pool.shutdown(wait=True)

    def _final(self, operation: str, method: Any, **request: Any) -> None:
        try:
            self._call(operation, method, **request)
        except S3Error as exc:
            if self._replaces is None or exc.code not in _CHANGED:
                raise
            raise S3Error(
                operation,
                "ObjectChanged",
                self._bucket,
                self._key,
                f"another writer replaced it (ETag {self._replaces} no longer matches); theirs is left in place",
            ) from exc

    def abort(self) -> None:
        """Stop: wait for parts in flight, then abort the multipart upload so that none is left behind."""
        for future in self._futures:
            future.cancel()
        self._pool.shutdown(wait=True)
        if self._upload_id is not None:
            with contextlib.suppress(S3Error):
                abort = self._client.abort_multipart_upload
                self._call("AbortMultipartUpload", abort, UploadId=self._upload_id, **self._abort_args)


def check_parts(part_size: int, max_concurrency: int) -> None:
    if not isinstance(part_size, int) or part_size < MIN_PART_SIZE:
        raise UsageError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's smallest part)")
    if not isinstance(max_concurrency, int) or max_concurrency < 1:
        raise UsageError("max_concurrency must be at least 1")


@contextlib.contextmanager
def object_writer(
    bucket: str,
    key: str,
    *,
    client: Any = None,
    part_size: int = DEFAULT_PART_SIZE,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    metadata: Mapping[str, str] | None = None,
    properties: Mapping[str, Any] | None = None,
) -> Iterator[ObjectSink]:
    """A writable that uploads the bytes written to it, as they are, as one object.

    ``properties`` are further PutObject / CreateMultipartUpload arguments, named
    as S3's API names them (``ContentType``, ``Tagging``, ``ServerSideEncryption`` ...);
    ``metadata`` updates their ``Metadata``. Those S3 wants on each part too (the SSE-C key,
    ``RequestPayer``, ``ExpectedBucketOwner``, ``ChecksumAlgorithm``) are sent with each part.
    ``client`` defaults to one made from the environment, as ``boto3.client("s3")``.

    Parts of ``part_size`` go up ``max_concurrency`` at a time; the object is
    created (CompleteMultipartUpload, or one PutObject if it fits in a part) only
    when the block ends without an error. On an error the multipart upload is
    aborted, so neither a partial object nor an orphaned upload is left. (If S3
    completes the upload but its answer is lost, the call raises while the whole
    object is in place: the object is absent or complete, never partial.)
    """
    check_parts(part_size, max_concurrency)
    extra = dict(properties or {})
    if metadata:
        extra["Metadata"] = {**extra.get("Metadata", {}), **metadata}
    sink = ObjectSink(
        s3_client(client, bucket, key), bucket, key, part_size=part_size, max_concurrency=max_concurrency, extra=extra
    )
    try:
        yield sink
        sink.parts = sink.complete()
    except BaseException:
        sink.abort()
        raise


class Body:
    """A StreamingBody as a source with ``read``, with S3 errors mapped."""

    def __init__(self, body: Any, bucket: str, key: str):
        self._body, self._bucket, self._key = body, bucket, key

    def close(self) -> None:
        self._body.close()

    def read(self, size: int = -1) -> bytes:
        try:
            return bytes(self._body.read(size))
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            raise S3Error("GetObject", type(exc).__name__, self._bucket, self._key, str(exc)) from exc
