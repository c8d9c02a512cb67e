"""Downloads of encrypted objects: streamed into a writable, or into a file in ranges (see :mod:`busta.s3`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import IO, Any, Final

from .._atomic import atomic_output
from ..api import Client, StreamResult, client_or_default
from ..errors import UsageError
from ..materials import CryptoMaterialsManager, Keyring
from ._args import DownloadExtraArgs, download_arguments, ranged_arguments
from ._calls import DEFAULT_MAX_CONCURRENCY, DEFAULT_PART_SIZE, Body, call, check_parts, open_range
from ._client import s3_client
from ._progress import CountingWriter, ProgressCallback, checked_callback
from ._ranged import RangedPlan, download_ranges, plan

__all__ = ["DEFAULT_MULTIPART_THRESHOLD", "download_file", "download_fileobj"]

#: :func:`download_file` fetches objects of at least this many bytes in ranges (boto3's default threshold too).
DEFAULT_MULTIPART_THRESHOLD: Final = DEFAULT_PART_SIZE


def download_fileobj(
    bucket: str,
    key: str,
    fileobj: IO[bytes],
    *,
    client: Any = None,
    sdk: Client | None = None,
    keyring: Keyring | None = None,
    materials_manager: CryptoMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    ExtraArgs: DownloadExtraArgs | None = None,
    Callback: ProgressCallback | None = None,
) -> StreamResult:
    """Stream-decrypt an object into ``fileobj``, under the policy and limits of ``sdk``
    (a :class:`busta.Client`, default ``busta.Client()``).

    ``client`` is a boto3 S3 client (default: one from the environment, as
    ``boto3.client("s3")``); ``ExtraArgs`` go to the GetObject (:class:`DownloadExtraArgs`);
    ``Callback(n)`` is called, in this thread, with the plaintext bytes written since
    the last call, and an exception it raises stops the download and propagates.
    Only authenticated plaintext reaches ``fileobj``, but only a normal return
    proves the object was complete (and its signature valid): on an error,
    discard what was written (:func:`download_file` does).
    """
    request = download_arguments(ExtraArgs)
    callback = checked_callback(Callback)
    return _stream(
        s3_client(client, bucket, key),
        bucket,
        key,
        fileobj,
        request=request,
        found=None,
        sdk=client_or_default(sdk),
        keys=(keyring, materials_manager, encryption_context),
        callback=callback,
    )


def _stream(
    client: Any,
    bucket: str,
    key: str,
    fileobj: IO[bytes],
    *,
    request: Mapping[str, Any],
    found: RangedPlan | None,
    sdk: Client,
    keys: tuple[Keyring | None, CryptoMaterialsManager | None, Mapping[str, str] | None],
    callback: ProgressCallback | None,
) -> StreamResult:
    source: Body | _Continued
    if found is not None and found.prefix and ranged_arguments(request) == request:
        # The object's first bytes are here (a whole-object checksum asked for needs the whole GET):
        # the rest, pinned to the ETag.
        rest = None
        if len(found.prefix) < found.size:
            rest, _ = open_range(
                client, bucket, key, len(found.prefix), found.size, etag=found.etag, size=found.size, request=request
            )
        source = _Continued(found.prefix, rest)
    else:
        pinned = {"IfMatch": found.etag} if found is not None else {}
        answer = call("GetObject", bucket, key, client.get_object, Bucket=bucket, Key=key, **request, **pinned)
        source = Body(answer["Body"], bucket, key)
    sink = fileobj if callback is None else CountingWriter(fileobj, callback)
    keyring, materials_manager, encryption_context = keys
    try:
        return sdk.decrypt_stream(
            source,  # type: ignore[arg-type]
            sink,  # type: ignore[arg-type]
            keyring=keyring,
            materials_manager=materials_manager,
            encryption_context=encryption_context,
        )
    finally:
        source.close()


class _Continued:
    """The object's first bytes, already fetched, then the body of the GET of the rest (if any)."""

    def __init__(self, prefix: bytes, rest: Body | None) -> None:
        self._prefix, self._at, self._rest = memoryview(prefix), 0, rest

    def read(self, size: int = -1) -> bytes:
        if self._at < len(self._prefix):
            stop = len(self._prefix) if size < 0 else min(len(self._prefix), self._at + size)
            data = bytes(self._prefix[self._at : stop])
            self._at = stop
            return data
        return b"" if self._rest is None else self._rest.read(size)

    def close(self) -> None:
        if self._rest is not None:
            self._rest.close()


def download_file(
    bucket: str,
    key: str,
    path: str | os.PathLike[str],
    *,
    client: Any = None,
    sdk: Client | None = None,
    keyring: Keyring | None = None,
    materials_manager: CryptoMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    ExtraArgs: DownloadExtraArgs | None = None,
    Callback: ProgressCallback | None = None,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    part_size: int = DEFAULT_PART_SIZE,
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
) -> StreamResult:
    """Decrypt an object into a temporary file beside ``path``, renamed into place only when
    the whole message has authenticated; on any error the temporary file is removed.

    An object of ``multipart_threshold`` bytes or more that is framed, unsigned and
    uncompressed is fetched in ranges of about ``part_size`` bytes (whole frames; as many
    GETs as boto3 makes of the same plaintext), ``max_concurrency`` at once, every GET
    pinned to the ETag HeadObject saw: the first range holds the header, and the last
    (fetched first) the final frame, which authenticates before anything is written; then
    each range is authenticated and written at its offset. Other objects (signed ones,
    whose signature only a sequential read can check), and every object when
    ``max_concurrency`` is 1, are streamed as :func:`download_fileobj` does (after the
    first range, which told, from where it ends).
    ``Callback`` and ``ExtraArgs`` are as for :func:`download_fileobj`.
    """
    check_parts(part_size, max_concurrency)
    if not isinstance(multipart_threshold, int) or multipart_threshold < 0:
        raise UsageError("multipart_threshold must be a non-negative int")
    request = download_arguments(ExtraArgs)
    callback = checked_callback(Callback)
    s3 = s3_client(client, bucket, key)
    settings = client_or_default(sdk)
    keys = (keyring, materials_manager, encryption_context)
    with atomic_output(path, prefix=".busta-", suffix=".part") as out:
        found = None
        if max_concurrency > 1 and hasattr(os, "pwrite"):  # (not on Windows: streamed there)
            ranged = ranged_arguments(request)
            found = plan(
                s3, bucket, key, sdk=settings, request=ranged, threshold=multipart_threshold, range_size=part_size
            )
            if found.sequential is None:
                return download_ranges(
                    found,
                    out,
                    client=s3,
                    sdk=settings,
                    keyring=keyring,
                    materials_manager=materials_manager,
                    encryption_context=encryption_context,
                    request=ranged,
                    range_size=part_size,
                    max_concurrency=max_concurrency,
                    callback=callback,
                )
        return _stream(s3, bucket, key, out, request=request, found=found, sdk=settings, keys=keys, callback=callback)
