"""Encrypted S3 objects: upload and download helpers, ranged decryption, parallel multipart.

Each object is one ESDK message, so any official SDK decrypts it after a plain
GetObject. Needs ``pip install "envelope[aws]"``; ``client`` is a boto3 S3 client.

- :func:`upload_fileobj` / :func:`upload_file` stream-encrypt and upload; inputs
  larger than one part go up as a multipart upload with a few parts in flight
  (memory stays at about ``max_concurrency + 1`` parts) and are aborted on any
  failure, so no multipart upload is left behind.
- :func:`download_fileobj` / :func:`download_file` stream-decrypt the response
  body; a download to a path goes to a temporary file renamed into place only
  after the whole message authenticated.
- :func:`get_range` returns plaintext ``[start, end)`` fetching only the header,
  the tail that locates the final frame, and the frames covering the range.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any, Final

import botocore.exceptions

from ._atomic import atomic_output
from .api import StreamResult, decrypt_stream, start_decryption, start_encryption
from .errors import S3Error, TruncatedMessageError, UsageError
from .limits import MAX_HEADER_BYTES, S3_DEFAULT_PART_SIZE, S3_MIN_PART_SIZE
from .materials import CryptoMaterialsManager, Keyring
from .rewrap import copy_ranges, rewrap_header
from .streaming import pump
from .streaming.random_access import RandomAccessDecryptor
from .suites import AlgorithmSuite, CommitmentPolicy

__all__ = [
    "DEFAULT_COPY_PART_SIZE",
    "DEFAULT_PART_SIZE",
    "ObjectSink",
    "RewrapResult",
    "S3Error",
    "UploadResult",
    "download_file",
    "download_fileobj",
    "get_range",
    "object_writer",
    "open_object",
    "rewrap_object",
    "upload_file",
    "upload_fileobj",
]

#: S3's smallest part (all but the last) is 5 MiB; envelope uploads 8 MiB parts by default.
DEFAULT_PART_SIZE: Final = S3_DEFAULT_PART_SIZE
MIN_PART_SIZE: Final = S3_MIN_PART_SIZE
#: Object metadata key for the (opt-in) encryption context, as JSON.
CONTEXT_METADATA_KEY: Final = "envelope-encryption-context"
#: :func:`rewrap_object` copies the old body in server-side parts of this size.
DEFAULT_COPY_PART_SIZE: Final = 512 << 20
#: :func:`rewrap_object` first fetches this much of an object, enough for nearly every header.
_HEADER_PROBE_BYTES: Final = 64 << 10


def _s3(operation: str, bucket: str, key: str, call: Any, **request: Any) -> Any:
    try:
        return call(**request)
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        raise S3Error(operation, str(error.get("Code", "Unknown")), bucket, key, str(error.get("Message", ""))) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise S3Error(operation, type(exc).__name__, bucket, key, str(exc)) from exc


@dataclass(frozen=True, slots=True)
class UploadResult:
    """What an upload wrote: the object, its message id, suite, plaintext and object sizes, and parts."""

    bucket: str
    key: str
    message_id: bytes
    suite: AlgorithmSuite
    plaintext_length: int
    object_size: int
    parts: int


class ObjectSink:
    """A writable sink that cuts what it is given into parts and uploads them, a few at a time
    (see :func:`object_writer`)."""

    def __init__(
        self, client: Any, bucket: str, key: str, *, part_size: int, max_concurrency: int, extra: dict[str, Any]
    ):
        self._client, self._bucket, self._key = client, bucket, key
        self._part_size = part_size
        self._extra = extra
        self._buffer = bytearray()
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="envelope-s3")
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._futures: list[Future[dict[str, Any]]] = []
        self._upload_id: str | None = None
        self.size = 0
        self.parts = 0  # after completion: the number of parts (0: one PutObject)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._buffer += data
        self.size += len(data)
        while len(self._buffer) > self._part_size:  # keep the last part back: it may be the only one
            part = bytes(self._buffer[: self._part_size])
            del self._buffer[: self._part_size]
            self._send(part)
        return len(data)

    def flush(self) -> None:
        """Nothing to do: parts leave as they fill."""

    def _call(self, operation: str, method: Any, **request: Any) -> Any:
        return _s3(operation, self._bucket, self._key, method, Bucket=self._bucket, Key=self._key, **request)

    def _submit(self, upload: Callable[[int], dict[str, Any]]) -> None:
        """Run ``upload(part_number)`` on the pool once a slot is free (starting the upload first)."""
        if self._upload_id is None:
            created = self._call("CreateMultipartUpload", self._client.create_multipart_upload, **self._extra)
            self._upload_id = str(created["UploadId"])
        for done in [f for f in self._futures if f.done()]:
            done.result()  # surface a failed part early
        number = len(self._futures) + 1
        self._slots.acquire()
        future = self._pool.submit(upload, number)
        future.add_done_callback(lambda _: self._slots.release())
        self._futures.append(future)

    def _send(self, part: bytes) -> None:
        self._submit(functools.partial(self._upload_part, part))

    def _upload_part(self, body: bytes, number: int) -> dict[str, Any]:
        answer = self._call(
            "UploadPart", self._client.upload_part, UploadId=self._upload_id, PartNumber=number, Body=body
        )
        return {"PartNumber": number, "ETag": answer["ETag"]}

    def copy(self, bucket: str, key: str, etag: str, ranges: Iterable[tuple[int, int]]) -> None:
        """Send what is buffered as a part, then server-side copies of ``ranges`` of ``bucket/key``
        (pinned to ``etag``) as the next parts."""
        if self._buffer:
            self._send(bytes(self._buffer))
            self._buffer.clear()
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
        """Send what is left; return the number of parts (0: a single PutObject)."""
        try:
            if self._upload_id is None:
                self._call("PutObject", self._client.put_object, Body=bytes(self._buffer), **self._extra)
                return 0
            if self._buffer:
                self._send(bytes(self._buffer))
            parts = [future.result() for future in self._futures]
            self._call(
                "CompleteMultipartUpload",
                self._client.complete_multipart_upload,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": parts},
            )
            return len(parts)
        finally:
            self._pool.shutdown(wait=True)

    def abort(self) -> None:
        """Stop: wait for parts in flight, then abort the multipart upload so that none is left behind."""
        for future in self._futures:
            future.cancel()
        self._pool.shutdown(wait=True)
        if self._upload_id is not None:
            with contextlib.suppress(S3Error):
                self._call("AbortMultipartUpload", self._client.abort_multipart_upload, UploadId=self._upload_id)


def upload_fileobj(
    fileobj: IO[bytes],
    bucket: str,
    key: str,
    *,
    client: Any,
    keyring: Keyring | None = None,
    materials_manager: CryptoMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    algorithm: AlgorithmSuite | int | None = None,
    frame_length: int | None = None,
    commitment_policy: CommitmentPolicy | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    max_concurrency: int = 4,
    record_context: bool = False,
    metadata: Mapping[str, str] | None = None,
    threads: int | None = None,
) -> UploadResult:
    """Encrypt everything ``fileobj`` yields and upload it as one object (one message).

    Parts of ``part_size`` bytes go up ``max_concurrency`` at a time while the
    next ones are encrypted (frames of large runs in parallel, ``threads``). On
    any failure the multipart upload is aborted and the error raised.
    ``record_context=True`` also stores the message's stored encryption context as object
    metadata (visible to anyone who may read metadata); decryption never uses it.
    ``metadata`` adds user metadata to the object.
    """
    _check_parts(part_size, max_concurrency)
    encryptor = start_encryption(
        keyring=keyring,
        materials_manager=materials_manager,
        encryption_context=encryption_context,
        algorithm=algorithm,
        frame_length=frame_length,
        commitment_policy=commitment_policy,
        threads=threads,
    )
    extra = dict(metadata or {})
    if record_context:
        stored = encryptor.header.encryption_context  # never the required pairs kept out of the message
        extra[CONTEXT_METADATA_KEY] = json.dumps(stored, sort_keys=True)
    writer = object_writer(
        bucket, key, client=client, part_size=part_size, max_concurrency=max_concurrency, metadata=extra
    )
    with writer as sink:
        length = pump.encrypt_stream(fileobj, sink, encryptor)  # type: ignore[arg-type]
    header = encryptor.header
    return UploadResult(bucket, key, header.message_id, header.suite, length, sink.size, sink.parts)


def _check_parts(part_size: int, max_concurrency: int) -> None:
    if not isinstance(part_size, int) or part_size < MIN_PART_SIZE:
        raise UsageError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's smallest part)")
    if not isinstance(max_concurrency, int) or max_concurrency < 1:
        raise UsageError("max_concurrency must be at least 1")


@contextlib.contextmanager
def object_writer(
    bucket: str,
    key: str,
    *,
    client: Any,
    part_size: int = DEFAULT_PART_SIZE,
    max_concurrency: int = 4,
    metadata: Mapping[str, str] | None = None,
) -> Iterator[ObjectSink]:
    """A writable that uploads the bytes written to it, as they are, as one object.

    Parts of ``part_size`` go up ``max_concurrency`` at a time; the object is
    created (CompleteMultipartUpload, or one PutObject if it fits in a part) only
    when the block ends without an error. On an error the multipart upload is
    aborted, so neither a partial object nor an orphaned upload is left. (If S3
    completes the upload but its answer is lost, the call raises while the whole
    object is in place: the object is absent or complete, never partial.)
    """
    _check_parts(part_size, max_concurrency)
    extra = {"Metadata": dict(metadata)} if metadata else {}
    sink = ObjectSink(client, bucket, key, part_size=part_size, max_concurrency=max_concurrency, extra=extra)
    try:
        yield sink
        sink.parts = sink.complete()
    except BaseException:
        sink.abort()
        raise


def upload_file(path: str | os.PathLike[str], bucket: str, key: str, **options: Any) -> UploadResult:
    """:func:`upload_fileobj` for a local file (the options are the same)."""
    with open(path, "rb") as fileobj:
        return upload_fileobj(fileobj, bucket, key, **options)


class _Body:
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


def open_object(bucket: str, key: str, *, client: Any, if_match: str | None = None) -> tuple[IO[bytes], int]:
    """Open an S3 object for reading (as stored, not decrypted): a readable body and its length.

    Read errors arrive as :class:`~envelope.errors.S3Error`; with ``if_match`` (an
    ETag) an object that changed fails with code ``PreconditionFailed``. Close the body when done.
    """
    pinned = {"IfMatch": if_match} if if_match else {}
    answer = _s3("GetObject", bucket, key, client.get_object, Bucket=bucket, Key=key, **pinned)
    return _Body(answer["Body"], bucket, key), int(answer.get("ContentLength", 0))  # type: ignore[return-value]


def download_fileobj(
    bucket: str,
    key: str,
    fileobj: IO[bytes],
    *,
    client: Any,
    keyring: Keyring | None = None,
    materials_manager: CryptoMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    commitment_policy: CommitmentPolicy | None = None,
    max_encrypted_data_keys: int | None = None,
    threads: int | None = None,
) -> StreamResult:
    """Stream-decrypt an object into ``fileobj``.

    Only authenticated plaintext reaches ``fileobj``, but only a normal return
    proves the object was complete (and its signature valid): on an error,
    discard what was written (:func:`download_file` does).
    """
    answer = _s3("GetObject", bucket, key, client.get_object, Bucket=bucket, Key=key)
    return decrypt_stream(
        _Body(answer["Body"], bucket, key),  # type: ignore[arg-type]
        fileobj,
        keyring=keyring,
        materials_manager=materials_manager,
        encryption_context=encryption_context,
        commitment_policy=commitment_policy,
        max_encrypted_data_keys=max_encrypted_data_keys,
        threads=threads,
    )


def download_file(bucket: str, key: str, path: str | os.PathLike[str], **options: Any) -> StreamResult:
    """:func:`download_fileobj` into a temporary file beside ``path``, renamed into place only on success."""
    with atomic_output(path, prefix=".envelope-", suffix=".part") as out:
        return download_fileobj(bucket, key, out, **options)


def get_range(
    bucket: str,
    key: str,
    start: int,
    end: int,
    *,
    client: Any,
    keyring: Keyring | None = None,
    materials_manager: CryptoMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    commitment_policy: CommitmentPolicy | None = None,
    max_encrypted_data_keys: int | None = None,
    allow_unverified_signature: bool = False,
) -> bytes:
    """Plaintext bytes ``[start, end)`` of an encrypted object, clamped to its length.

    Fetches (Range GETs) the header, the tail that locates the final frame, and
    the frames covering the range; each frame is authenticated. Every GET is pinned
    to the ETag HeadObject saw, so an object replaced meanwhile fails with
    :class:`S3Error` (``PreconditionFailed``) rather than mixing two objects. A signed
    object's signature needs the whole object, so it is refused unless
    ``allow_unverified_signature=True``.
    """
    head = _s3("HeadObject", bucket, key, client.head_object, Bucket=bucket, Key=key)
    size, etag = int(head["ContentLength"]), str(head["ETag"])

    def fetch(first: int, stop: int) -> bytes:
        if stop <= first:
            return b""
        request = {"Bucket": bucket, "Key": key, "Range": f"bytes={first}-{stop - 1}", "IfMatch": etag}
        answer = _s3("GetObject", bucket, key, client.get_object, **request)
        return _Body(answer["Body"], bucket, key).read()

    decryptor = start_decryption(
        keyring=keyring,
        materials_manager=materials_manager,
        encryption_context=encryption_context,
        commitment_policy=commitment_policy,
        max_encrypted_data_keys=max_encrypted_data_keys,
    )
    access = RandomAccessDecryptor(fetch, size, decryptor, allow_unverified_signature=allow_unverified_signature)
    return access.read(start, end)


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
    head = _s3("HeadObject", bucket, key, client.head_object, Bucket=bucket, Key=key, **pinned)
    size, etag = int(head["ContentLength"]), str(head["ETag"])

    def fetch(first: int, stop: int) -> bytes:
        request = {"Bucket": bucket, "Key": key, "Range": f"bytes={first}-{stop - 1}", "IfMatch": etag}
        answer = _s3("GetObject", bucket, key, client.get_object, **request)
        return _Body(answer["Body"], bucket, key).read()

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
