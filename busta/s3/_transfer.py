"""Uploads and ranged reads of encrypted objects, and opening an object as stored (see :mod:`busta.s3`)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from typing import IO, Any, Final

from .._frozen import record
from ..api import Client, client_or_default
from ..compression import mark
from ..materials import CryptoMaterialsManager, Keyring
from ..streaming import compressed, pump
from ..streaming.random_access import SeekableDecryptingReader
from ..suites import AlgorithmSuite
from ._args import DownloadExtraArgs, UploadExtraArgs, download_arguments, ranged_arguments, upload_arguments
from ._calls import DEFAULT_MAX_CONCURRENCY, DEFAULT_PART_SIZE, Body, call, check_parts, fetch_range, object_writer
from ._client import s3_client
from ._progress import CountingReader, ProgressCallback, checked_callback

__all__ = [
    "CONTEXT_METADATA_KEY",
    "UploadResult",
    "get_range",
    "open_object",
    "upload_file",
    "upload_fileobj",
]

#: Object metadata key for the (opt-in) encryption context, as JSON.
CONTEXT_METADATA_KEY: Final = "busta-encryption-context"


@record
class UploadResult:
    """What an upload wrote: the object, its message id, suite, plaintext and object sizes, and parts."""

    bucket: str
    key: str
    message_id: bytes
    suite: AlgorithmSuite
    plaintext_length: int
    object_size: int
    parts: int


def upload_fileobj(
    fileobj: IO[bytes],
    bucket: str,
    key: str,
    *,
    client: Any = None,
    sdk: Client | None = None,
    keyring: Keyring | None = None,
    materials_manager: CryptoMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    algorithm: AlgorithmSuite | int | None = None,
    frame_length: int | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    record_context: bool = False,
    metadata: Mapping[str, str] | None = None,
    compression: str | None = None,
    plaintext_length: int | None = None,
    ExtraArgs: UploadExtraArgs | None = None,
    Callback: ProgressCallback | None = None,
) -> UploadResult:
    """Encrypt everything ``fileobj`` yields and upload it as one object (one message).

    ``client`` is the boto3 S3 client (default: one from the environment, as
    ``boto3.client("s3")``); ``sdk`` the :class:`busta.Client` whose policy,
    limits and threads apply (default ``busta.Client()``). Parts of ``part_size`` bytes
    go up ``max_concurrency`` at a time while the next ones are encrypted (frames of
    large runs in parallel, ``sdk.threads``). When the plaintext's length is known
    (``plaintext_length``, or ``fileobj`` is a regular file), parts are a little larger (at
    most 1/64) if that makes the message as many parts as its plaintext would be (boto3's
    count), rather than a last small part of frame overhead. On any failure the multipart
    upload is aborted and the error raised.
    ``record_context=True`` also stores the message's stored encryption context as object
    metadata (visible to anyone who may read metadata); decryption never uses it.
    ``metadata`` adds user metadata to the object. ``ExtraArgs`` (:class:`UploadExtraArgs`)
    go to PutObject / CreateMultipartUpload, and those S3 needs on each part to UploadPart;
    their ``Metadata`` joins ``metadata`` (a key in both is a :class:`~busta.errors.UsageError`).
    ``Callback(n)`` is called, in this thread, with the plaintext bytes read since the last
    call; an exception it raises aborts the upload and propagates.
    ``compression="zstd"`` compresses the plaintext first (docs/compression.md); ``plaintext_length``,
    if given, is what ``fileobj`` must yield, told to the materials manager (a caching one needs it).
    """
    check_parts(part_size, max_concurrency)
    callback = checked_callback(Callback)
    to_record = {CONTEXT_METADATA_KEY: ""} if record_context else {}
    upload_arguments(ExtraArgs, metadata, to_record)  # refused before a data key is made
    context = mark(encryption_context, compression)
    encryptor = client_or_default(sdk).start_encryption(
        keyring=keyring,
        materials_manager=materials_manager,
        encryption_context=context,
        algorithm=algorithm,
        frame_length=frame_length,
        plaintext_length=plaintext_length if compression is None else None,  # compressed: fewer bytes
    )
    if record_context:
        stored = encryptor.header.encryption_context  # never the required pairs kept out of the message
        to_record[CONTEXT_METADATA_KEY] = json.dumps(stored, sort_keys=True)
    properties = upload_arguments(ExtraArgs, metadata, to_record)
    s3 = s3_client(client, bucket, key)
    known = plaintext_length if plaintext_length is not None else _left_in_file(fileobj)
    if compression is None and known is not None:
        part_size = _part_size_for(part_size, known, encryptor.message_size(known))
    config = getattr(getattr(s3, "meta", None), "config", None)
    if getattr(config, "request_checksum_calculation", None) == "when_supported":
        properties.setdefault("ChecksumAlgorithm", "CRC32")  # as boto3's transfers: each part checksummed
    source = fileobj if callback is None else CountingReader(fileobj, callback)
    writer = object_writer(
        bucket, key, client=s3, part_size=part_size, max_concurrency=max_concurrency, properties=properties
    )
    with writer as sink:
        if compression is None:
            length = pump.encrypt_stream(source, sink, encryptor)  # type: ignore[arg-type]
        else:
            length = compressed.encrypt_stream(source, sink, encryptor)  # type: ignore[arg-type]
    header = encryptor.header
    return UploadResult(bucket, key, header.message_id, header.suite, length, sink.size, sink.parts)


#: S3's largest part.
_MAX_PART_SIZE: Final = 5 << 30


def _part_size_for(part_size: int, plaintext_length: int, message_size: int) -> int:
    """The part size for a message of ``message_size`` bytes whose plaintext is ``plaintext_length``:
    ``part_size``, or a little more (at most 1/64) so that the message goes up in as many parts as
    its plaintext would (boto3's count): the frames' overhead (32 bytes per frame, and the header)
    would otherwise make a last part of its own, a request more."""
    parts = max(1, -(-plaintext_length // part_size))
    size = -(-message_size // parts)
    return size if part_size < size <= min(part_size + part_size // 64, _MAX_PART_SIZE) else part_size


def _left_in_file(fileobj: IO[bytes]) -> int | None:
    """The bytes from ``fileobj``'s position to the end, if it is a regular file (else None)."""
    try:
        status = os.fstat(fileobj.fileno())
        if not stat.S_ISREG(status.st_mode):
            return None
        return max(0, status.st_size - fileobj.tell())
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError and a ValueError
        return None


def upload_file(
    path: str | os.PathLike[str],
    bucket: str,
    key: str,
    *,
    client: Any = None,
    sdk: Client | None = None,
    keyring: Keyring | None = None,
    materials_manager: CryptoMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    algorithm: AlgorithmSuite | int | None = None,
    frame_length: int | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    record_context: bool = False,
    metadata: Mapping[str, str] | None = None,
    compression: str | None = None,
    plaintext_length: int | None = None,
    ExtraArgs: UploadExtraArgs | None = None,
    Callback: ProgressCallback | None = None,
) -> UploadResult:
    """:func:`upload_fileobj` for a local file (the options are the same)."""
    with open(path, "rb") as fileobj:
        return upload_fileobj(
            fileobj,
            bucket,
            key,
            client=client,
            sdk=sdk,
            keyring=keyring,
            materials_manager=materials_manager,
            encryption_context=encryption_context,
            algorithm=algorithm,
            frame_length=frame_length,
            part_size=part_size,
            max_concurrency=max_concurrency,
            record_context=record_context,
            metadata=metadata,
            compression=compression,
            plaintext_length=plaintext_length,
            ExtraArgs=ExtraArgs,
            Callback=Callback,
        )


def open_object(
    bucket: str,
    key: str,
    *,
    client: Any = None,
    if_match: str | None = None,
    ExtraArgs: DownloadExtraArgs | None = None,
) -> tuple[IO[bytes], int]:
    """Open an S3 object for reading (as stored, not decrypted): a readable body and its length.

    Read errors arrive as :class:`~busta.errors.S3Error`; with ``if_match`` (an
    ETag) an object that changed fails with code ``PreconditionFailed``. Close the body when done.
    """
    pinned = {"IfMatch": if_match} if if_match else {}
    get = s3_client(client, bucket, key).get_object
    answer = call("GetObject", bucket, key, get, Bucket=bucket, Key=key, **download_arguments(ExtraArgs), **pinned)
    return Body(answer["Body"], bucket, key), int(answer.get("ContentLength", 0))  # type: ignore[return-value]


def get_range(
    bucket: str,
    key: str,
    start: int,
    end: int,
    *,
    client: Any = None,
    sdk: Client | None = None,
    keyring: Keyring | None = None,
    materials_manager: CryptoMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    allow_unverified_signature: bool = False,
    ExtraArgs: DownloadExtraArgs | None = None,
) -> bytes:
    """Plaintext bytes ``[start, end)`` of an encrypted object, clamped to its length.

    Fetches (Range GETs) the header, the tail that locates the final frame, and
    the frames covering the range; each frame is authenticated. Every GET is pinned
    to the ETag HeadObject saw, so an object replaced meanwhile fails with
    :class:`S3Error` (``PreconditionFailed``) rather than mixing two objects. A signed
    object's signature needs the whole object, so it is refused unless
    ``allow_unverified_signature=True`` (and always by an ``sdk`` with ``refuse_signed``).
    ``ExtraArgs`` (:class:`DownloadExtraArgs`) go to the HeadObject and every GET.
    """
    request = ranged_arguments(download_arguments(ExtraArgs))
    s3 = s3_client(client, bucket, key)
    head = call("HeadObject", bucket, key, s3.head_object, Bucket=bucket, Key=key, **request)
    size, etag = int(head["ContentLength"]), str(head["ETag"])

    def fetch(first: int, stop: int) -> bytes:
        return fetch_range(s3, bucket, key, first, stop, etag=etag, size=size, request=request)

    decryptor = client_or_default(sdk).start_decryption(
        keyring=keyring, materials_manager=materials_manager, encryption_context=encryption_context
    )
    access = SeekableDecryptingReader(fetch, size, decryptor, allow_unverified_signature=allow_unverified_signature)
    return access.read_range(start, end)
