"""A download in several ranged GETs at once, each range authenticated by random access, written into place.

Used by :func:`busta.s3.download_file` for framed, unsigned, uncompressed objects of at least
``multipart_threshold`` bytes. Every other object (signed: random access cannot check a
signature; compressed; non-framed; frames longer than a range; small) is left to the
sequential download, which :func:`plan` says before any key is asked for.
"""

from __future__ import annotations

import concurrent.futures
import errno
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any, Final

from ..api import Client, StreamResult
from ..compression import COMPRESSION_CONTEXT_KEY
from ..errors import TruncatedMessageError
from ..format import ContentType, parse_header
from ..materials import CryptoMaterialsManager, Keyring
from ..streaming.random_access import SeekableDecryptingReader
from ._calls import call, fetch_range
from ._progress import ProgressCallback

__all__ = ["RangedPlan", "plan"]

#: The first fetch of an object's header; grown (x4) up to the client's header limit when the header is longer.
_HEADER_PROBE_BYTES: Final = 16 << 10


@dataclass(frozen=True, slots=True)
class RangedPlan:
    """What a download found before deciding: the object's size and ETag, its first bytes, and
    ``sequential`` (why it is not downloaded in ranges, or None when it is)."""

    bucket: str
    key: str
    size: int
    etag: str
    prefix: bytes
    sequential: str | None


def plan(
    client: Any, bucket: str, key: str, *, sdk: Client, request: Mapping[str, Any], threshold: int, range_size: int
) -> RangedPlan:
    """HeadObject, then (for an object of ``threshold`` bytes or more) its header, parsed but not
    yet authenticated: enough to choose between ranges and the sequential download."""
    head = call("HeadObject", bucket, key, client.head_object, Bucket=bucket, Key=key, **request)
    size, etag = int(head["ContentLength"]), str(head["ETag"])
    if size < threshold:
        return RangedPlan(bucket, key, size, etag, b"", f"smaller than multipart_threshold ({threshold} bytes)")
    prefix, why = _probe(client, bucket, key, size, etag, sdk=sdk, request=request, range_size=range_size)
    return RangedPlan(bucket, key, size, etag, prefix, why)


def _probe(
    client: Any,
    bucket: str,
    key: str,
    size: int,
    etag: str,
    *,
    sdk: Client,
    request: Mapping[str, Any],
    range_size: int,
) -> tuple[bytes, str | None]:
    want = min(size, _HEADER_PROBE_BYTES)
    while True:
        prefix = fetch_range(client, bucket, key, 0, want, etag=etag, size=size, request=request)
        parsed = parse_header(
            prefix, max_encrypted_data_keys=sdk.max_encrypted_data_keys, max_header_bytes=sdk.max_header_bytes
        )
        if parsed is not None:
            break
        if want >= min(size, sdk.max_header_bytes + 1):
            raise TruncatedMessageError("the message ended in its header")
        want = min(size, want * 4, sdk.max_header_bytes + 1)
    header = parsed.header
    if header.suite.signed:
        return prefix, "signed: only a sequential read can check the signature"
    if COMPRESSION_CONTEXT_KEY in header.encryption_context:
        return prefix, "compressed: only a sequential read can decompress"
    if header.content_type is not ContentType.FRAMED:
        return prefix, "non-framed"
    if header.frame_length > range_size:
        return prefix, f"frames of {header.frame_length} bytes are longer than a range ({range_size} bytes)"
    return prefix, None


def download_ranges(
    found: RangedPlan,
    out: IO[bytes],
    *,
    client: Any,
    sdk: Client,
    keyring: Keyring | None,
    materials_manager: CryptoMaterialsManager | None,
    encryption_context: Mapping[str, str] | None,
    request: Mapping[str, Any],
    range_size: int,
    max_concurrency: int,
    callback: ProgressCallback | None,
) -> StreamResult:
    """Decrypt ``found`` into the regular file ``out`` in ranges of whole frames, ``max_concurrency`` at once.

    The header and the final frame are authenticated first (that proves the plaintext
    length, which sizes ``out``); then each range's frames are fetched (pinned to the
    ETag), authenticated with their sequence numbers and written at their plaintext
    offset. It returns only when every frame has authenticated; on any error (or an
    exception from ``callback``) the ranges in flight are waited for and the error raised.
    """

    def fetch(first: int, stop: int) -> bytes:
        if stop <= len(found.prefix):
            return found.prefix[first:stop]
        return fetch_range(
            client, found.bucket, found.key, first, stop, etag=found.etag, size=found.size, request=request
        )

    decryptor = sdk.start_decryption(
        keyring=keyring, materials_manager=materials_manager, encryption_context=encryption_context
    )
    reader = SeekableDecryptingReader(fetch, found.size, decryptor)
    length, fd = reader.length, out.fileno()
    os.ftruncate(fd, length)  # the length the final frame proved, within the object's size
    step = max(1, range_size // reader.header.frame_length) * reader.header.frame_length

    def piece(first: int) -> int:
        data = reader.read_range(first, min(first + step, length))
        _pwrite_all(fd, data, first)
        return len(data)

    _run(piece, iter(range(0, length, step)), max_concurrency, callback)
    return StreamResult(reader.header, dict(reader.encryption_context), length)


def _run(piece: Any, starts: Iterator[int], max_concurrency: int, callback: ProgressCallback | None) -> None:
    """``piece(start)`` for every start, at most ``max_concurrency`` at once; ``callback`` (here, in this
    thread) with each result. The first error stops it: nothing new starts, what runs is waited for."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="busta-s3-get")
    running: set[concurrent.futures.Future[int]] = set()
    try:
        for start in starts:
            if len(running) >= max_concurrency:
                running = _reap(running, callback)
            running.add(pool.submit(piece, start))
        while running:
            running = _reap(running, callback)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # no thread may write to the file once it is closed


def _reap(
    running: set[concurrent.futures.Future[int]], callback: ProgressCallback | None
) -> set[concurrent.futures.Future[int]]:
    done, left = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
    for future in done:
        written = future.result()
        if callback is not None:
            callback(written)
    return left


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        if written <= 0:  # pragma: no cover - a regular file takes what it is given
            raise OSError(errno.EIO, "the output file took no bytes")
        view, offset = view[written:], offset + written
