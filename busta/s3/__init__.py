"""Encrypted S3 objects: upload and download helpers, ranged decryption, parallel multipart.

Each object is one ESDK message, so any official SDK decrypts it after a plain
GetObject. Needs ``pip install "busta[aws]"``; ``client`` is a boto3 S3 client, by
default one made from the environment as ``boto3.client("s3")`` makes it. The transfers
take boto3's ``ExtraArgs`` (:class:`UploadExtraArgs`, :class:`DownloadExtraArgs`: typed,
and checked before any request) and ``Callback`` (plaintext bytes moved since the last call).

- :func:`upload_fileobj` / :func:`upload_file` stream-encrypt and upload; inputs
  larger than one part go up as a multipart upload with a few parts in flight
  (memory stays at about ``max_concurrency + 1`` parts) and are aborted on any
  failure, so no multipart upload is left behind.
- :func:`download_fileobj` streams the response body through the decryptor;
  :func:`download_file` writes a temporary file renamed into place only after the
  whole message authenticated, fetching large unsigned objects in ranges, several
  at once, each range authenticated and written at its offset (signed ones, whose
  signature needs one pass in order, are streamed).
- :func:`get_range` returns plaintext ``[start, end)`` fetching only the header,
  the tail that locates the final frame, and the frames covering the range.
- :func:`rewrap_object` rotates an object's data key by rewriting its header and
  having S3 copy the body (``UploadPartCopy``), without downloading it.
- :func:`read_object_header` reads an object's header only (ranged GETs, at most the header limit).
- :func:`object_writer` uploads any stream as one object that appears only if
  the writing succeeds.

The calls the layers above (``busta.bulk``) build on, each an S3 request with its
errors mapped to :class:`S3Error`:

- :func:`fetch_range` reads bytes ``[first, stop)`` of an object pinned to its ETag,
  checking the answer is exactly that range;
- :func:`properties_of` is what a rewrite of an object must pass on to keep what S3
  keeps on a copy (metadata, tags, content headers, storage class, SSE-KMS, object lock);
- :func:`abort_uploads` aborts the multipart uploads in progress to one key;
- :func:`s3_error` maps any other boto3 exception to an :class:`S3Error`.
"""

from ..errors import S3Error
from ._args import DownloadExtraArgs, UploadExtraArgs
from ._calls import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_PART_SIZE,
    MIN_PART_SIZE,
    ObjectSink,
    abort_uploads,
    fetch_range,
    object_writer,
    s3_error,
)
from ._download import DEFAULT_MULTIPART_THRESHOLD, download_file, download_fileobj
from ._header import RangedObject, read_object_header
from ._progress import ProgressCallback
from ._properties import properties_of
from ._rewrap import DEFAULT_COPY_PART_SIZE, RewrapResult, rewrap_object
from ._transfer import (
    CONTEXT_METADATA_KEY,
    UploadResult,
    get_range,
    open_object,
    upload_file,
    upload_fileobj,
)

__all__ = [
    "CONTEXT_METADATA_KEY",
    "DEFAULT_COPY_PART_SIZE",
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_MULTIPART_THRESHOLD",
    "DEFAULT_PART_SIZE",
    "MIN_PART_SIZE",
    "DownloadExtraArgs",
    "ObjectSink",
    "ProgressCallback",
    "RangedObject",
    "RewrapResult",
    "S3Error",
    "UploadExtraArgs",
    "UploadResult",
    "abort_uploads",
    "download_file",
    "download_fileobj",
    "fetch_range",
    "get_range",
    "object_writer",
    "open_object",
    "properties_of",
    "read_object_header",
    "rewrap_object",
    "s3_error",
    "upload_file",
    "upload_fileobj",
]
