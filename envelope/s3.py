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
import json
import os
import tempfile
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any, Final

import botocore.exceptions

from .api import StreamResult, decrypt_stream, start_decryption, start_encryption
from .errors import S3Error, UsageError
from .materials import CryptoMaterialsManager, Keyring
from .streaming import pump
from .streaming.random_access import RandomAccessDecryptor
from .suites import AlgorithmSuite, CommitmentPolicy

__all__ = [
    "DEFAULT_PART_SIZE",
    "S3Error",
    "UploadResult",
    "download_file",
    "download_fileobj",
    "get_range",
    "open_object",
    "upload_file",
    "upload_fileobj",
]

#: S3's smallest part (all but the last) is 5 MiB; envelope uploads 8 MiB parts by default.
DEFAULT_PART_SIZE: Final = 8 << 20
MIN_PART_SIZE: Final = 5 << 20
#: Object metadata key for the (opt-in) encryption context, as JSON.
CONTEXT_METADATA_KEY: Final = "envelope-encryption-context"


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


class _PartSink:
    """A writable sink that cuts the message into parts and uploads them, a few at a time."""

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

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._buffer += data
        self.size += len(data)
        while len(self._buffer) > self._part_size:  # keep the last part back: it may be the only one
            part = bytes(self._buffer[: self._part_size])
            del self._buffer[: self._part_size]
            self._submit(part)
        return len(data)

    def flush(self) -> None:
        """Nothing to do: parts leave as they fill."""

    def _call(self, operation: str, method: Any, **request: Any) -> Any:
        return _s3(operation, self._bucket, self._key, method, Bucket=self._bucket, Key=self._key, **request)

    def _submit(self, part: bytes) -> None:
        if self._upload_id is None:
            created = self._call("CreateMultipartUpload", self._client.create_multipart_upload, **self._extra)
            self._upload_id = str(created["UploadId"])
        for done in [f for f in self._futures if f.done()]:
            done.result()  # surface a failed part early
        number = len(self._futures) + 1
        self._slots.acquire()
        future = self._pool.submit(self._upload_part, number, part)
        future.add_done_callback(lambda _: self._slots.release())
        self._futures.append(future)

    def _upload_part(self, number: int, body: bytes) -> dict[str, Any]:
        answer = self._call(
            "UploadPart", self._client.upload_part, UploadId=self._upload_id, PartNumber=number, Body=body
        )
        return {"PartNumber": number, "ETag": answer["ETag"]}

    def complete(self) -> int:
        """Send what is left; return the number of parts (0: a single PutObject)."""
        try:
            if self._upload_id is None:
                self._call("PutObject", self._client.put_object, Body=bytes(self._buffer), **self._extra)
                return 0
            self._submit(bytes(self._buffer))
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
    threads: int | None = None,
) -> UploadResult:
    """Encrypt everything ``fileobj`` yields and upload it as one object (one message).

    Parts of ``part_size`` bytes go up ``max_concurrency`` at a time while the
    next ones are encrypted (frames of large runs in parallel, ``threads``). On
    any failure the multipart upload is aborted and the error raised.
    ``record_context=True`` also stores the message's stored encryption context as object
    metadata (visible to anyone who may read metadata); decryption never uses it.
    """
    if not isinstance(part_size, int) or part_size < MIN_PART_SIZE:
        raise UsageError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's smallest part)")
    if not isinstance(max_concurrency, int) or max_concurrency < 1:
        raise UsageError("max_concurrency must be at least 1")
    encryptor = start_encryption(
        keyring=keyring,
        materials_manager=materials_manager,
        encryption_context=encryption_context,
        algorithm=algorithm,
        frame_length=frame_length,
        commitment_policy=commitment_policy,
        threads=threads,
    )
    extra: dict[str, Any] = {}
    if record_context:
        stored = encryptor.header.encryption_context  # never the required pairs kept out of the message
        extra["Metadata"] = {CONTEXT_METADATA_KEY: json.dumps(stored, sort_keys=True)}
    sink = _PartSink(client, bucket, key, part_size=part_size, max_concurrency=max_concurrency, extra=extra)
    try:
        length = pump.encrypt_stream(fileobj, sink, encryptor)  # type: ignore[arg-type]
        parts = sink.complete()
    except BaseException:
        sink.abort()
        raise
    header = encryptor.header
    return UploadResult(bucket, key, header.message_id, header.suite, length, sink.size, parts)


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


def open_object(bucket: str, key: str, *, client: Any) -> tuple[IO[bytes], int]:
    """Open an S3 object for reading (as stored, not decrypted): a readable body and its length.

    Read errors arrive as :class:`~envelope.errors.S3Error`. Close the body when done.
    """
    answer = _s3("GetObject", bucket, key, client.get_object, Bucket=bucket, Key=key)
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
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    handle, temporary = tempfile.mkstemp(prefix=".envelope-", suffix=".part", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            result = download_fileobj(bucket, key, out, **options)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return result


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
    the frames covering the range; each frame is authenticated. A signed
    object's signature needs the whole object, so it is refused unless
    ``allow_unverified_signature=True``.
    """
    head = _s3("HeadObject", bucket, key, client.head_object, Bucket=bucket, Key=key)
    size = int(head["ContentLength"])

    def fetch(first: int, stop: int) -> bytes:
        if stop <= first:
            return b""
        answer = _s3(
            "GetObject", bucket, key, client.get_object, Bucket=bucket, Key=key, Range=f"bytes={first}-{stop - 1}"
        )
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
